/// A reader of the Thrift compact protocol over bytes in memory, as Parquet's footer and page
/// headers use it. Every read is bounds-checked; nesting is limited so hostile input cannot
/// exhaust the stack.
struct ThriftReader {
    /// Compact-protocol type codes of fields and list elements.
    enum WireType: UInt8 {
        case stop = 0, boolTrue = 1, boolFalse = 2, byte = 3, i16 = 4, i32 = 5, i64 = 6, double = 7
        case binary = 8, list = 9, set = 10, map = 11, structure = 12
    }

    /// Nesting allowed for structs and containers (Parquet's metadata needs 6).
    static let maxDepth = 32
    private let bytes: UnsafeRawBufferPointer
    private(set) var position: Int
    private var depth = 0

    init(_ bytes: UnsafeRawBufferPointer, position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    var remaining: Int { bytes.count - position }

    mutating func byte() throws(DecodeError) -> UInt8 {
        guard position < bytes.count else { throw DecodeError("Thrift data ends early") }
        let b = bytes[position]
        position += 1
        return b
    }

    mutating func varint() throws(DecodeError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            guard shift < 64 else { throw DecodeError("Thrift varint longer than 10 bytes") }
        }
    }

    mutating func i64() throws(DecodeError) -> Int64 {
        let v = try varint()
        return Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1)))
    }

    mutating func i32() throws(DecodeError) -> Int32 {
        let v = try i64()
        guard let r = Int32(exactly: v) else { throw DecodeError("Thrift i32 out of range: \(v)") }
        return r
    }

    /// An i32 that must be a non-negative count or size.
    mutating func size() throws(DecodeError) -> Int {
        let v = try i32()
        guard v >= 0 else { throw DecodeError("negative size \(v) in metadata") }
        return Int(v)
    }

    mutating func binary() throws(DecodeError) -> UnsafeRawBufferPointer {
        let n = try varint()
        guard n <= UInt64(remaining) else { throw DecodeError("Thrift string of \(n) bytes runs past the end") }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<position + Int(n)])
        position += Int(n)
        return slice
    }

    mutating func string() throws(DecodeError) -> String {
        let raw = try binary()
        guard let s = String(validating: raw.bindMemory(to: UInt8.self), as: UTF8.self) else {
            throw DecodeError("metadata string is not UTF-8")
        }
        return s
    }

    /// The header of a list or set: element type and count.
    mutating func listHeader() throws(DecodeError) -> (WireType, Int) {
        let b = try byte()
        guard let type = WireType(rawValue: b & 0x0F) else {
            throw DecodeError("bad Thrift list element type \(b & 0x0F)")
        }
        var n = UInt64(b >> 4)
        if n == 15 { n = try varint() }
        // Every element takes at least one byte (bools in lists do too).
        guard n <= UInt64(remaining) else { throw DecodeError("Thrift list of \(n) elements runs past the end") }
        return (type, Int(n))
    }

    /// Reads a struct, calling `field` with each field id and type; `field` returns false for
    /// fields it does not read, which are skipped. A bool field's value is in its type.
    mutating func readStruct(
        _ field: (inout ThriftReader, Int16, WireType) throws(DecodeError) -> Bool
    ) throws(DecodeError) {
        depth += 1
        guard depth <= Self.maxDepth else { throw DecodeError("Thrift structs nested too deeply") }
        var last: Int16 = 0
        while true {
            let b = try byte()
            guard let type = WireType(rawValue: b & 0x0F) else {
                throw DecodeError("bad Thrift field type \(b & 0x0F)")
            }
            if type == .stop { break }
            let delta = Int16(b >> 4)
            let id: Int16
            if delta == 0 {
                let v = try i64()
                guard let small = Int16(exactly: v) else { throw DecodeError("bad Thrift field id \(v)") }
                id = small
            } else {
                id = last &+ delta
            }
            last = id
            if try !field(&self, id, type) { try skip(type) }
        }
        depth -= 1
    }

    /// Skips one value of `type`.
    mutating func skip(_ type: WireType) throws(DecodeError) {
        switch type {
        case .stop: throw DecodeError("unexpected Thrift stop")
        case .boolTrue, .boolFalse: return
        case .byte: _ = try byte()
        case .i16, .i32, .i64: _ = try varint()
        case .double:
            guard remaining >= 8 else { throw DecodeError("Thrift data ends early") }
            position += 8
        case .binary: _ = try binary()
        case .list, .set:
            let (element, n) = try listHeader()
            try nested { (r: inout ThriftReader) throws(DecodeError) in
                for _ in 0..<n { try r.skipElement(element) }
            }
        case .map:
            let n = try varint()
            guard n <= UInt64(remaining) else { throw DecodeError("Thrift map runs past the end") }
            if n == 0 { return }
            let kinds = try byte()
            guard let k = WireType(rawValue: kinds >> 4), let v = WireType(rawValue: kinds & 0x0F) else {
                throw DecodeError("bad Thrift map types")
            }
            try nested { (r: inout ThriftReader) throws(DecodeError) in
                for _ in 0..<n {
                    try r.skipElement(k)
                    try r.skipElement(v)
                }
            }
        case .structure:
            try readStruct { _, _, _ throws(DecodeError) in false }
        }
    }

    /// Skips a list element: bools in lists take a byte each.
    mutating func skipElement(_ type: WireType) throws(DecodeError) {
        if type == .boolTrue || type == .boolFalse { _ = try byte() } else { try skip(type) }
    }

    private mutating func nested(_ body: (inout ThriftReader) throws(DecodeError) -> Void) throws(DecodeError) {
        depth += 1
        guard depth <= Self.maxDepth else { throw DecodeError("Thrift containers nested too deeply") }
        try body(&self)
        depth -= 1
    }

    /// Reads a list of `T`, each element read by `element`.
    mutating func list<T>(
        _ element: (inout ThriftReader, WireType) throws(DecodeError) -> T
    ) throws(DecodeError) -> [T] {
        let (type, n) = try listHeader()
        var out: [T] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try element(&self, type)) }
        return out
    }

    /// A bool field's value (compact protocol puts it in the field type).
    static func bool(_ type: WireType) throws(DecodeError) -> Bool {
        switch type {
        case .boolTrue: return true
        case .boolFalse: return false
        default: throw DecodeError("Thrift field is not a bool")
        }
    }

    /// Checks a field's wire type before it is read.
    static func expect(_ type: WireType, _ wanted: WireType, _ name: StaticString) throws(DecodeError) {
        guard type == wanted else { throw DecodeError("metadata field \(name) has the wrong Thrift type") }
    }
}
