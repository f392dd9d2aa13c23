/// Appends compact JSON to a byte buffer: UTF-8 kept as is (like Python's `ensure_ascii=False`),
/// `"` `\` and control characters escaped, keys in the order written. Output is byte-for-byte
/// determined by the calls, so the same records always serialise the same way.
public struct JSONWriter: Sendable {
    public var bytes: [UInt8] = []
    private var needsComma = false

    public init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    public mutating func beginObject() { separate(); bytes.append(UInt8(ascii: "{")); needsComma = false }
    public mutating func endObject() { bytes.append(UInt8(ascii: "}")); needsComma = true }
    public mutating func beginArray() { separate(); bytes.append(UInt8(ascii: "[")); needsComma = false }
    public mutating func endArray() { bytes.append(UInt8(ascii: "]")); needsComma = true }
    public mutating func newline() { bytes.append(0x0A); needsComma = false }

    public mutating func key(_ k: String) {
        separate()
        Self.appendQuoted(k, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    public mutating func string(_ s: String) { separate(); Self.appendQuoted(s, to: &bytes); needsComma = true }
    /// `"\(text)\(suffix)\(number)"` without building the string.
    public mutating func string(_ text: String, suffix: StaticString, _ number: Int) {
        separateValue()
        Self.appendQuoted(text, to: &bytes)
        bytes.removeLast()
        bytes.append(contentsOf: UnsafeBufferPointer(start: suffix.utf8Start, count: suffix.utf8CodeUnitCount))
        var digits: [UInt8] = []
        var n = number
        repeat { digits.append(UInt8(ascii: "0") + UInt8(n % 10)); n /= 10 } while n > 0
        bytes.append(contentsOf: digits.reversed())
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends bytes written by another writer that left an object open after a value (so the
    /// next key needs a comma).
    public mutating func raw(_ prefix: [UInt8]) {
        bytes.append(contentsOf: prefix)
        needsComma = true
    }

    /// Appends raw JSON as one value (`comma: true`: a comma before it when one is due; false:
    /// the start of a container, so the next value needs none).
    public mutating func raw(_ value: [UInt8], comma: Bool) {
        separate()
        bytes.append(contentsOf: value)
        needsComma = comma
    }

    public mutating func null() { separate(); bytes.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C]); needsComma = true }
    public mutating func bool(_ b: Bool) { separate(); bytes.append(contentsOf: Array((b ? "true" : "false").utf8)); needsComma = true }
    public mutating func int(_ v: Int) { separate(); bytes.append(contentsOf: Array(String(v).utf8)); needsComma = true }

    /// `[{"role": …, "content": …}, …]`
    public mutating func messages(_ turns: [Message]) {
        beginArray()
        for m in turns {
            beginObject()
            key("role"); string(m.role)
            key("content"); string(m.content)
            endObject()
        }
        endArray()
    }


    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    /// Writes the comma a value needs and marks that the next one needs one.
    mutating func separateValue() {
        separate()
        needsComma = true
    }

    static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    public static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { u in
            var run = 0
            for (i, c) in u.enumerated() {
                guard c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") || c < 0x20 else { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: u[run..<i]))
                run = i + 1
                switch c {
                case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
                case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
                case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
                default: out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 15)]])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: u[run...]))
        }
        out.append(UInt8(ascii: "\""))
    }
}

extension JSONWriter {
    /// `{"role":"user","content":"` for each role.
    public static let turnPrefix: [[UInt8]] = [Role.system, .user, .assistant, .tool].map {
        Array("{\"role\":\"\($0.name)\",\"content\":\"".utf8)
    }
}
