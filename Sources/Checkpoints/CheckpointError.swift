/// A checkpoint that cannot be read or written: names the file (and tensor) and says why.
public struct CheckpointError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable {
        case notFound, unreadable, corrupt, unsupported, unsafePath, writeFailed
    }

    public let code: Code
    /// The file or folder at fault.
    public let path: String
    /// What is wrong, in words a user can act on.
    public let message: String

    public init(_ code: Code, path: String, _ message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}
