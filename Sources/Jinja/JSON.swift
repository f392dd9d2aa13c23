import Foundation

/// A JSON text that cannot be parsed: says where (line and column) and why.
public struct JSONParseError: Error, Sendable, CustomStringConvertible, Equatable {
    /// 1-based line of the problem.
    public let line: Int
    /// 1-based column (in UTF-8 bytes) of the problem.
    public let column: Int
    /// What is wrong.
    public let message: String

    /// One line: `JSON line 3, column 5: expected ',' or ']'`.
    public var description: String { "JSON line \(line), column \(column): \(message)" }
}

extension Value {
    /// Parses JSON (RFC 8259) keeping the order of object keys; integers without fraction or exponent
    /// that fit in `Int` become `.int`, other numbers `.double`.
    /// - Throws: `JSONParseError` naming the line and column of the first problem.
    public static func parseJSON(_ text: String) throws -> Value {
        var parser = JSONParser(bytes: Array(text.utf8))
        parser.skipSpace()
        let value = try parser.parseValue(depth: 0)
        parser.skipSpace()
        if parser.pos < parser.bytes.count { throw parser.error("unexpected text after the JSON value") }
        return value
    }

    /// Python's `json.dumps(value, ensure_ascii=False, indent=indent)`: `", "` / `": "` separators without
    /// indent, `","` / `": "` with it; floats as Python prints them.
    /// - Throws: `TemplateError` when the value holds something JSON cannot represent (undefined, a macro).
    public func toJSON(indent: Int? = nil) throws -> String {
        if let indent, indent > 100_000 {
            throw TemplateError(.security, line: 0, "indent \(indent) too large", templateName: "toJSON")
        }
        let options = JSONOptions(indent: indent.map { String(repeating: " ", count: max(0, $0)) })
        var out = ""
        try writeJSON(into: &out, options: options, level: 0)
        return out
    }

    func writeJSON(into out: inout String, options: JSONOptions, level: Int) throws {
        if level > JSONOptions.maxDepth {
            throw TemplateError(
                .type, line: 0, "value nested deeper than \(JSONOptions.maxDepth) levels", templateName: "toJSON")
        }
        switch self {
        case .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            if d.isNaN {
                out += "NaN"
            } else if d.isInfinite {
                out += d < 0 ? "-Infinity" : "Infinity"
            } else {
                out += PythonFloat.repr(d)
            }
        case .string(let s): JSONOptions.writeString(s, into: &out, asciiOnly: options.ensureASCII)
        case .array(let items), .tuple(let items):
            if items.isEmpty {
                out += "[]"
                return
            }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += options.itemSeparator }
                options.newline(into: &out, level: level + 1)
                try item.writeJSON(into: &out, options: options, level: level + 1)
            }
            options.newline(into: &out, level: level)
            out += "]"
        case .object(let object):
            if object.isEmpty {
                out += "{}"
                return
            }
            out += "{"
            var pairs = object.pairs
            if options.sortKeys {
                pairs.sort { $0.key.unicodeScalars.lexicographicallyPrecedes($1.key.unicodeScalars) }
            }
            for (i, pair) in pairs.enumerated() {
                if i > 0 { out += options.itemSeparator }
                options.newline(into: &out, level: level + 1)
                JSONOptions.writeString(pair.key, into: &out, asciiOnly: options.ensureASCII)
                out += options.keySeparator
                try pair.value.writeJSON(into: &out, options: options, level: level + 1)
            }
            options.newline(into: &out, level: level)
            out += "}"
        case .undefined, .opaque:
            throw TemplateError(
                .type, line: 0, "Object of type \(typeName) is not JSON serializable", templateName: "toJSON")
        }
    }
}

/// The knobs of Python's `json.dumps` that templates use.
struct JSONOptions {
    static let maxDepth = 200

    var indent: String?
    var itemSeparator: String
    var keySeparator: String = ": "
    var sortKeys = false
    var ensureASCII = false

    init(indent: String?) {
        self.indent = indent
        itemSeparator = indent == nil ? ", " : ","
    }

    func newline(into out: inout String, level: Int) {
        guard let indent else { return }
        out += "\n"
        for _ in 0..<level { out += indent }
    }

    static func writeString(_ s: String, into out: inout String, asciiOnly: Bool) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    out += "\\u" + PythonString.hex(scalar.value, 4)
                } else if asciiOnly && scalar.value > 0x7E {
                    if scalar.value >= 0x10000 {
                        let v = scalar.value - 0x10000
                        out += "\\u" + PythonString.hex(0xD800 + (v >> 10), 4)
                        out += "\\u" + PythonString.hex(0xDC00 + (v & 0x3FF), 4)
                    } else {
                        out += "\\u" + PythonString.hex(scalar.value, 4)
                    }
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

/// A recursive-descent JSON parser over UTF-8 bytes.
struct JSONParser {
    static let maxDepth = 200

    let bytes: [UInt8]
    var pos = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    func error(_ message: String) -> JSONParseError {
        var line = 1
        var column = 1
        for b in bytes[0..<min(pos, bytes.count)] {
            if b == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return JSONParseError(line: line, column: column, message: message)
    }

    mutating func skipSpace() {
        while pos < bytes.count {
            switch bytes[pos] {
            case 0x20, 0x09, 0x0A, 0x0D: pos += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws -> Value {
        guard depth < JSONParser.maxDepth else { throw error("nested deeper than \(JSONParser.maxDepth) levels") }
        guard pos < bytes.count else { throw error("unexpected end of input") }
        switch bytes[pos] {
        case UInt8(ascii: "{"):
            pos += 1
            var object = Value.Object()
            skipSpace()
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") {
                pos += 1
                return .object(object)
            }
            while true {
                skipSpace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let key = try parseString()
                skipSpace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw error("expected ':'") }
                pos += 1
                skipSpace()
                object[key] = try parseValue(depth: depth + 1)
                skipSpace()
                guard pos < bytes.count else { throw error("unterminated object") }
                if bytes[pos] == UInt8(ascii: ",") {
                    pos += 1
                } else if bytes[pos] == UInt8(ascii: "}") {
                    pos += 1
                    return .object(object)
                } else {
                    throw error("expected ',' or '}'")
                }
            }
        case UInt8(ascii: "["):
            pos += 1
            var items: [Value] = []
            skipSpace()
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") {
                pos += 1
                return .array(items)
            }
            while true {
                skipSpace()
                items.append(try parseValue(depth: depth + 1))
                skipSpace()
                guard pos < bytes.count else { throw error("unterminated array") }
                if bytes[pos] == UInt8(ascii: ",") {
                    pos += 1
                } else if bytes[pos] == UInt8(ascii: "]") {
                    pos += 1
                    return .array(items)
                } else {
                    throw error("expected ',' or ']'")
                }
            }
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .none)
        default:
            return try parseNumber()
        }
    }

    mutating func literal(_ word: String, _ value: Value) throws -> Value {
        let w = Array(word.utf8)
        guard pos + w.count <= bytes.count, Array(bytes[pos..<pos + w.count]) == w else {
            throw error("unexpected character")
        }
        pos += w.count
        return value
    }

    mutating func parseNumber() throws -> Value {
        let start = pos
        var isInteger = true
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        func digits(_ p: inout Int) -> Int {
            let s = p
            while p < bytes.count, bytes[p] >= 0x30, bytes[p] <= 0x39 { p += 1 }
            return p - s
        }
        let intStart = pos
        let intDigits = digits(&pos)
        guard intDigits > 0 else { throw error("unexpected character") }
        if intDigits > 1, bytes[intStart] == UInt8(ascii: "0") { throw error("leading zero in a number") }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
            isInteger = false
            pos += 1
            guard digits(&pos) > 0 else { throw error("expected digits after '.'") }
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
            isInteger = false
            pos += 1
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            guard digits(&pos) > 0 else { throw error("expected digits in the exponent") }
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        if isInteger, let i = Int(text) { return .int(i) }
        guard let d = Double(text) else { throw error("bad number '\(text)'") }
        return .double(d)
    }

    mutating func parseString() throws -> String {
        pos += 1  // opening quote
        var out: [UInt8] = []
        while true {
            guard pos < bytes.count else { throw error("unterminated string") }
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                pos += 1
                break
            }
            if b < 0x20 { throw error("control character in a string") }
            if b != UInt8(ascii: "\\") {
                out.append(b)
                pos += 1
                continue
            }
            pos += 1
            guard pos < bytes.count else { throw error("unterminated string") }
            let e = bytes[pos]
            pos += 1
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
                if code >= 0xD800, code < 0xDC00, pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"),
                    bytes[pos + 1] == UInt8(ascii: "u")
                {
                    let save = pos
                    pos += 2
                    let low = try hex4()
                    if low >= 0xDC00, low < 0xE000 {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        pos = save
                    }
                }
                // Lone surrogates cannot be represented in a Swift string: use U+FFFD.
                let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default:
                throw error("bad escape '\\\(Character(Unicode.Scalar(e)))'")
            }
        }
        guard let s = String(validating: out, as: UTF8.self) else { throw error("invalid UTF-8 in a string") }
        return s
    }

    mutating func hex4() throws -> UInt32 {
        guard pos + 4 <= bytes.count,
            let v = UInt32(String(decoding: bytes[pos..<pos + 4], as: UTF8.self), radix: 16)
        else { throw error("bad \\u escape") }
        pos += 4
        return v
    }
}
