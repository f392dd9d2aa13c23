import Tensors

/// A merge that cannot go ahead: a bad config, an input that does not fit the method, or a
/// failure while writing. `description` is one line naming the culprit.
public struct MergeError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable {
        case config, input, output
        /// SIGINT/SIGTERM arrived: the merge stopped and removed what it had written.
        case interrupted
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public static func config(_ message: String) -> MergeError { MergeError(.config, message) }
    public static func input(_ message: String) -> MergeError { MergeError(.input, message) }
    public static func output(_ message: String) -> MergeError { MergeError(.output, message) }
    public static let interrupted = MergeError(.interrupted, "interrupted; the unfinished output was removed")

    /// Throws `interrupted` when the user asked the process to stop.
    static func checkInterruption() throws {
        if Interruption.requested { throw interrupted }
    }

    public var description: String { message }
}
