/// One value of a Parquet record, as JSON would hold it.
///
/// Logical types map as follows: signed and unsigned integers → `int` (UINT_64 values above
/// `Int64.max` → `string` of their digits); FLOAT and DOUBLE → `double`; STRING, JSON, ENUM and
/// BSON text → `string` (JSON columns stay text); DECIMAL → `string` as Python's `str(Decimal)`
/// writes it; DATE → `"YYYY-MM-DD"`; TIME → `"HH:MM:SS[.ffffff]"`; TIMESTAMP and INT96 →
/// `"YYYY-MM-DDTHH:MM:SS[.ffffff]"` (nine digits when nanoseconds are set), with `+00:00` when
/// adjusted to UTC (Python's `isoformat()`); other byte arrays → `bytes`; structs → `object`;
/// lists → `list`; maps → `object` with each key as text (a string key itself, any other key as
/// its JSON text).
public enum ParquetValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case bytes([UInt8])
    case list([ParquetValue])
    case object([ParquetField])

    /// The value as one line of compact JSON: keys in schema order, strings escaped as the
    /// project's JSONL files hold them (UTF-8 kept, `"` `\` and control characters escaped), floats
    /// in shortest round-trip form; NaN and infinities as `null`, bytes as base64 strings.
    public func jsonText() -> String {
        var out: [UInt8] = []
        appendJSON(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `jsonText()`'s bytes.
    public func appendJSON(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let v): out.append(contentsOf: String(v).utf8)
        case .double(let v):
            if v.isFinite {
                out.append(contentsOf: Self.pythonRepr(v).utf8)
            } else {
                out.append(contentsOf: "null".utf8)
            }
        case .string(let s): Self.appendQuoted(s, to: &out)
        case .bytes(let b): Self.appendQuoted(Self.base64(b), to: &out)
        case .list(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.appendJSON(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let fields):
            out.append(UInt8(ascii: "{"))
            for (i, field) in fields.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.appendQuoted(field.name, to: &out)
                out.append(UInt8(ascii: ":"))
                field.value.appendJSON(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Shortest round-trip digits in Python's `repr` layout (`1e+16`, `1e-05`, `100.0`).
    static func pythonRepr(_ v: Double) -> String {
        if v == 0 { return v.sign == .minus ? "-0.0" : "0.0" }
        // Swift's description has the same shortest digits; only the layout can differ, and in
        // this range both write them positionally.
        var text = v.description
        if v.magnitude >= 1e-4 && v.magnitude < 1e15 && !text.contains("e") { return text }
        let negative = text.hasPrefix("-")
        if negative { text.removeFirst() }
        var exponent = 0
        if let e = text.firstIndex(of: "e") {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = String(text[..<e])
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let whole = parts.first.map(String.init) ?? ""
        var digits = whole + (parts.count > 1 ? String(parts[1]) : "")
        exponent += whole.count - 1
        while digits.count > 1 && digits.hasPrefix("0") {
            digits.removeFirst()
            exponent -= 1
        }
        while digits.count > 1 && digits.hasSuffix("0") { digits.removeLast() }
        return (negative ? "-" : "") + layout(digits: digits, exponent: exponent)
    }

    /// `repr`'s rule: positional for -4 <= exponent < 16, else `d.ddde±XX`.
    private static func layout(digits: String, exponent: Int) -> String {
        if exponent >= -4 && exponent < 16 {
            if exponent < 0 { return "0." + String(repeating: "0", count: -exponent - 1) + digits }
            if digits.count <= exponent + 1 {
                return digits + String(repeating: "0", count: exponent + 1 - digits.count) + ".0"
            }
            let cut = digits.index(digits.startIndex, offsetBy: exponent + 1)
            return digits[..<cut] + "." + digits[cut...]
        }
        let head = digits.prefix(1), tail = digits.dropFirst()
        let sign = exponent < 0 ? "-" : "+"
        let magnitude = abs(exponent)
        return head + (tail.isEmpty ? "" : "." + tail) + "e" + sign + (magnitude < 10 ? "0" : "") + String(magnitude)
    }

    static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { utf8 in appendQuoted(utf8, to: &out) }
    }

    static func appendQuoted(_ utf8: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var runStart = 0
        var i = 0
        let n = utf8.count
        while i < n {
            // Eight bytes at a time while none of them needs escaping (a control byte, '"' or '\\').
            if i + 8 <= n, !Self.needsEscape(UnsafeRawPointer(utf8.baseAddress! + i).loadUnaligned(as: UInt64.self)) {
                i += 8
                continue
            }
            let b = utf8[i]
            i += 1
            guard b < 0x20 || b == 0x22 || b == 0x5C else { continue }
            if runStart < i - 1 { out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<(i - 1)])) }
            runStart = i
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            default:
                let hex: StaticString = "0123456789abcdef"
                let digits = hex.utf8Start
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, digits[Int(b >> 4)], digits[Int(b & 15)]])
            }
        }
        if runStart < utf8.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...])) }
        out.append(UInt8(ascii: "\""))
    }

    /// Whether any byte of `w` is below 0x20, '"' or '\\' (exact as to whether, not as to which).
    @inline(__always)
    static func needsEscape(_ w: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let below = (w &- ones &* 0x20) & ~w
        let q = w ^ (ones &* 0x22), s = w ^ (ones &* 0x5C)
        let quote = (q &- ones) & ~q, slash = (s &- ones) & ~s
        return (below | quote | slash) & highs != 0
    }

    static func base64(_ bytes: [UInt8]) -> String {
        let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            for shift in [18, 12, 6, 0] { out.append(table[Int(v >> UInt32(shift) & 63)]) }
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            let v = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
            out.append(table[Int(v >> 18 & 63)])
            out.append(table[Int(v >> 12 & 63)])
            out.append(rest == 2 ? table[Int(v >> 6 & 63)] : UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A named value of a record or struct.
public struct ParquetField: Sendable, Equatable {
    public var name: String
    public var value: ParquetValue

    public init(name: String, value: ParquetValue) {
        self.name = name
        self.value = value
    }
}

/// One row: its top-level fields in schema order (only those asked for).
public struct ParquetRecord: Sendable, Equatable {
    public var fields: [ParquetField]

    public init(fields: [ParquetField]) { self.fields = fields }

    /// The value of the field named `name`, nil when the record has no such field.
    public subscript(name: String) -> ParquetValue? { fields.first { $0.name == name }?.value }

    /// The record as one JSON object line (without the newline), as a JSONL file would hold it.
    public func jsonText() -> String { ParquetValue.object(fields).jsonText() }

    /// Appends `jsonText()`'s bytes.
    public func appendJSON(to out: inout [UInt8]) { ParquetValue.object(fields).appendJSON(to: &out) }
}
