/// A template that cannot be parsed or rendered: names the template, the line and what went wrong.
///
/// `raised` errors come from the template's own `raise_exception(message)`; their `message` is the
/// template's text unchanged.
public struct TemplateError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable {
        /// The template text is malformed (unterminated tag, bad expression, unknown statement).
        case syntax
        /// The template uses a Jinja feature this engine does not implement.
        case unsupported
        /// An undefined value was used where a value is needed (Jinja's `UndefinedError`).
        case undefined
        /// An operation on the wrong type (Python's `TypeError` / `ValueError`).
        case type
        /// The template called `raise_exception(message)`.
        case raised
        /// An operation the sandbox forbids (Jinja's `SecurityError`), or a resource limit.
        case security
    }

    /// What kind of failure (the Jinja exception it corresponds to).
    public let kind: Kind
    /// The 1-based template line, or 0 when unknown.
    public internal(set) var line: Int
    /// The message Jinja would give (for `.raised`, the template's own text).
    public let message: String
    /// The template's name ("chat template" unless given).
    public internal(set) var templateName: String

    /// An error of `kind` at `line` (0 when unknown).
    public init(_ kind: Kind, line: Int, _ message: String, templateName: String = "chat template") {
        self.kind = kind
        self.line = line
        self.message = message
        self.templateName = templateName
    }

    /// One line: `chat template line 7: unsupported filter 'xmlattr'`.
    public var description: String {
        let text = message.split(whereSeparator: \.isNewline).joined(separator: " ")
        return line > 0 ? "\(templateName) line \(line): \(text)" : "\(templateName): \(text)"
    }
}
