/// A strict JSON parser (RFC 8259) over a byte range that checks the grammar, the escapes and the
/// UTF-8 of every string, and returns a `JSONNode` pointing into the bytes. Strings are scanned
/// eight bytes at a time while they hold nothing special (no quote, backslash, control or
/// non-ASCII byte), which is most of the text of a training set.
public struct JSONParser {
    let p: UnsafePointer<UInt8>
    let end: Int
    var i: Int
    static let maxDepth = 256

    /// Parses exactly one value filling `range` of `bytes` (surrounding whitespace allowed).
    public static func parse(_ bytes: JSONBytes, _ range: Range<Int>) throws(JSONSyntaxError) -> JSONNode {
        var parser = JSONParser(p: bytes.base, end: range.upperBound, i: range.lowerBound)
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        if parser.i != parser.end { throw parser.error("unexpected text after the JSON value") }
        return value
    }

    /// Scans a top-level JSON array in `range`, calling `element` with the byte range of each
    /// element (validated). Used to read `.json` files holding a list of records.
    public static func forEachArrayElement(
        _ bytes: JSONBytes, _ range: Range<Int>, _ element: (Range<Int>) throws -> Void
    ) throws {
        var parser = JSONParser(p: bytes.base, end: range.upperBound, i: range.lowerBound)
        parser.skipSpace()
        guard parser.i < parser.end, parser.p[parser.i] == UInt8(ascii: "[") else {
            throw parser.error("expected a JSON list of records ('[')")
        }
        parser.i += 1
        parser.skipSpace()
        if parser.peek == UInt8(ascii: "]") { parser.i += 1 } else {
            while true {
                let start = parser.i
                _ = try parser.value(depth: 1)
                try element(start..<parser.i)
                parser.skipSpace()
                guard let c = parser.peek else { throw parser.error("unterminated list") }
                parser.i += 1
                if c == UInt8(ascii: "]") { break }
                guard c == UInt8(ascii: ",") else { parser.i -= 1; throw parser.error("expected ',' or ']'") }
                parser.skipSpace()
            }
        }
        parser.skipSpace()
        if parser.i != parser.end { throw parser.error("unexpected text after the JSON list") }
    }

    var peek: UInt8? { i < end ? p[i] : nil }

    func error(_ message: String) -> JSONSyntaxError { JSONSyntaxError(offset: i, message: message) }

    @inline(__always) mutating func skipSpace() {
        while i < end {
            let c = p[i]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            i += 1
        }
    }

    mutating func value(depth: Int) throws(JSONSyntaxError) -> JSONNode {
        guard let c = peek else { throw error("expected a value, found the end of the text") }
        switch c {
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "{"):
            guard depth < Self.maxDepth else { throw error("nested deeper than \(Self.maxDepth) levels") }
            i += 1
            var members: [JSONMember] = []
            skipSpace()
            if peek == UInt8(ascii: "}") { i += 1; return .object(members) }
            while true {
                guard peek == UInt8(ascii: "\"") else { throw error("expected a quoted key") }
                let key = try string()
                skipSpace()
                guard peek == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
                i += 1
                skipSpace()
                members.append(JSONMember(key: key, value: try value(depth: depth + 1)))
                skipSpace()
                guard let d = peek else { throw error("unterminated object (missing '}')") }
                i += 1
                if d == UInt8(ascii: "}") { return .object(members) }
                guard d == UInt8(ascii: ",") else { i -= 1; throw error("expected ',' or '}'") }
                skipSpace()
            }
        case UInt8(ascii: "["):
            guard depth < Self.maxDepth else { throw error("nested deeper than \(Self.maxDepth) levels") }
            i += 1
            var items: [JSONNode] = []
            skipSpace()
            if peek == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard let d = peek else { throw error("unterminated list (missing ']')") }
                i += 1
                if d == UInt8(ascii: "]") { return .array(items) }
                guard d == UInt8(ascii: ",") else { i -= 1; throw error("expected ',' or ']'") }
                skipSpace()
            }
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default:
            // NaN and Infinity are what Python's json module writes for non-finite floats.
            throw error(c == UInt8(ascii: "N") || c == UInt8(ascii: "I") ? "NaN/Infinity are not JSON" : "unexpected character '\(Character(Unicode.Scalar(c)))'")
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= end, memcmp(p + i, word.utf8Start, n) == 0 else { throw error("expected \(word)") }
        i += n
    }

    mutating func number() throws(JSONSyntaxError) -> Range<Int> {
        let start = i
        if peek == UInt8(ascii: "-") { i += 1 }
        guard let first = peek, first >= 0x30 && first <= 0x39 else { throw error("malformed number") }
        i += 1
        if first != UInt8(ascii: "0") { while let d = peek, d >= 0x30 && d <= 0x39 { i += 1 } }
        if peek == UInt8(ascii: ".") {
            i += 1
            guard let d = peek, d >= 0x30 && d <= 0x39 else { throw error("malformed number") }
            while let d = peek, d >= 0x30 && d <= 0x39 { i += 1 }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            i += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { i += 1 }
            guard let d = peek, d >= 0x30 && d <= 0x39 else { throw error("malformed number") }
            while let d = peek, d >= 0x30 && d <= 0x39 { i += 1 }
        }
        return start..<i
    }

    /// Scans a string token starting at its opening quote.
    mutating func string() throws(JSONSyntaxError) -> JSONStringRef {
        i += 1
        let start = i
        var escaped = false
        while true {
            // Eight plain bytes at a time: no '"' (0x22), '\' (0x5C), control (< 0x20) or non-ASCII.
            while i + 8 <= end {
                let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
                if Self.hasSpecialByte(w) { break }
                i += 8
            }
            guard i < end else { throw error("unterminated string") }
            let c = p[i]
            if c == UInt8(ascii: "\"") {
                let ref = JSONStringRef(start: start, end: i, escaped: escaped)
                i += 1
                return ref
            } else if c == UInt8(ascii: "\\") {
                escaped = true
                guard i + 1 < end else { throw error("unterminated string") }
                switch p[i + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                     UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 2
                case UInt8(ascii: "u"):
                    guard i + 6 <= end, (2..<6).allSatisfy({ hexValue(p[i + $0]) != 0xFF }) else { throw error("malformed \\u escape") }
                    i += 6
                default: throw error("invalid escape '\\\(Character(Unicode.Scalar(p[i + 1])))' in a string")
                }
            } else if c < 0x20 {
                throw error(c == 0x0A ? "a string runs past the end of the line" : "unescaped control character in a string")
            } else if c < 0x80 {
                i += 1
            } else {
                try utf8Sequence()
            }
        }
    }

    @inline(__always) static func hasSpecialByte(_ w: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let quote = w ^ (ones &* 0x22)
        let slash = w ^ (ones &* 0x5C)
        // A byte is zero in x exactly when (x - 1) & ~x has its high bit set; control bytes
        // are those below 0x20; any high bit means non-ASCII.
        let zeroQuote = (quote &- ones) & ~quote
        let zeroSlash = (slash &- ones) & ~slash
        let control = (w &- ones &* 0x20) & ~w
        return ((zeroQuote | zeroSlash | control) & highs) | (w & highs) != 0
    }

    /// Checks one multi-byte UTF-8 sequence at `i` (shortest form, no surrogates, ≤ U+10FFFF).
    mutating func utf8Sequence() throws(JSONSyntaxError) {
        let c = p[i]
        let n: Int
        var lower: UInt8 = 0x80, upper: UInt8 = 0xBF
        switch c {
        case 0xC2...0xDF: n = 2
        case 0xE0: n = 3; lower = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: n = 3
        case 0xED: n = 3; upper = 0x9F
        case 0xF0: n = 4; lower = 0x90
        case 0xF1...0xF3: n = 4
        case 0xF4: n = 4; upper = 0x8F
        default: throw error("invalid UTF-8")
        }
        guard i + n <= end else { throw error("invalid UTF-8 (truncated sequence)") }
        let second = p[i + 1]
        guard second >= lower && second <= upper else { throw error("invalid UTF-8") }
        for k in 2..<max(n, 2) where p[i + k] & 0xC0 != 0x80 { throw error("invalid UTF-8") }
        i += n
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
