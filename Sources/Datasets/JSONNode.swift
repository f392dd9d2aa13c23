/// A JSON value parsed from a byte buffer without copying its strings: a string is the byte range
/// of its content (between the quotes) and is decoded only when asked for. Records of a JSONL file
/// are parsed into this form, the few fields a reader needs are decoded, the rest are skipped.
public indirect enum JSONNode: Sendable {
    case object([JSONMember])
    case array([JSONNode])
    case string(JSONStringRef)
    case number(Range<Int>)
    case bool(Bool)
    case null

    /// The first member named `key` of an object (`nil` for a missing key or a non-object).
    public func member(_ key: String, in bytes: JSONBytes) -> JSONNode? {
        guard case .object(let members) = self else { return nil }
        for m in members where bytes.equals(m.key, key) { return m.value }
        return nil
    }

    public var kindName: String {
        switch self {
        case .object: "an object"
        case .array: "a list"
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        }
    }
}

public struct JSONMember: Sendable {
    public let key: JSONStringRef
    public let value: JSONNode
}

/// The content of a JSON string token: bytes `start..<end` of the buffer, `escaped` when it
/// holds backslash escapes (and so must be decoded rather than copied).
public struct JSONStringRef: Sendable {
    public let start: Int
    public let end: Int
    public let escaped: Bool
}

/// A malformed JSON text: what was expected and the byte offset where it went wrong.
public struct JSONSyntaxError: Error, Sendable, CustomStringConvertible {
    public let offset: Int
    public let message: String
    public var description: String { "\(message) at byte \(offset + 1)" }
}

/// A read-only view of the bytes a `JSONNode` points into.
public struct JSONBytes: @unchecked Sendable {
    // @unchecked: a view of memory its owner keeps alive and never writes (a mapped file or an
    // immutable buffer) while records are read.
    public let base: UnsafePointer<UInt8>
    public let count: Int

    public init(base: UnsafePointer<UInt8>, count: Int) {
        self.base = base
        self.count = count
    }

    /// Whether the string token equals `key` (keys are compared as decoded text).
    public func equals(_ ref: JSONStringRef, _ key: String) -> Bool {
        if ref.escaped { return string(ref) == key }
        var key = key
        return key.withUTF8 { k in
            k.count == ref.end - ref.start && (k.count == 0 || memcmp(k.baseAddress!, base + ref.start, k.count) == 0)
        }
    }

    /// The decoded text of a string token.
    public func string(_ ref: JSONStringRef) -> String {
        if !ref.escaped { return String(decoding: UnsafeBufferPointer(start: base + ref.start, count: ref.end - ref.start), as: UTF8.self) }
        var out: [UInt8] = []
        appendDecoded(ref, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the decoded UTF-8 bytes of a string token (the parser has checked its escapes).
    public func appendDecoded(_ ref: JSONStringRef, to out: inout [UInt8]) {
        var i = ref.start
        if !ref.escaped {
            out.append(contentsOf: UnsafeBufferPointer(start: base + i, count: ref.end - i))
            return
        }
        while i < ref.end {
            let c = base[i]
            if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
            let e = base[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                var scalar = hex4(i)
                i += 4
                if (0xD800..<0xDC00).contains(scalar), i + 6 <= ref.end, base[i] == UInt8(ascii: "\\"), base[i + 1] == UInt8(ascii: "u") {
                    let low = hex4(i + 2)
                    if (0xDC00..<0xE000).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                    }
                }
                // A lone surrogate cannot be written as UTF-8: it becomes U+FFFD, as Python's
                // `errors="replace"` would make it.
                let u = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(u).utf8))
            default: out.append(e)  // \" \\ \/
            }
        }
    }

    private func hex4(_ at: Int) -> UInt32 {
        var v: UInt32 = 0
        for k in 0..<4 { v = v << 4 | UInt32(hexValue(base[at + k])) }
        return v
    }

    /// Number of Unicode code points in a string token's decoded text (escapes counted once).
    public func characterCount(_ ref: JSONStringRef) -> Int {
        var n = 0
        var i = ref.start
        while i < ref.end {
            let c = base[i]
            if c == UInt8(ascii: "\\") {
                if base[i + 1] == UInt8(ascii: "u") {
                    let v = hex4(i + 2)
                    i += 6
                    if (0xD800..<0xDC00).contains(v), i + 6 <= ref.end, base[i] == UInt8(ascii: "\\"), base[i + 1] == UInt8(ascii: "u"),
                       (0xDC00..<0xE000).contains(hex4(i + 2)) { i += 6 }
                } else { i += 2 }
                n += 1
            } else {
                if c & 0xC0 != 0x80 { n += 1 }
                i += 1
            }
        }
        return n
    }

    public func text(_ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(start: base + range.lowerBound, count: range.count), as: UTF8.self)
    }
}

@inline(__always) func hexValue(_ c: UInt8) -> UInt8 {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: 0xFF
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
