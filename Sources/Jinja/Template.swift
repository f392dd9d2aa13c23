/// A parsed Jinja template, rendered the way transformers' sandboxed environment renders chat templates
/// (`trim_blocks`, `lstrip_blocks`, loop controls, `keep_trailing_newline=False`, autoescape off).
///
/// Supported: `for` (with `loop.*`, `else`, filtered loops, unpacking, `break`/`continue`), `if`/`elif`/`else`,
/// `set` (plain, tuple, block, `ns.attr`), `macro`, `filter` and `with` blocks, `raw`, comments, transformers'
/// `generation` block; Python-style expressions, reprs and errors; Jinja's built-in filters and tests that chat
/// templates use (see `Filters.names`, `Tests.names`). Anything else is a `TemplateError` naming it and its line.
/// Unknown filters and tests inside an `if` block or an inline `if` fail only when reached, as in Jinja 3.
///
/// Parse once, render many times; a `Template` is immutable and can be shared across threads.
public struct Template: Sendable {
    /// The name errors use ("chat template" unless given).
    public let name: String
    let body: [Statement]

    /// Parses `source`.
    /// - Throws: `TemplateError` (`.syntax` or `.unsupported`) naming the line.
    public init(_ source: String, name: String = "chat template") throws {
        self.name = name
        do {
            body = try Parser.parse(source)
        } catch var error as TemplateError {
            error.templateName = name
            throw error
        }
    }

    /// Renders with `context` as the template's variables.
    /// - Throws: `TemplateError` naming the line: undefined values misused, type errors, `raise_exception`.
    public func render(_ context: [String: Value]) throws -> String {
        var renderer = Renderer(context: context)
        var out = ""
        do {
            _ = try renderer.execute(body, into: &out)
        } catch var error as TemplateError {
            error.templateName = name
            if error.line == 0 { error.line = renderer.line }
            throw error
        }
        return out
    }
}
