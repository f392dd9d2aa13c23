import Foundation

/// One token inside a `{{ … }}` or `{% … %}` tag.
struct Token: Sendable {
    enum Kind: Sendable, Equatable {
        case name(String)
        case string(String)
        case int(Int)
        case float(Double)
        case op(String)
        /// The end of the tag.
        case end
    }

    let kind: Kind
    let line: Int
}

/// The template cut into literal text, output tags and statement tags, with whitespace control applied.
enum Segment: Sendable {
    case text(String, line: Int)
    case output([Token], line: Int)
    case statement([Token], line: Int)
}

/// Splits template source the way Jinja's lexer does with `trim_blocks=True, lstrip_blocks=True`,
/// `keep_trailing_newline=False`: `-` strips all whitespace on that side, `+` disables lstrip/trim,
/// a block or comment tag alone on its line takes its indentation and the newline after it.
struct Lexer {
    private let src: [UInt8]
    private var pos = 0
    private var line = 1
    private var lineStarting = true
    private(set) var segments: [Segment] = []

    static let maxTagTokens = 100_000

    init(_ source: String) {
        // Newlines become "\n"; one trailing newline is dropped.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(source.utf8.count)
        var iterator = source.utf8.makeIterator()
        var pendingCR = false
        while let b = iterator.next() {
            if pendingCR {
                pendingCR = false
                if b == 0x0A { continue }
            }
            if b == 0x0D {
                bytes.append(0x0A)
                pendingCR = true
            } else {
                bytes.append(b)
            }
        }
        if bytes.last == 0x0A { bytes.removeLast() }
        src = bytes
    }

    static func tokenize(_ source: String) throws -> [Segment] {
        var lexer = Lexer(source)
        try lexer.run()
        return lexer.segments
    }

    private func byte(_ i: Int) -> UInt8? { i < src.count ? src[i] : nil }

    private func syntax(_ message: String, at line: Int? = nil) -> TemplateError {
        TemplateError(.syntax, line: line ?? self.line, message)
    }

    private static func isSpaceByte(_ b: UInt8) -> Bool {
        b == 0x20 || (b >= 0x09 && b <= 0x0D)
    }

    /// Counts newlines in `src[a..<b]`.
    private func newlines(_ a: Int, _ b: Int) -> Int {
        var n = 0
        var i = a
        while i < b {
            if src[i] == 0x0A { n += 1 }
            i += 1
        }
        return n
    }

    /// Skips Python-`\s` whitespace from `i` (ASCII and the Unicode spaces), returning the new index.
    private func skipWhitespace(from i: Int) -> Int {
        var j = i
        while j < src.count {
            if Lexer.isSpaceByte(src[j]) || (src[j] >= 0x1C && src[j] <= 0x1F) {
                j += 1
                continue
            }
            if src[j] >= 0x80 {
                let (scalar, length) = decodeScalar(at: j)
                if let scalar, PythonString.isSpace(scalar) {
                    j += length
                    continue
                }
            }
            break
        }
        return j
    }

    private func decodeScalar(at i: Int) -> (Unicode.Scalar?, Int) {
        let b = src[i]
        let length = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
        guard i + length <= src.count, length > 1 else { return (nil, 1) }
        var value = UInt32(b) & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07)
        for k in 1..<length {
            let c = src[i + k]
            guard c & 0xC0 == 0x80 else { return (nil, 1) }
            value = value << 6 | UInt32(c & 0x3F)
        }
        return (Unicode.Scalar(value), length)
    }

    private func text(_ a: Int, _ b: Int) -> String { String(decoding: src[a..<b], as: UTF8.self) }

    /// The end of `src[a..<b]` without its trailing (Python) whitespace.
    private func trimmedEnd(_ a: Int, _ b: Int) -> Int {
        var end = b
        while end > a {
            let byte = src[end - 1]
            if byte < 0x80 {
                guard Lexer.isSpaceByte(byte) || (byte >= 0x1C && byte <= 0x1F) else { break }
                end -= 1
                continue
            }
            var start = end - 1
            while start > a, src[start] & 0xC0 == 0x80 { start -= 1 }
            let (scalar, _) = decodeScalar(at: start)
            guard let scalar, PythonString.isSpace(scalar) else { break }
            end = start
        }
        return end
    }

    /// Emits literal text `src[a..<b]`, applying the strip rule of the tag that follows it.
    private mutating func emitText(_ a: Int, _ b: Int, sign: UInt8?, lstripAllowed: Bool) {
        var end = b
        if sign == UInt8(ascii: "-") {
            end = trimmedEnd(a, b)
        } else if sign != UInt8(ascii: "+") && lstripAllowed {
            var lineStart = a
            var i = b
            while i > a {
                if src[i - 1] == 0x0A {
                    lineStart = i
                    break
                }
                i -= 1
            }
            if (lineStart > a || lineStarting) && lineStart < b && skipWhitespace(from: lineStart) >= b {
                end = lineStart
            }
        }
        if end > a { segments.append(.text(text(a, end), line: line)) }
        line += newlines(a, b)
    }

    /// Finds the next `{{`, `{%` or `{#` at or after `from`.
    private func nextTagStart(from: Int) -> Int? {
        var i = from
        while i + 1 < src.count {
            if src[i] == UInt8(ascii: "{") {
                let c = src[i + 1]
                if c == UInt8(ascii: "{") || c == UInt8(ascii: "%") || c == UInt8(ascii: "#") { return i }
            }
            i += 1
        }
        return nil
    }

    private func matches(_ word: StaticString, at i: Int) -> Bool {
        let n = word.utf8CodeUnitCount
        guard i + n <= src.count else { return false }
        return word.withUTF8Buffer { w in
            for k in 0..<n where src[i + k] != w[k] { return false }
            return true
        }
    }

    /// If a `raw` tag starts at `i` (just after `{%` and its sign), returns the index after its `%}`.
    private func rawTagEnd(_ i: Int, word: StaticString) -> (end: Int, stripAfter: Bool)? {
        var j = skipWhitespace(from: i)
        guard matches(word, at: j) else { return nil }
        j += word.utf8CodeUnitCount
        if let b = byte(j), (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) || b == 0x5F {
            return nil
        }
        j = skipWhitespace(from: j)
        if matches("-%}", at: j) { return (j + 3, true) }
        if matches("%}", at: j) { return (j + 2, false) }
        return nil
    }

    mutating func run() throws {
        while pos < src.count {
            guard let start = nextTagStart(from: pos) else {
                emitText(pos, src.count, sign: nil, lstripAllowed: false)
                pos = src.count
                break
            }
            let kind = src[start + 1]
            var sign: UInt8? = nil
            if let s = byte(start + 2), s == UInt8(ascii: "-") || s == UInt8(ascii: "+") { sign = s }
            let bodyStart = start + 2 + (sign == nil ? 0 : 1)

            if kind == UInt8(ascii: "%"), let raw = rawTagEnd(bodyStart, word: "raw") {
                emitText(pos, start, sign: sign, lstripAllowed: true)
                line += newlines(start, raw.end)
                var p = raw.end
                if raw.stripAfter { p = skipWhitespace(from: p) }
                line += newlines(raw.end, p)
                try lexRaw(from: p, rawLine: line)
                continue
            }
            emitText(pos, start, sign: sign, lstripAllowed: kind != UInt8(ascii: "{"))
            if kind == UInt8(ascii: "#") {
                try lexComment(from: bodyStart)
            } else {
                try lexTag(from: bodyStart, isBlock: kind == UInt8(ascii: "%"))
            }
        }
    }

    /// The body of `{% raw %}` up to `{% endraw %}`, emitted as text.
    private mutating func lexRaw(from p: Int, rawLine: Int) throws {
        var i = p
        while let s = nextTagStart(from: i) {
            if src[s + 1] == UInt8(ascii: "%") {
                var sign: UInt8? = nil
                if let c = byte(s + 2), c == UInt8(ascii: "-") || c == UInt8(ascii: "+") { sign = c }
                let afterSign = s + 2 + (sign == nil ? 0 : 1)
                var j = skipWhitespace(from: afterSign)
                if matches("endraw", at: j) {
                    j = skipWhitespace(from: j + 6)
                    var end: Int? = nil
                    var stripAfter = false
                    var trim = true
                    if matches("+%}", at: j) {
                        end = j + 3
                        trim = false
                    } else if matches("-%}", at: j) {
                        end = j + 3
                        stripAfter = true
                    } else if matches("%}", at: j) {
                        end = j + 2
                    }
                    if var e = end {
                        emitText(p, s, sign: sign, lstripAllowed: true)
                        line += newlines(s, e)
                        if stripAfter {
                            let k = skipWhitespace(from: e)
                            line += newlines(e, k)
                            e = k
                        } else if trim, byte(e) == 0x0A {
                            e += 1
                            line += 1
                        }
                        lineStarting = e > 0 && src[e - 1] == 0x0A
                        pos = e
                        return
                    }
                }
            }
            i = s + 2
        }
        throw syntax("missing end of raw directive", at: rawLine)
    }

    private mutating func lexComment(from p: Int) throws {
        var i = p
        while i + 1 < src.count {
            if src[i] == UInt8(ascii: "#") && src[i + 1] == UInt8(ascii: "}") {
                var sign: UInt8? = nil
                if i > p, src[i - 1] == UInt8(ascii: "-") || src[i - 1] == UInt8(ascii: "+") { sign = src[i - 1] }
                var e = i + 2
                if sign == UInt8(ascii: "-") {
                    e = skipWhitespace(from: e)
                } else if sign == nil, byte(e) == 0x0A {
                    e += 1
                }
                line += newlines(p - 2, e)
                lineStarting = src[e - 1] == 0x0A
                pos = e
                return
            }
            i += 1
        }
        throw syntax("missing end of comment tag")
    }

    /// Tokens of a `{{ … }}` or `{% … %}` tag up to its end delimiter (brackets balanced).
    private mutating func lexTag(from p: Int, isBlock: Bool) throws {
        let tagLine = line
        var tokens: [Token] = []
        var balance: [UInt8] = []
        var i = p
        var scanned = p
        var scannedLine = tagLine
        let close = isBlock ? UInt8(ascii: "%") : UInt8(ascii: "}")
        while true {
            guard i < src.count else {
                throw syntax(
                    isBlock ? "unexpected end of template, expected '%}'" : "unexpected end of template, expected '}}'",
                    at: tagLine)
            }
            if tokens.count > Lexer.maxTagTokens { throw syntax("tag too long", at: tagLine) }
            // The end delimiter, when brackets are balanced.
            if balance.isEmpty {
                var end: Int? = nil
                var stripAfter = false
                var trim = isBlock
                if isBlock, matches("+%}", at: i) {
                    end = i + 3
                    trim = false
                } else if src[i] == UInt8(ascii: "-"), byte(i + 1) == close, byte(i + 2) == UInt8(ascii: "}") {
                    end = i + 3
                    stripAfter = true
                } else if src[i] == close, byte(i + 1) == UInt8(ascii: "}") {
                    end = i + 2
                }
                if var e = end {
                    line += newlines(p, e)
                    if stripAfter {
                        let k = skipWhitespace(from: e)
                        line += newlines(e, k)
                        e = k
                    } else if trim, byte(e) == 0x0A {
                        e += 1
                        line += 1
                    }
                    lineStarting = src[e - 1] == 0x0A
                    pos = e
                    tokens.append(Token(kind: .end, line: line))
                    segments.append(isBlock ? .statement(tokens, line: tagLine) : .output(tokens, line: tagLine))
                    return
                }
            }
            let b = src[i]
            scannedLine += newlines(scanned, i)
            scanned = i
            let tokenLine = scannedLine
            if Lexer.isSpaceByte(b) {
                i += 1
                continue
            }
            if b >= 0x80 {
                let (scalar, length) = decodeScalar(at: i)
                if let scalar, PythonString.isSpace(scalar) {
                    i += length
                    continue
                }
                throw syntax("unexpected character '\(scalar.map { String(Character($0)) } ?? "?")'", at: tokenLine)
            }
            if b >= 0x30 && b <= 0x39 {
                let (kind, next) = try lexNumber(at: i, line: tokenLine)
                tokens.append(Token(kind: kind, line: tokenLine))
                i = next
                continue
            }
            if (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) || b == 0x5F {
                var j = i + 1
                while let c = byte(j), (c | 0x20 >= 0x61 && c | 0x20 <= 0x7A) || c == 0x5F || (c >= 0x30 && c <= 0x39) {
                    j += 1
                }
                tokens.append(Token(kind: .name(text(i, j)), line: tokenLine))
                i = j
                continue
            }
            if b == UInt8(ascii: "'") || b == UInt8(ascii: "\"") {
                var j = i + 1
                while j < src.count && src[j] != b {
                    j += src[j] == UInt8(ascii: "\\") ? 2 : 1
                }
                guard j < src.count else { throw syntax("unterminated string literal", at: tokenLine) }
                let value = try Lexer.unescape(Array(src[(i + 1)..<j]), line: tokenLine)
                tokens.append(Token(kind: .string(value), line: tokenLine))
                i = j + 1
                continue
            }
            // Operators, longest first.
            if let next = byte(i + 1), let two = Lexer.twoCharOperator(b, next) {
                tokens.append(Token(kind: .op(two), line: tokenLine))
                i += 2
                continue
            }
            let one = Character(Unicode.Scalar(b))
            guard let op = Lexer.oneCharOperators[Int(b)] else {
                throw syntax("unexpected character '\(one)'", at: tokenLine)
            }
            switch one {
            case "(": balance.append(UInt8(ascii: ")"))
            case "[": balance.append(UInt8(ascii: "]"))
            case "{": balance.append(UInt8(ascii: "}"))
            case ")", "]", "}":
                guard let expected = balance.popLast() else { throw syntax("unexpected '\(one)'", at: tokenLine) }
                if expected != b {
                    throw syntax(
                        "unexpected '\(one)', expected '\(Character(Unicode.Scalar(expected)))'", at: tokenLine)
                }
            default: break
            }
            tokens.append(Token(kind: .op(op), line: tokenLine))
            i += 1
        }
    }

    private static let oneCharOperators: [String?] = (0..<128).map { code in
        let c = Character(Unicode.Scalar(UInt8(code)))
        return "+-/*%~[](){}><=.:|,;".contains(c) ? String(c) : nil
    }

    private static func twoCharOperator(_ a: UInt8, _ b: UInt8) -> String? {
        switch (a, b) {
        case (UInt8(ascii: "/"), UInt8(ascii: "/")): return "//"
        case (UInt8(ascii: "*"), UInt8(ascii: "*")): return "**"
        case (UInt8(ascii: "="), UInt8(ascii: "=")): return "=="
        case (UInt8(ascii: "!"), UInt8(ascii: "=")): return "!="
        case (UInt8(ascii: ">"), UInt8(ascii: "=")): return ">="
        case (UInt8(ascii: "<"), UInt8(ascii: "=")): return "<="
        default: return nil
        }
    }

    private func lexNumber(at i: Int, line: Int) throws -> (Token.Kind, Int) {
        func isDigit(_ c: UInt8?) -> Bool { c.map { $0 >= 0x30 && $0 <= 0x39 } ?? false }
        // Prefixed integers.
        if src[i] == UInt8(ascii: "0"), let p = byte(i + 1), "xXoObB".utf8.contains(p) {
            let radix = (p | 0x20) == UInt8(ascii: "x") ? 16 : (p | 0x20) == UInt8(ascii: "o") ? 8 : 2
            var j = i + 2
            var digits = ""
            while let c = byte(j), c == 0x5F || Character(Unicode.Scalar(c)).hexDigitValue.map({ $0 < radix }) == true {
                if c != 0x5F { digits.append(Character(Unicode.Scalar(c))) }
                j += 1
            }
            guard !digits.isEmpty, let v = Int(digits, radix: radix) else {
                throw syntax("bad integer literal", at: line)
            }
            return (.int(v), j)
        }
        var j = i
        var digits = ""
        func run() {
            while let c = byte(j), isDigit(c) || (c == 0x5F && isDigit(byte(j + 1))) {
                if c != 0x5F { digits.append(Character(Unicode.Scalar(c))) }
                j += 1
            }
        }
        run()
        var isFloat = false
        if byte(j) == UInt8(ascii: "."), isDigit(byte(j + 1)) {
            isFloat = true
            digits.append(".")
            j += 1
            run()
        }
        if let e = byte(j), e | 0x20 == UInt8(ascii: "e") {
            var k = j + 1
            var exp = "e"
            if let s = byte(k), s == UInt8(ascii: "+") || s == UInt8(ascii: "-") {
                exp.append(Character(Unicode.Scalar(s)))
                k += 1
            }
            if isDigit(byte(k)) {
                isFloat = true
                digits += exp
                j = k
                run()
            }
        }
        if isFloat {
            guard let d = Double(digits) else { throw syntax("bad number literal", at: line) }
            return (.float(d), j)
        }
        guard let v = Int(digits) else { throw syntax("integer literal too large", at: line) }
        return (.int(v), j)
    }

    /// Python's `unicode-escape` decoding of a string literal's body.
    static func unescape(_ body: [UInt8], line: Int) throws -> String {
        if !body.contains(UInt8(ascii: "\\")) { return String(decoding: body, as: UTF8.self) }
        var out: [UInt8] = []
        var i = 0
        func appendScalar(_ v: UInt32) throws {
            guard let s = Unicode.Scalar(v) else {
                throw TemplateError(.syntax, line: line, "invalid character escape in a string literal")
            }
            out.append(contentsOf: Array(String(Character(s)).utf8))
        }
        func hexValue(_ count: Int) throws -> UInt32 {
            guard i + count <= body.count,
                let v = UInt32(String(decoding: body[i..<i + count], as: UTF8.self), radix: 16)
            else { throw TemplateError(.syntax, line: line, "truncated escape in a string literal") }
            i += count
            return v
        }
        while i < body.count {
            let b = body[i]
            guard b == UInt8(ascii: "\\"), i + 1 < body.count else {
                out.append(b)
                i += 1
                continue
            }
            let e = body[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "'"): out.append(0x27)
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "a"): out.append(0x07)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "v"): out.append(0x0B)
            case 0x0A: break  // line continuation
            case UInt8(ascii: "x"): try appendScalar(try hexValue(2))
            case UInt8(ascii: "u"): try appendScalar(try hexValue(4))
            case UInt8(ascii: "U"): try appendScalar(try hexValue(8))
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                var v = UInt32(e - 0x30)
                var n = 1
                while n < 3, i < body.count, body[i] >= 0x30, body[i] <= 0x37 {
                    v = v * 8 + UInt32(body[i] - 0x30)
                    i += 1
                    n += 1
                }
                try appendScalar(v)
            default:
                out.append(0x5C)
                out.append(e)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
