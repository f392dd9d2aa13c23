import Foundation

/// A parsed JSON value, as the tokenizer loaders read it (object keys keep their file order).
enum JSON: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    case object([(key: String, value: JSON)])

    /// The value of `key` in an object (the last one when a key repeats), or nil.
    subscript(key: String) -> JSON? {
        guard case .object(let pairs) = self else { return nil }
        for pair in pairs.reversed() where pair.key == key { return pair.value }
        return nil
    }

    /// A short name of the value's type, for error messages.
    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    var isNull: Bool { if case .null = self { return true } else { return false } }
}

/// A strict RFC 8259 JSON parser over UTF-8 bytes; errors give the line, column and byte offset.
struct JSONParser {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private let file: String
    private var depth = 0

    /// Parses `data` (the whole text of `file`) into a value.
    static func parse(_ data: Data, file: String) throws -> JSON {
        try data.withUnsafeBytes { raw in
            let buffer = raw.bindMemory(to: UInt8.self)
            var parser = JSONParser(bytes: buffer, file: file)
            return try parser.parseDocument()
        }
    }

    private init(bytes: UnsafeBufferPointer<UInt8>, file: String) {
        self.bytes = bytes
        self.file = file
    }

    private func fail(_ what: String, at position: Int? = nil) -> TokenizerError {
        let pos = min(position ?? index, bytes.count)
        var line = 1
        var column = 1
        for i in 0..<pos {
            if bytes[i] == 0x0A {
                line += 1
                column = 1
            } else if bytes[i] & 0xC0 != 0x80 {
                column += 1
            }
        }
        let at = pos >= bytes.count ? "end of file" : "line \(line), column \(column)"
        return TokenizerError(.invalidJSON, path: file, "invalid JSON at \(at) (byte \(pos)): \(what)")
    }

    private mutating func parseDocument() throws -> JSON {
        skipSpace()
        if index == 0, bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            index = 3
            skipSpace()
        }
        let value = try parseValue()
        skipSpace()
        if index < bytes.count { throw fail("unexpected data after the top-level value") }
        return value
    }

    @inline(__always)
    private mutating func skipSpace() {
        while index < bytes.count {
            let b = bytes[index]
            if b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { index += 1 } else { return }
        }
    }

    private mutating func parseValue() throws -> JSON {
        guard index < bytes.count else { throw fail("unexpected end of file, expected a value") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw fail("unexpected character, expected a value")
        }
    }

    private mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        let start = index
        guard index + n <= bytes.count else { throw fail("unexpected end of file in a literal") }
        for k in 0..<n where bytes[index + k] != word.utf8Start[k] {
            throw fail("invalid literal", at: start)
        }
        index += n
    }

    private mutating func enter() throws {
        depth += 1
        if depth > 512 { throw fail("nesting deeper than 512 levels") }
    }

    private mutating func parseObject() throws -> JSON {
        try enter()
        index += 1
        var pairs: [(key: String, value: JSON)] = []
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object(pairs)
        }
        while true {
            skipSpace()
            guard index < bytes.count else { throw fail("unexpected end of file in an object") }
            guard bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try parseString()
            skipSpace()
            guard index < bytes.count else { throw fail("unexpected end of file in an object") }
            guard bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':' after an object key") }
            index += 1
            skipSpace()
            let value = try parseValue()
            pairs.append((key, value))
            skipSpace()
            guard index < bytes.count else { throw fail("unexpected end of file in an object") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "}") {
                index += 1
                depth -= 1
                return .object(pairs)
            } else {
                throw fail("expected ',' or '}' in an object")
            }
        }
    }

    private mutating func parseArray() throws -> JSON {
        try enter()
        index += 1
        var items: [JSON] = []
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .array(items)
        }
        while true {
            skipSpace()
            items.append(try parseValue())
            skipSpace()
            guard index < bytes.count else { throw fail("unexpected end of file in an array") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "]") {
                index += 1
                depth -= 1
                return .array(items)
            } else {
                throw fail("expected ',' or ']' in an array")
            }
        }
    }

    private mutating func parseNumber() throws -> Double {
        let start = index
        var negative = false
        if bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        guard index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 else {
            throw fail("invalid number", at: start)
        }
        var integer: Int64 = 0
        var digits = 0
        if bytes[index] == 0x30 {
            index += 1
            digits = 1
        } else {
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                if digits < 18 { integer = integer * 10 + Int64(bytes[index] - 0x30) }
                digits += 1
                index += 1
            }
        }
        var simple = digits <= 15
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            simple = false
            index += 1
            let fracStart = index
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
            if index == fracStart { throw fail("invalid number: no digits after '.'", at: start) }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            simple = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            let expStart = index
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
            if index == expStart { throw fail("invalid number: no digits in the exponent", at: start) }
        }
        if simple { return negative ? -Double(integer) : Double(integer) }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let value = Double(text) else { throw fail("invalid number", at: start) }
        return value
    }

    private mutating func parseString() throws -> String {
        let quote = index
        index += 1
        let start = index
        var ascii = true
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                if ascii { return String(decoding: slice, as: UTF8.self) }
                guard let s = String(validating: slice, as: UTF8.self) else {
                    throw fail("invalid UTF-8 in a string", at: quote)
                }
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw fail("control character in a string") }
            if b >= 0x80 { ascii = false }
            index += 1
        }
        // Slow path: escapes.
        var out = [UInt8](UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                index += 1
                guard let s = String(validating: out, as: UTF8.self) else {
                    throw fail("invalid UTF-8 in a string", at: quote)
                }
                return s
            }
            if b < 0x20 { throw fail("control character in a string") }
            if b != UInt8(ascii: "\\") {
                out.append(b)
                index += 1
                continue
            }
            index += 1
            guard index < bytes.count else { break }
            let e = bytes[index]
            index += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if code >= 0xD800, code < 0xDC00 {
                    if index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                       bytes[index + 1] == UInt8(ascii: "u") {
                        index += 2
                        let low = try hex4()
                        guard low >= 0xDC00, low < 0xE000 else { throw fail("unpaired surrogate in \\u escape") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        throw fail("unpaired surrogate in \\u escape")
                    }
                } else if code >= 0xDC00, code < 0xE000 {
                    throw fail("unpaired surrogate in \\u escape")
                }
                guard let scalar = Unicode.Scalar(code) else { throw fail("invalid \\u escape") }
                out.append(contentsOf: String(Character(scalar)).utf8)
            default:
                throw fail("invalid escape in a string", at: index - 2)
            }
        }
        throw fail("unexpected end of file in a string", at: quote)
    }

    private mutating func hex4() throws -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail("unexpected end of file in a \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let d: UInt32
            switch b {
            case 0x30...0x39: d = UInt32(b - 0x30)
            case 0x41...0x46: d = UInt32(b - 0x41 + 10)
            case 0x61...0x66: d = UInt32(b - 0x61 + 10)
            default: throw fail("invalid hex digit in a \\u escape")
            }
            v = v * 16 + d
            index += 1
        }
        return v
    }
}

/// Typed reads of a JSON value with the key path kept for error messages
/// (`tokenizer.json: model.merges[17]: expected a string or a pair of strings`).
struct JSONReader {
    let value: JSON
    let path: String
    let file: String

    init(_ value: JSON, path: String, file: String) {
        self.value = value
        self.path = path
        self.file = file
    }

    func error(_ message: String) -> TokenizerError {
        TokenizerError(.invalidValue, path: file, "\(path.isEmpty ? "(top level)" : path): \(message)")
    }

    func unsupported(_ message: String) -> TokenizerError {
        TokenizerError(.unsupported, path: file, "\(path.isEmpty ? "(top level)" : path): \(message)")
    }

    func childPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The member `key` (nil when absent or null).
    func optional(_ key: String) throws -> JSONReader? {
        guard case .object = value else { throw error("expected an object, found \(value.typeName)") }
        guard let v = value[key], !v.isNull else { return nil }
        return JSONReader(v, path: childPath(key), file: file)
    }

    /// The member `key`, which must be present and not null.
    func required(_ key: String) throws -> JSONReader {
        guard let r = try optional(key) else {
            throw JSONReader(value, path: childPath(key), file: file).error("missing")
        }
        return r
    }

    var string: String {
        get throws {
            guard case .string(let s) = value else { throw error("expected a string, found \(value.typeName)") }
            return s
        }
    }

    var bool: Bool {
        get throws {
            guard case .bool(let b) = value else { throw error("expected a boolean, found \(value.typeName)") }
            return b
        }
    }

    var int: Int {
        get throws {
            guard case .number(let d) = value, d == d.rounded(), abs(d) < 9.0e15 else {
                throw error("expected an integer, found \(value.typeName)")
            }
            return Int(d)
        }
    }

    var double: Double {
        get throws {
            guard case .number(let d) = value else { throw error("expected a number, found \(value.typeName)") }
            return d
        }
    }

    var array: [JSONReader] {
        get throws {
            guard case .array(let items) = value else { throw error("expected an array, found \(value.typeName)") }
            return items.enumerated().map { JSONReader($0.element, path: "\(path)[\($0.offset)]", file: file) }
        }
    }

    var objectPairs: [(key: String, value: JSON)] {
        get throws {
            guard case .object(let pairs) = value else { throw error("expected an object, found \(value.typeName)") }
            return pairs
        }
    }

    func string(_ key: String) throws -> String { try required(key).string }
    func optionalString(_ key: String) throws -> String? { try optional(key)?.string }
    func bool(_ key: String, default def: Bool) throws -> Bool { try optional(key)?.bool ?? def }
    func int(_ key: String, default def: Int) throws -> Int { try optional(key)?.int ?? def }

    /// The component's `type` field.
    func typeField() throws -> String { try string("type") }
}
