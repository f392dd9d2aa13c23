/// Builds statements and expressions from the lexer's segments, following Jinja's grammar and
/// operator precedence (filters and tests bind tighter than arithmetic; `**` is left-associative).
struct Parser {
    /// Deepest nesting of statements and expressions accepted (guards the stack against hostile input).
    static let maxDepth = 64

    private let segments: [Segment]
    private var index = 0
    private var tokens: [Token] = []
    private var tokenIndex = 0
    private var depth = 0
    private var pendingUnknown: [TemplateError] = []
    private var hardUnknown: [TemplateError] = []

    init(segments: [Segment]) { self.segments = segments }

    static func parse(_ source: String) throws -> [Statement] {
        var parser = Parser(segments: try Lexer.tokenize(source))
        let (body, end) = try parser.parseStatements(until: [])
        if let end { throw TemplateError(.syntax, line: end.line, "unexpected '\(end.name)'") }
        if let first = (parser.hardUnknown + parser.pendingUnknown).min(by: { $0.line < $1.line }) { throw first }
        return body
    }

    // MARK: - Statements

    private struct EndTag {
        let name: String
        let line: Int
    }

    private static let unsupportedTags: Set<String> = [
        "block", "extends", "include", "import", "from", "call", "autoescape", "trans", "do", "pluralize",
    ]
    private static let endTags: Set<String> = [
        "endfor", "endif", "endset", "endmacro", "endfilter", "endwith", "endgeneration", "elif", "else",
        "endraw", "endblock", "endcall",
    ]

    /// Parses statements until one of the `until` tags (returned; its tokens are consumed) or the end.
    private mutating func parseStatements(until: Set<String>) throws -> ([Statement], EndTag?) {
        var body: [Statement] = []
        while index < segments.count {
            let segment = segments[index]
            index += 1
            switch segment {
            case .text(let s, let line):
                body.append(Statement(kind: .text(s), line: line))
            case .output(let toks, let line):
                start(toks)
                let expr = try parseTuple()
                try expectEnd("end of print statement")
                body.append(Statement(kind: .output(expr), line: line))
            case .statement(let toks, let line):
                start(toks)
                guard case .name(let tag) = current.kind else {
                    throw TemplateError(.syntax, line: line, "expected a statement name after '{%'")
                }
                if until.contains(tag) {
                    advance()
                    return (body, EndTag(name: tag, line: line))
                }
                if Parser.endTags.contains(tag) {
                    throw TemplateError(.syntax, line: line, "unexpected '\(tag)'")
                }
                body.append(try parseStatement(tag, line: line))
            }
        }
        if !until.isEmpty {
            let names = until.sorted().map { "'\($0)'" }.joined(separator: " or ")
            let line = segments.last.map(Parser.lastLine) ?? 1
            throw TemplateError(.syntax, line: line, "unexpected end of template, expected \(names)")
        }
        return (body, nil)
    }

    private static func lastLine(_ segment: Segment) -> Int {
        switch segment {
        case .text(let s, let line): return line + s.utf8.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
        case .output(_, let line), .statement(_, let line): return line
        }
    }

    private mutating func nested<T>(_ line: Int, _ body: (inout Parser) throws -> T) throws -> T {
        depth += 1
        defer { depth -= 1 }
        if depth > Parser.maxDepth {
            throw TemplateError(.security, line: line, "template nested deeper than \(Parser.maxDepth) levels")
        }
        return try body(&self)
    }

    /// Counts one more level of a left-deep chain (`a | f | g`, `a.b.c`, `1 + 2 + 3`) toward the depth limit;
    /// the caller restores `depth` when the chain is done.
    private mutating func deepen() throws {
        depth += 1
        if depth > Parser.maxDepth {
            throw TemplateError(.security, line: currentLine, "expression nested deeper than \(Parser.maxDepth) levels")
        }
    }

    private mutating func parseStatement(_ tag: String, line: Int) throws -> Statement {
        try nested(line) { p in try p.parseStatementBody(tag, line: line) }
    }

    private mutating func parseStatementBody(_ tag: String, line: Int) throws -> Statement {
        advance()
        let mark = pendingUnknown.count
        defer {
            if ["for", "macro", "filter", "with"].contains(tag) { hardenUnknown(since: mark) }
        }
        switch tag {
        case "for":
            return try parseFor(line: line)
        case "if":
            let mark = pendingUnknown.count
            defer { forgiveUnknown(since: mark) }
            var branches: [(Expr, [Statement])] = []
            var condition = try parseTuple(withCondexpr: false)
            try expectEnd("end of if statement")
            while true {
                let (body, end) = try parseStatements(until: ["elif", "else", "endif"])
                branches.append((condition, body))
                switch end?.name {
                case "elif":
                    condition = try parseTuple(withCondexpr: false)
                    try expectEnd("end of elif statement")
                case "else":
                    try expectEnd("end of else statement")
                    let (otherwise, _) = try parseStatements(until: ["endif"])
                    try expectEnd("end of endif statement")
                    return Statement(kind: .conditional(branches: branches, otherwise: otherwise), line: line)
                default:
                    try expectEnd("end of endif statement")
                    return Statement(kind: .conditional(branches: branches, otherwise: []), line: line)
                }
            }
        case "set":
            return try parseSet(line: line)
        case "macro":
            let name = try expectName("macro name")
            try expectOp("(")
            var parameters: [(name: String, defaultValue: Expr?)] = []
            while !isOp(")") {
                if !parameters.isEmpty { try expectOp(",") }
                if isOp(")") { break }
                let param = try expectName("parameter name")
                var defaultValue: Expr? = nil
                if isOp("=") {
                    advance()
                    defaultValue = try parseExpression()
                } else if parameters.contains(where: { $0.defaultValue != nil }) {
                    throw syntax("non-default argument follows default argument")
                }
                parameters.append((param, defaultValue))
            }
            advance()
            try expectEnd("end of macro statement")
            let (body, _) = try parseStatements(until: ["endmacro"])
            try expectEndTagEnd()
            return Statement(kind: .macro(MacroDefinition(name: name, parameters: parameters, body: body)), line: line)
        case "break", "continue":
            try expectEnd("end of \(tag) statement")
            return Statement(kind: tag == "break" ? .breakLoop : .continueLoop, line: line)
        case "filter":
            let filters = try parseFilterChain(first: true)
            try expectEnd("end of filter statement")
            let (body, _) = try parseStatements(until: ["endfilter"])
            try expectEndTagEnd()
            return Statement(kind: .filterBlock(filters: filters, body: body), line: line)
        case "with":
            var assignments: [(String, Expr)] = []
            while !isEnd {
                if !assignments.isEmpty { try expectOp(",") }
                let name = try expectName("variable name")
                try expectOp("=")
                assignments.append((name, try parseExpression()))
            }
            advance()
            let (body, _) = try parseStatements(until: ["endwith"])
            try expectEndTagEnd()
            return Statement(kind: .with(assignments: assignments, body: body), line: line)
        case "generation":
            try expectEnd("end of generation statement")
            let (body, _) = try parseStatements(until: ["endgeneration"])
            try expectEndTagEnd()
            return Statement(kind: .generation(body), line: line)
        default:
            if Parser.unsupportedTags.contains(tag) {
                throw TemplateError(.unsupported, line: line, "unsupported statement '\(tag)'")
            }
            throw TemplateError(.syntax, line: line, "unknown statement '\(tag)'")
        }
    }

    private mutating func parseFor(line: Int) throws -> Statement {
        var targets: [String] = []
        var unpacks = false
        let parenthesized = isOp("(")
        if parenthesized { advance() }
        while true {
            targets.append(try expectName("loop variable"))
            if isOp(",") {
                unpacks = true
                advance()
                if isOp(")") || isName("in") { break }
            } else {
                break
            }
        }
        if parenthesized {
            unpacks = true
            try expectOp(")")
        }
        guard isName("in") else { throw syntax("expected 'in' in the for statement") }
        advance()
        let iterable = try parseTuple(withCondexpr: false, extraEnd: ["recursive", "if"])
        var condition: Expr? = nil
        if isName("recursive") {
            throw TemplateError(.unsupported, line: line, "unsupported feature 'recursive' loops")
        }
        if isName("if") {
            advance()
            condition = try parseExpression()
        }
        try expectEnd("end of for statement")
        let (body, end) = try parseStatements(until: ["endfor", "else"])
        var otherwise: [Statement] = []
        if end?.name == "else" {
            try expectEnd("end of else statement")
            (otherwise, _) = try parseStatements(until: ["endfor"])
        }
        try expectEnd("end of endfor statement")
        let loop = ForLoop(
            targets: targets, unpacks: unpacks, iterable: iterable, condition: condition, body: body,
            otherwise: otherwise)
        return Statement(kind: .loop(loop), line: line)
    }

    private mutating func parseSet(line: Int) throws -> Statement {
        let first = try expectName("variable name")
        var target = AssignTarget.name(first)
        if isOp(".") {
            advance()
            target = .attribute(namespace: first, attribute: try expectName("attribute name"))
        } else if isOp(",") {
            var names = [first]
            while isOp(",") {
                advance()
                if isOp("=") { break }
                names.append(try expectName("variable name"))
            }
            target = .names(names)
        }
        if isOp("=") {
            advance()
            let value = try parseTuple()
            try expectEnd("end of set statement")
            return Statement(kind: .assign(target, value), line: line)
        }
        guard case .name(let name) = target else { throw syntax("expected '=' in the set statement") }
        let filters = isOp("|") ? try parseFilterChain(first: false) : []
        try expectEnd("end of set statement")
        let mark = pendingUnknown.count
        defer { hardenUnknown(since: mark) }
        let (body, _) = try parseStatements(until: ["endset"])
        try expectEndTagEnd()
        return Statement(kind: .assignBlock(name, filters: filters, body: body), line: line)
    }

    /// `name(args) | name2 ...` after `{% filter` (first: no leading `|`) or after `{% set x`.
    private mutating func parseFilterChain(first: Bool) throws -> [(String, Arguments)] {
        var filters: [(String, Arguments)] = []
        var needPipe = !first
        while !isEnd {
            if needPipe { try expectOp("|") }
            needPipe = true
            let name = try parseDottedName()
            noteFilter(name, line: currentLine)
            let args = isOp("(") ? try parseCallArguments() : .empty
            filters.append((name, args))
        }
        return filters
    }

    // MARK: - Token stream

    private mutating func start(_ toks: [Token]) {
        tokens = toks
        tokenIndex = 0
    }

    private var current: Token { tokens[min(tokenIndex, tokens.count - 1)] }
    private var currentLine: Int { current.line }
    private var isEnd: Bool { current.kind == .end }

    private mutating func advance() { if tokenIndex < tokens.count - 1 { tokenIndex += 1 } }

    private func peek(_ offset: Int) -> Token { tokens[min(tokenIndex + offset, tokens.count - 1)] }

    private func isOp(_ op: String) -> Bool { current.kind == .op(op) }
    private func isName(_ name: String) -> Bool { current.kind == .name(name) }

    private func syntax(_ message: String) -> TemplateError { TemplateError(.syntax, line: currentLine, message) }

    private static func describe(_ token: Token) -> String {
        switch token.kind {
        case .name(let n): return "'\(n)'"
        case .string(let s): return "string \(PythonString.repr(s))"
        case .int(let i): return "integer \(i)"
        case .float(let d): return "number \(PythonFloat.repr(d))"
        case .op(let o): return "'\(o)'"
        case .end: return "end of tag"
        }
    }

    private mutating func expectOp(_ op: String) throws {
        guard isOp(op) else { throw syntax("expected '\(op)', got \(Parser.describe(current))") }
        advance()
    }

    private mutating func expectName(_ what: String) throws -> String {
        guard case .name(let n) = current.kind else {
            throw syntax("expected \(what), got \(Parser.describe(current))")
        }
        advance()
        return n
    }

    private mutating func expectEnd(_ what: String) throws {
        guard isEnd else { throw syntax("expected \(what), got \(Parser.describe(current))") }
    }

    private mutating func expectEndTagEnd() throws {
        guard isEnd else { throw syntax("unexpected \(Parser.describe(current)) after the end tag") }
    }

    private mutating func parseDottedName() throws -> String {
        var name = try expectName("filter name")
        while isOp("."), case .name(let more) = peek(1).kind {
            advance()
            advance()
            name += "." + more
        }
        return name
    }

    // MARK: - Expressions

    private func isTupleEnd(_ extraEnd: Set<String>) -> Bool {
        switch current.kind {
        case .end: return true
        case .op(let o): return o == ")"
        case .name(let n): return extraEnd.contains(n)
        default: return false
        }
    }

    private mutating func parseTuple(
        withCondexpr: Bool = true, explicitParentheses: Bool = false, extraEnd: Set<String> = []
    ) throws -> Expr {
        let line = currentLine
        var items: [Expr] = []
        var isTuple = false
        while true {
            if !items.isEmpty { try expectOp(",") }
            if isTupleEnd(extraEnd) { break }
            items.append(withCondexpr ? try parseExpression() : try parseOr())
            if isOp(",") { isTuple = true } else { break }
        }
        if !isTuple {
            if let only = items.first { return only }
            if !explicitParentheses { throw syntax("expected an expression, got \(Parser.describe(current))") }
        }
        return Expr(kind: .tuple(items), line: line)
    }

    mutating func parseExpression() throws -> Expr {
        try nested(currentLine) { p in try p.parseConditional() }
    }

    private mutating func parseConditional() throws -> Expr {
        let savedDepth = depth
        defer { depth = savedDepth }
        let mark = pendingUnknown.count
        var expr = try parseOr()
        defer { if case .conditional = expr.kind { forgiveUnknown(since: mark) } }
        while isName("if") {
            let line = currentLine
            try deepen()
            advance()
            let test = try parseOr()
            var otherwise: Expr? = nil
            if isName("else") {
                advance()
                otherwise = try parseExpression()
            }
            expr = Expr(kind: .conditional(test: test, then: expr, otherwise: otherwise), line: line)
        }
        return expr
    }

    private mutating func parseOr() throws -> Expr {
        let savedDepth = depth
        defer { depth = savedDepth }
        var left = try parseAnd()
        while isName("or") {
            let line = currentLine
            try deepen()
            advance()
            left = Expr(kind: .or(left, try parseAnd()), line: line)
        }
        return left
    }

    private mutating func parseAnd() throws -> Expr {
        let savedDepth = depth
        defer { depth = savedDepth }
        var left = try parseNot()
        while isName("and") {
            let line = currentLine
            try deepen()
            advance()
            left = Expr(kind: .and(left, try parseNot()), line: line)
        }
        return left
    }

    private mutating func parseNot() throws -> Expr {
        if isName("not") {
            let line = currentLine
            advance()
            let inner = try nested(line) { p in try p.parseNot() }
            return Expr(kind: .not(inner), line: line)
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> Expr {
        let line = currentLine
        let first = try parseMath1()
        var ops: [(String, Expr)] = []
        while true {
            if case .op(let o) = current.kind, ["==", "!=", "<", "<=", ">", ">="].contains(o) {
                advance()
                ops.append((o, try parseMath1()))
            } else if isName("in") {
                advance()
                ops.append(("in", try parseMath1()))
            } else if isName("not"), peek(1).kind == .name("in") {
                advance()
                advance()
                ops.append(("notin", try parseMath1()))
            } else {
                break
            }
        }
        return ops.isEmpty ? first : Expr(kind: .compare(first, ops), line: line)
    }

    private mutating func parseMath1() throws -> Expr {
        let savedDepth = depth
        defer { depth = savedDepth }
        var left = try parseConcat()
        while case .op(let o) = current.kind, o == "+" || o == "-" {
            let line = currentLine
            try deepen()
            advance()
            left = Expr(kind: .binary(o, left, try parseConcat()), line: line)
        }
        return left
    }

    private mutating func parseConcat() throws -> Expr {
        let savedDepth = depth
        defer { depth = savedDepth }
        let line = currentLine
        var parts = [try parseMath2()]
        while isOp("~") {
            try deepen()
            advance()
            parts.append(try parseMath2())
        }
        return parts.count == 1 ? parts[0] : Expr(kind: .concat(parts), line: line)
    }

    private mutating func parseMath2() throws -> Expr {
        let savedDepth = depth
        defer { depth = savedDepth }
        var left = try parsePow()
        while case .op(let o) = current.kind, ["*", "/", "//", "%"].contains(o) {
            let line = currentLine
            try deepen()
            advance()
            left = Expr(kind: .binary(o, left, try parsePow()), line: line)
        }
        return left
    }

    private mutating func parsePow() throws -> Expr {
        let savedDepth = depth
        defer { depth = savedDepth }
        var left = try parseUnary()
        while isOp("**") {
            let line = currentLine
            try deepen()
            advance()
            left = Expr(kind: .binary("**", left, try parseUnary()), line: line)
        }
        return left
    }

    private mutating func parseUnary(withFilter: Bool = true) throws -> Expr {
        let line = currentLine
        var node: Expr
        if isOp("-") {
            advance()
            let inner = try nested(line) { p in try p.parseUnary(withFilter: false) }
            node = Expr(kind: .negate(inner), line: line)
        } else if isOp("+") {
            advance()
            let inner = try nested(line) { p in try p.parseUnary(withFilter: false) }
            node = Expr(kind: .plus(inner), line: line)
        } else {
            node = try parsePrimary()
        }
        node = try parsePostfix(node)
        if withFilter { node = try parseFilterExpression(node) }
        return node
    }

    private mutating func parsePrimary() throws -> Expr {
        let token = current
        let line = token.line
        switch token.kind {
        case .name(let n):
            advance()
            switch n {
            case "true", "True": return Expr(kind: .literal(.bool(true)), line: line)
            case "false", "False": return Expr(kind: .literal(.bool(false)), line: line)
            case "none", "None": return Expr(kind: .literal(.none), line: line)
            default: return Expr(kind: .name(n), line: line)
            }
        case .string(var s):
            advance()
            while case .string(let more) = current.kind {
                s += more
                advance()
            }
            return Expr(kind: .literal(.string(s)), line: line)
        case .int(let i):
            advance()
            return Expr(kind: .literal(.int(i)), line: line)
        case .float(let d):
            advance()
            return Expr(kind: .literal(.double(d)), line: line)
        case .op("("):
            advance()
            let inner = try nested(line) { p in try p.parseTuple(explicitParentheses: true) }
            try expectOp(")")
            return inner
        case .op("["):
            advance()
            var items: [Expr] = []
            while !isOp("]") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("]") { break }
                items.append(try parseExpression())
            }
            advance()
            return Expr(kind: .list(items), line: line)
        case .op("{"):
            advance()
            var pairs: [(Expr, Expr)] = []
            while !isOp("}") {
                if !pairs.isEmpty { try expectOp(",") }
                if isOp("}") { break }
                let key = try parseExpression()
                try expectOp(":")
                pairs.append((key, try parseExpression()))
            }
            advance()
            return Expr(kind: .dict(pairs), line: line)
        default:
            throw syntax("unexpected \(Parser.describe(token))")
        }
    }

    private mutating func parsePostfix(_ start: Expr) throws -> Expr {
        let savedDepth = depth
        defer { depth = savedDepth }
        var node = start
        while true {
            let line = currentLine
            if isOp(".") || isOp("[") || isOp("(") { try deepen() }
            if isOp(".") {
                advance()
                switch current.kind {
                case .name(let n):
                    advance()
                    node = Expr(kind: .attribute(node, n), line: line)
                case .int(let i):
                    advance()
                    node = Expr(kind: .item(node, Expr(kind: .literal(.int(i)), line: line)), line: line)
                default:
                    throw syntax("expected a name after '.', got \(Parser.describe(current))")
                }
            } else if isOp("[") {
                advance()
                var parts: [Expr] = []
                while !isOp("]") {
                    if !parts.isEmpty { try expectOp(",") }
                    if isOp("]") { break }
                    parts.append(try parseSubscribed(node))
                }
                advance()
                if parts.count == 1 {
                    if case .slice = parts[0].kind {
                        node = parts[0]
                    } else {
                        node = Expr(kind: .item(node, parts[0]), line: line)
                    }
                } else {
                    guard !parts.isEmpty else { throw syntax("expected a subscript inside '[]'") }
                    node = Expr(kind: .item(node, Expr(kind: .tuple(parts), line: line)), line: line)
                }
            } else if isOp("(") {
                node = Expr(kind: .call(node, try parseCallArguments()), line: line)
            } else {
                return node
            }
        }
    }

    /// One subscript: an expression or a slice `a:b:c` (returned as `.slice` over `target`).
    private mutating func parseSubscribed(_ target: Expr) throws -> Expr {
        let line = currentLine
        var start: Expr? = nil
        if !isOp(":") {
            let expr = try parseExpression()
            if !isOp(":") { return expr }
            start = expr
        }
        advance()  // ':'
        var stop: Expr? = nil
        var step: Expr? = nil
        if !isOp("]") && !isOp(",") && !isOp(":") { stop = try parseExpression() }
        if isOp(":") {
            advance()
            if !isOp("]") && !isOp(",") { step = try parseExpression() }
        }
        return Expr(kind: .slice(target, start: start, stop: stop, step: step), line: line)
    }

    private mutating func parseCallArguments() throws -> Arguments {
        try expectOp("(")
        var args = Arguments()
        while !isOp(")") {
            if !args.positional.isEmpty || !args.keywords.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            if isOp("*") || isOp("**") {
                throw TemplateError(.unsupported, line: currentLine, "unsupported feature '*args' in a call")
            }
            if case .name(let n) = current.kind, peek(1).kind == .op("=") {
                advance()
                advance()
                args.keywords.append((n, try parseExpression()))
            } else {
                if !args.keywords.isEmpty { throw syntax("positional argument follows keyword argument") }
                args.positional.append(try parseExpression())
            }
        }
        advance()
        return args
    }

    private mutating func parseFilterExpression(_ start: Expr) throws -> Expr {
        let savedDepth = depth
        defer { depth = savedDepth }
        var node = start
        while true {
            let line = currentLine
            if isOp("|") || isName("is") || isOp("(") { try deepen() }
            if isOp("|") {
                advance()
                let name = try parseDottedName()
                noteFilter(name, line: line)
                let args = isOp("(") ? try parseCallArguments() : .empty
                node = Expr(kind: .filter(node, name, args), line: line)
            } else if isName("is") {
                advance()
                var negated = false
                if isName("not") {
                    negated = true
                    advance()
                }
                let name = try parseDottedName()
                if !Tests.names.contains(name) {
                    pendingUnknown.append(TemplateError(.unsupported, line: line, "unsupported test '\(name)'"))
                }
                var args = Arguments.empty
                if isOp("(") {
                    args = try parseCallArguments()
                } else {
                    switch current.kind {
                    case .name("else"), .name("or"), .name("and"): break
                    case .name("is"): throw syntax("you cannot chain multiple tests with 'is'")
                    case .name, .string, .int, .float, .op("("), .op("["), .op("{"):
                        let arg = try parsePostfix(try parsePrimary())
                        args.positional = [arg]
                    default: break
                    }
                }
                node = Expr(kind: .test(node, name, args, negated: negated), line: line)
            } else if isOp("(") {
                node = Expr(kind: .call(node, try parseCallArguments()), line: line)
            } else {
                return node
            }
        }
    }

    private mutating func noteFilter(_ name: String, line: Int) {
        if !Filters.names.contains(name) {
            pendingUnknown.append(TemplateError(.unsupported, line: line, "unsupported filter '\(name)'"))
        }
    }

    /// Unknown names inside `{% if %}` blocks and `a if b else c` are errors only when reached (as in
    /// Jinja 3); elsewhere they are errors once the whole template has parsed.
    private mutating func forgiveUnknown(since mark: Int) {
        if pendingUnknown.count > mark { pendingUnknown.removeSubrange(mark...) }
    }

    /// Inside a loop, macro or block body the enclosing `if` no longer softens unknown names.
    private mutating func hardenUnknown(since mark: Int) {
        if pendingUnknown.count > mark {
            hardUnknown += pendingUnknown[mark...]
            pendingUnknown.removeSubrange(mark...)
        }
    }
}
