#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only view of the bytes records are parsed from (a mapped file or a buffer its owner
/// keeps alive and never writes while records are read).
public struct JSONBytes: @unchecked Sendable {
    public let base: UnsafePointer<UInt8>
    public let count: Int

    public init(base: UnsafePointer<UInt8>, count: Int) {
        self.base = base
        self.count = count
    }

    public func text(_ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(start: base + range.lowerBound, count: range.count), as: UTF8.self)
    }

    public func equals(_ range: Range<Int>, _ key: UnsafeBufferPointer<UInt8>) -> Bool {
        key.count == range.count && (key.count == 0 || memcmp(key.baseAddress!, base + range.lowerBound, key.count) == 0)
    }

    /// Appends the decoded UTF-8 of a JSON string's content (escapes already checked by the parser).
    public func appendDecoded(_ range: Range<Int>, escaped: Bool, to out: inout [UInt8]) {
        if !escaped {
            out.append(contentsOf: UnsafeBufferPointer(start: base + range.lowerBound, count: range.count))
            return
        }
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
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
                if (0xD800..<0xDC00).contains(scalar), i + 6 <= end, base[i] == UInt8(ascii: "\\"), base[i + 1] == UInt8(ascii: "u") {
                    let low = hex4(i + 2)
                    if (0xDC00..<0xE000).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                    }
                }
                // A lone surrogate cannot be UTF-8: it becomes U+FFFD (Python's errors="replace").
                let u = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                var utf8 = String(u).utf8.makeIterator()
                while let b = utf8.next() { out.append(b) }
            default: out.append(e)  // \" \\ \/
            }
        }
    }

    func hex4(_ at: Int) -> UInt32 {
        var v: UInt32 = 0
        for k in 0..<4 { v = v << 4 | UInt32(hexValue(base[at + k])) }
        return v
    }

    /// Unicode code points in a JSON string's decoded content (an escape counts once; a
    /// surrogate pair once).
    public func characterCount(_ range: Range<Int>, escaped: Bool) -> Int {
        var n = 0
        var i = range.lowerBound
        let end = range.upperBound
        if !escaped {
            // Count the bytes that start a code point, eight at a time.
            while i + 8 <= end {
                let w = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
                let continuation = (w & 0x8080_8080_8080_8080) & ~((w << 1) & 0x8080_8080_8080_8080)
                n += 8 - continuation.nonzeroBitCount
                i += 8
            }
            while i < end { if base[i] & 0xC0 != 0x80 { n += 1 }; i += 1 }
            return n
        }
        while i < end {
            let c = base[i]
            if c == UInt8(ascii: "\\") {
                if base[i + 1] == UInt8(ascii: "u") {
                    let v = hex4(i + 2)
                    i += 6
                    if (0xD800..<0xDC00).contains(v), i + 6 <= end, base[i] == UInt8(ascii: "\\"), base[i + 1] == UInt8(ascii: "u"),
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
}

@inline(__always) func hexValue(_ c: UInt8) -> UInt8 {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: 0xFF
    }
}

/// A malformed JSON text: what was expected and the byte offset where it went wrong.
public struct JSONSyntaxError: Error, Sendable, CustomStringConvertible {
    public let offset: Int
    public let message: String
    public var description: String { "\(message) at byte \(offset + 1)" }
}
