/// A Parquet file that cannot be read: names the file (and where in it) and says why.
public struct ParquetError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable {
        /// The file does not exist or cannot be opened or mapped.
        case unreadable
        /// The bytes contradict the format (bad magic, truncated, inconsistent metadata or pages).
        case corrupt
        /// Valid Parquet that this reader does not handle (an encoding or codec, say).
        case unsupported
        /// A declared size above the reader's limits (a decompression bomb, say).
        case tooLarge
        /// The caller asked for something the file does not have (a column name).
        case notFound
    }

    public let code: Code
    /// The file at fault.
    public let path: String
    /// What is wrong and where (row group, column), in words a user can act on.
    public let message: String

    public init(_ code: Code, path: String, _ message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

/// A problem found while decoding bytes, before the file and place are known; `ParquetFile`
/// turns it into a `ParquetError`.
struct DecodeError: Error {
    var code: ParquetError.Code
    var message: String

    init(_ message: String, code: ParquetError.Code = .corrupt) {
        self.code = code
        self.message = message
    }
}
