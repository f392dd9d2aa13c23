/// A model that cannot be loaded or run: one line naming the file, key or tensor at fault.
public struct ModelError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable {
        /// `architectures` names a model this toolkit cannot run.
        case unsupportedArchitecture
        /// A config.json key is missing, of the wrong type, or out of range.
        case badConfig
        /// A tensor is missing, of the wrong shape or of a dtype that cannot be computed.
        case badTensor
        /// A call was given input the model cannot take (a token id out of range, an empty sequence).
        case badInput
    }

    public let code: Code
    /// What is wrong, naming the culprit.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
