/// A tokenizer file or input that cannot be used: names the file (and key path or position) and says why.
public struct TokenizerError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The broad kind of failure, for callers that branch on it.
    public enum Code: String, Sendable {
        case notFound, unreadable, invalidJSON, invalidValue, unsupported, invalidInput
    }

    public let code: Code
    /// The file at fault (`tokenizer.json`, `tokenizer_config.json`, ...) or `input` for text to encode.
    public let path: String
    /// What is wrong, in words a user can act on (one line).
    public let message: String

    public init(_ code: Code, path: String, _ message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}
