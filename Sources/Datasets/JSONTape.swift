#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One value of a parsed JSON text. Containers are followed on the tape by their contents
/// (objects as key, value, key, value …); `after` is the index just past a value's subtree.
/// Offsets are relative to the tape's `origin`.
public struct JSONToken: Sendable {
    public enum Kind: UInt8, Sendable { case object, array, string, number, `true`, `false`, null }
    public var kind: Kind
    /// A string holding backslash escapes (to be decoded, not copied, when its text is needed).
    public var escaped: Bool
    /// Strings: the content between the quotes; numbers: the number's text; containers: the brackets.
    public var start: Int32
    public var end: Int32
    public var after: Int32
    /// Members of an object, elements of a list.
    public var count: Int32

    public var kindName: String {
        switch kind {
        case .object: "an object"
        case .array: "a list"
        case .string: "a string"
        case .number: "a number"
        case .true, .false: "a boolean"
        case .null: "null"
        }
    }
}

/// A strict JSON parser (RFC 8259) writing a flat tape of tokens — no allocation per value, and a
/// tape is reused from record to record. It checks the grammar, every escape and the UTF-8 of
/// every string; string text is never copied (a token is the byte range of its content), so a
/// record's strings can be copied to an output as they are. Strings are scanned eight bytes at
/// a time up to a quote, backslash or control byte; a string with non-ASCII bytes then has its
/// UTF-8 checked in one pass.
public struct JSONTape: Sendable {
    public private(set) var tokens: [JSONToken] = []
    public private(set) var bytes: JSONBytes
    /// Absolute offset that token offsets are relative to.
    public private(set) var origin: Int = 0
    static let maxDepth = 256

    public init() { bytes = JSONBytes(base: UnsafePointer(bitPattern: 1)!, count: 0) }

    /// Parses exactly one value filling `range` of `bytes` (whitespace around it allowed).
    /// `trustedUTF8` skips the UTF-8 check of strings, for text already checked once (a record
    /// read again in a second pass).
    public mutating func parse(_ bytes: JSONBytes, _ range: Range<Int>, trustedUTF8: Bool = false) throws(JSONSyntaxError) {
        self.bytes = bytes
        origin = range.lowerBound
        tokens.removeAll(keepingCapacity: true)
        guard range.count < Int(Int32.max) else { throw JSONSyntaxError(offset: 0, message: "record longer than 2 GiB") }
        var scanner = Scanner(p: bytes.base + range.lowerBound, end: range.count, i: 0, trusted: trustedUTF8)
        scanner.skipSpace()
        try scanner.value(depth: 0, into: &tokens)
        scanner.skipSpace()
        if scanner.i != scanner.end { throw scanner.error("unexpected text after the JSON value") }
    }

    /// Calls `element` with the absolute byte range of each element of a top-level JSON list
    /// (each validated); used for `.json` files holding a list of records.
    public static func forEachArrayElement(
        _ bytes: JSONBytes, _ range: Range<Int>, _ element: (Range<Int>) throws -> Void
    ) throws {
        var s = Scanner(p: bytes.base + range.lowerBound, end: range.count, i: 0, trusted: false)
        var scratch: [JSONToken] = []
        func fail(_ e: JSONSyntaxError) -> JSONSyntaxError { JSONSyntaxError(offset: e.offset + range.lowerBound, message: e.message) }
        s.skipSpace()
        guard s.peek == UInt8(ascii: "[") else { throw fail(s.error("expected a JSON list of records ('[')")) }
        s.i += 1
        s.skipSpace()
        if s.peek == UInt8(ascii: "]") { s.i += 1 } else {
            while true {
                let start = s.i
                scratch.removeAll(keepingCapacity: true)
                do { try s.value(depth: 1, into: &scratch) } catch { throw fail(error) }
                try element((range.lowerBound + start)..<(range.lowerBound + s.i))
                s.skipSpace()
                guard let c = s.peek else { throw fail(s.error("unterminated list")) }
                s.i += 1
                if c == UInt8(ascii: "]") { break }
                guard c == UInt8(ascii: ",") else { s.i -= 1; throw fail(s.error("expected ',' or ']'")) }
                s.skipSpace()
            }
        }
        s.skipSpace()
        if s.i != s.end { throw fail(s.error("unexpected text after the JSON list")) }
    }

    // MARK: reading the tape

    public subscript(_ i: Int) -> JSONToken { tokens[i] }

    /// Absolute byte range of a token's text.
    public func range(_ i: Int) -> Range<Int> {
        let t = tokens[i]
        return (origin + Int(t.start))..<(origin + Int(t.end))
    }

    /// The value of the first member whose key is the UTF-8 `key`, or nil (keys with escapes
    /// are compared decoded).
    public func member(_ object: Int, utf8 key: [UInt8]) -> Int? {
        tokens.withUnsafeBufferPointer { t -> Int? in
            guard t[object].kind == .object else { return nil }
            var i = object + 1
            let end = Int(t[object].after)
            let base = bytes.base + origin
            let n = key.count
            while i < end {
                let k = t[i]
                if k.escaped {
                    if Array(string(i).utf8) == key { return i + 1 }
                } else if Int(k.end - k.start) == n && (n == 0 || key.withUnsafeBufferPointer { memcmp($0.baseAddress!, base + Int(k.start), n) } == 0) {
                    return i + 1
                }
                i = Int(t[i + 1].after)
            }
            return nil
        }
    }

    /// The value of the first member named `key` of object `object`, or nil.
    public func member(_ object: Int, _ key: String) -> Int? {
        guard tokens[object].kind == .object else { return nil }
        var key = key
        return key.withUTF8 { k -> Int? in
            var i = object + 1
            let end = Int(tokens[object].after)
            while i < end {
                let t = tokens[i]
                let matches = t.escaped ? string(i) == String(decoding: k, as: UTF8.self) : bytes.equals(range(i), k)
                if matches { return i + 1 }
                i = Int(tokens[i + 1].after)
            }
            return nil
        }
    }

    /// Indices of the elements of list `array`.
    public func elements(_ array: Int) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(Int(tokens[array].count))
        var i = array + 1
        let end = Int(tokens[array].after)
        while i < end {
            out.append(i)
            i = Int(tokens[i].after)
        }
        return out
    }

    /// Keys of object `object` (decoded), in order.
    public func keys(_ object: Int) -> [String] {
        var out: [String] = []
        var i = object + 1
        while i < Int(tokens[object].after) {
            out.append(string(i))
            i = Int(tokens[i + 1].after)
        }
        return out
    }

    /// The decoded text of a string token (or the text of a number).
    public func string(_ i: Int) -> String {
        let t = tokens[i]
        if !t.escaped { return bytes.text(range(i)) }
        var out: [UInt8] = []
        bytes.appendDecoded(range(i), escaped: true, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public func appendDecoded(_ i: Int, to out: inout [UInt8]) {
        bytes.appendDecoded(range(i), escaped: tokens[i].escaped, to: &out)
    }

    public func characterCount(_ i: Int) -> Int { bytes.characterCount(range(i), escaped: tokens[i].escaped) }

    // MARK: scanning

    struct Scanner {
        let p: UnsafePointer<UInt8>
        let end: Int
        var i: Int
        let trusted: Bool

        var peek: UInt8? { i < end ? p[i] : nil }

        func error(_ message: String) -> JSONSyntaxError { JSONSyntaxError(offset: i, message: message) }

        @inline(__always) mutating func skipSpace() {
            while i < end {
                let c = p[i]
                guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
                i += 1
            }
        }

        mutating func value(depth: Int, into tokens: inout [JSONToken]) throws(JSONSyntaxError) {
            guard let c = peek else { throw error("expected a value, found the end of the text") }
            switch c {
            case UInt8(ascii: "\""):
                let (start, escaped) = try string()
                let n = Int32(tokens.count)
                tokens.append(JSONToken(kind: .string, escaped: escaped, start: Int32(start), end: Int32(i - 1), after: n + 1, count: 0))
            case UInt8(ascii: "{"):
                guard depth < JSONTape.maxDepth else { throw error("nested deeper than \(JSONTape.maxDepth) levels") }
                let me = tokens.count
                tokens.append(JSONToken(kind: .object, escaped: false, start: Int32(i), end: 0, after: 0, count: 0))
                i += 1
                skipSpace()
                var count: Int32 = 0
                if peek == UInt8(ascii: "}") { i += 1 } else {
                    while true {
                        guard peek == UInt8(ascii: "\"") else { throw error("expected a quoted key") }
                        let (start, escaped) = try string()
                        let n = Int32(tokens.count)
                        tokens.append(JSONToken(kind: .string, escaped: escaped, start: Int32(start), end: Int32(i - 1), after: n + 1, count: 0))
                        skipSpace()
                        guard peek == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
                        i += 1
                        skipSpace()
                        try value(depth: depth + 1, into: &tokens)
                        count += 1
                        skipSpace()
                        guard let d = peek else { throw error("unterminated object (missing '}')") }
                        i += 1
                        if d == UInt8(ascii: "}") { break }
                        guard d == UInt8(ascii: ",") else { i -= 1; throw error("expected ',' or '}'") }
                        skipSpace()
                    }
                }
                tokens[me].end = Int32(i)
                tokens[me].after = Int32(tokens.count)
                tokens[me].count = count
            case UInt8(ascii: "["):
                guard depth < JSONTape.maxDepth else { throw error("nested deeper than \(JSONTape.maxDepth) levels") }
                let me = tokens.count
                tokens.append(JSONToken(kind: .array, escaped: false, start: Int32(i), end: 0, after: 0, count: 0))
                i += 1
                skipSpace()
                var count: Int32 = 0
                if peek == UInt8(ascii: "]") { i += 1 } else {
                    while true {
                        try value(depth: depth + 1, into: &tokens)
                        count += 1
                        skipSpace()
                        guard let d = peek else { throw error("unterminated list (missing ']')") }
                        i += 1
                        if d == UInt8(ascii: "]") { break }
                        guard d == UInt8(ascii: ",") else { i -= 1; throw error("expected ',' or ']'") }
                        skipSpace()
                    }
                }
                tokens[me].end = Int32(i)
                tokens[me].after = Int32(tokens.count)
                tokens[me].count = count
            case UInt8(ascii: "t"): try literal("true", .true, &tokens)
            case UInt8(ascii: "f"): try literal("false", .false, &tokens)
            case UInt8(ascii: "n"): try literal("null", .null, &tokens)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let start = i
                try number()
                let n = Int32(tokens.count)
                tokens.append(JSONToken(kind: .number, escaped: false, start: Int32(start), end: Int32(i), after: n + 1, count: 0))
            default:
                // NaN and Infinity are what Python's json module writes for non-finite floats.
                throw error(c == UInt8(ascii: "N") || c == UInt8(ascii: "I") ? "NaN/Infinity are not JSON" : "unexpected character '\(Character(Unicode.Scalar(c)))'")
            }
        }

        mutating func literal(_ word: StaticString, _ kind: JSONToken.Kind, _ tokens: inout [JSONToken]) throws(JSONSyntaxError) {
            let n = word.utf8CodeUnitCount
            guard i + n <= end, memcmp(p + i, word.utf8Start, n) == 0 else { throw error("expected \(word)") }
            let t = Int32(tokens.count)
            tokens.append(JSONToken(kind: kind, escaped: false, start: Int32(i), end: Int32(i + n), after: t + 1, count: 0))
            i += n
        }

        @inline(__always) func digit(_ at: Int) -> Bool { at < end && p[at] >= 0x30 && p[at] <= 0x39 }

        mutating func number() throws(JSONSyntaxError) {
            if p[i] == UInt8(ascii: "-") { i += 1 }
            guard digit(i) else { throw error("malformed number") }
            let first = p[i]
            i += 1
            if first != UInt8(ascii: "0") { while digit(i) { i += 1 } }
            if i < end && p[i] == UInt8(ascii: ".") {
                i += 1
                guard digit(i) else { throw error("malformed number") }
                while digit(i) { i += 1 }
            }
            if i < end && (p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E")) {
                i += 1
                if i < end && (p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-")) { i += 1 }
                guard digit(i) else { throw error("malformed number") }
                while digit(i) { i += 1 }
            }
        }

        /// Scans a string token at its opening quote; returns its content start and whether it
        /// holds escapes, leaving `i` past the closing quote.
        mutating func string() throws(JSONSyntaxError) -> (Int, Bool) {
            i += 1
            let start = i
            var escaped = false
            var highBits: UInt64 = 0  // any non-ASCII byte seen: the content's UTF-8 is checked at the end
            while true {
                while i + 8 <= end {
                    let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
                    if Scanner.hasQuoteSlashOrControl(w) { break }
                    highBits |= w
                    i += 8
                }
                guard i < end else { throw error("unterminated string") }
                let c = p[i]
                if c == UInt8(ascii: "\"") {
                    if !trusted && highBits & 0x8080_8080_8080_8080 != 0 { try checkUTF8(start..<i) }
                    i += 1
                    return (start, escaped)
                } else if c == UInt8(ascii: "\\") {
                    escaped = true
                    guard i + 1 < end else { throw error("unterminated string") }
                    switch p[i + 1] {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                         UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        i += 2
                    case UInt8(ascii: "u"):
                        guard i + 6 <= end, hexValue(p[i + 2]) != 0xFF, hexValue(p[i + 3]) != 0xFF,
                              hexValue(p[i + 4]) != 0xFF, hexValue(p[i + 5]) != 0xFF else { throw error("malformed \\u escape") }
                        i += 6
                    default: throw error("invalid escape '\\\(Character(Unicode.Scalar(p[i + 1])))' in a string")
                    }
                } else if c < 0x20 {
                    throw error(c == 0x0A ? "a string runs past the end of the line" : "unescaped control character in a string")
                } else {
                    highBits |= UInt64(c)
                    i += 1
                }
            }
        }

        /// Checks that `range` is valid UTF-8 (shortest forms, no surrogates, ≤ U+10FFFF); an error
        /// points at the first bad byte.
        func checkUTF8(_ range: Range<Int>) throws(JSONSyntaxError) {
            var k = range.lowerBound
            let stop = range.upperBound
            while k < stop {
                let c = p[k]
                if c < 0x80 { k += 1; continue }
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
                default: throw JSONSyntaxError(offset: k, message: "invalid UTF-8")
                }
                guard k + n <= stop else { throw JSONSyntaxError(offset: k, message: "invalid UTF-8 (truncated sequence)") }
                let second = p[k + 1]
                guard second >= lower && second <= upper,
                      n < 3 || p[k + 2] & 0xC0 == 0x80, n < 4 || p[k + 3] & 0xC0 == 0x80
                else { throw JSONSyntaxError(offset: k, message: "invalid UTF-8") }
                k += n
            }
        }

        /// Whether a word holds '"' (0x22), '\\' (0x5C) or a control byte (< 0x20): x has a zero
        /// byte where (x − 0x01…) & ~x has a high bit, and bytes below 0x20 likewise with 0x20…
        /// (bytes ≥ 0x80 never match: ~x clears their high bit).
        @inline(__always) static func hasQuoteSlashOrControl(_ w: UInt64) -> Bool {
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highs: UInt64 = 0x8080_8080_8080_8080
            let quote = w ^ (ones &* 0x22)
            let slash = w ^ (ones &* 0x5C)
            let zeroQuote = (quote &- ones) & ~quote
            let zeroSlash = (slash &- ones) & ~slash
            let control = (w &- ones &* 0x20) & ~w
            return (zeroQuote | zeroSlash | control) & highs != 0
        }

    }
}
