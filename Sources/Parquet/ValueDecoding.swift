/// Decoders that append a page's `count` non-null values to a column's `ColumnValues`.
enum ValueDecoding {
    static func plain(
        _ bytes: UnsafeRawBufferPointer, count: Int, into values: inout ColumnValues
    ) throws(DecodeError) {
        var c = ByteCursor(bytes)
        switch values {
        case .boolean(var v):
            values = .int32([])
            let raw = try c.take((count + 7) / 8, "PLAIN booleans")
            v.reserveCapacity(v.count + count)
            for k in 0..<count { v.append(raw[k >> 3] >> UInt8(k & 7) & 1 == 1) }
            values = .boolean(v)
        case .int32(var v):
            values = .int32([])
            try appendFixed(&c, count: count, to: &v)
            values = .int32(v)
        case .int64(var v):
            values = .int32([])
            try appendFixed(&c, count: count, to: &v)
            values = .int64(v)
        case .float(var v):
            values = .int32([])
            try appendFixed(&c, count: count, to: &v)
            values = .float(v)
        case .double(var v):
            values = .int32([])
            try appendFixed(&c, count: count, to: &v)
            values = .double(v)
        case .bytes(var v):
            values = .int32([])
            v.offsets.reserveCapacity(v.offsets.count + count)
            for _ in 0..<count {
                let n = try c.uint32LE()
                v.append(try c.take(n, "a PLAIN byte array"))
            }
            values = .bytes(v)
        case .fixed(let w, var v):
            values = .int32([])
            let (total, overflow) = w.multipliedReportingOverflow(by: count)
            guard !overflow else { throw DecodeError("PLAIN fixed-length values run past the end of the page") }
            v.append(contentsOf: try c.take(total, "PLAIN fixed-length values"))
            values = .fixed(width: w, data: v)
        }
    }

    private static func appendFixed<T: FixedWidthInteger>(
        _ c: inout ByteCursor, count: Int, to v: inout [T]
    ) throws(DecodeError) {
        let raw = try c.take(count * MemoryLayout<T>.size, "PLAIN values")
        v.reserveCapacity(v.count + count)
        let size = MemoryLayout<T>.size
        for k in 0..<count { v.append(T(littleEndian: raw.loadUnaligned(fromByteOffset: k * size, as: T.self))) }
    }

    private static func appendFixed<T: BinaryFloatingPoint>(
        _ c: inout ByteCursor, count: Int, to v: inout [T]
    ) throws(DecodeError) {
        let size = MemoryLayout<T>.size
        let raw = try c.take(count * size, "PLAIN values")
        let old = v.count
        v.append(contentsOf: repeatElement(0, count: count))
        v.withUnsafeMutableBytes { out in
            if count > 0, let base = out.baseAddress, let src = raw.baseAddress {
                (base + old * size).copyMemory(from: src, byteCount: count * size)
            }
        }
    }

    /// BOOLEAN values in the RLE encoding: a 4-byte length, then the hybrid with width 1.
    static func rleBooleans(
        _ bytes: UnsafeRawBufferPointer, count: Int, into values: inout ColumnValues
    ) throws(DecodeError) {
        guard case .boolean(var v) = values else { throw DecodeError("RLE values in a column that is not BOOLEAN") }
        var c = ByteCursor(bytes)
        let n = try c.uint32LE()
        var decoder = try HybridDecoder(try c.take(n, "RLE booleans"), width: 1)
        var raw: [UInt32] = []
        try decoder.decode(count: count, into: &raw)
        values = .int32([])
        v.append(contentsOf: raw.lazy.map { $0 != 0 })
        values = .boolean(v)
    }

    /// RLE_DICTIONARY / PLAIN_DICTIONARY indices: a bit-width byte, then the hybrid.
    static func dictionaryIndices(_ bytes: UnsafeRawBufferPointer, count: Int) throws(DecodeError) -> [UInt32] {
        var c = ByteCursor(bytes)
        let width = count == 0 && c.remaining == 0 ? 0 : Int(try c.take(1, "the index bit width")[0])
        var decoder = try HybridDecoder(UnsafeRawBufferPointer(rebasing: bytes[c.position...]), width: width)
        var out: [UInt32] = []
        try decoder.decode(count: count, into: &out)
        return out
    }

    /// DELTA_BINARY_PACKED integers; returns them and where the encoding ended.
    static func deltaIntegers(_ bytes: UnsafeRawBufferPointer, count: Int) throws(DecodeError) -> ([Int64], Int) {
        var c = ByteCursor(bytes)
        let blockSize = try c.uleb()
        let miniblocks = try c.uleb()
        let total = try c.uleb()
        var last = try c.zigzag()
        guard blockSize > 0, blockSize % 128 == 0, blockSize <= 1 << 20, miniblocks > 0,
              blockSize % miniblocks == 0, (blockSize / miniblocks) % 32 == 0 else {
            throw DecodeError("DELTA_BINARY_PACKED header is invalid (block \(blockSize), miniblocks \(miniblocks))")
        }
        guard total >= UInt64(count) else {
            throw DecodeError("DELTA_BINARY_PACKED holds \(total) values, the page needs \(count)")
        }
        var out: [Int64] = []
        out.reserveCapacity(count)
        if count == 0 { return (out, c.position) }
        out.append(last)
        let perMini = Int(blockSize / miniblocks)
        var scratch = [UInt64](repeating: 0, count: perMini)
        var remaining = count - 1
        var widths = [Int](repeating: 0, count: Int(miniblocks))
        while remaining > 0 {
            let minDelta = try c.zigzag()
            let raw = try c.take(Int(miniblocks), "DELTA_BINARY_PACKED bit widths")
            for m in 0..<Int(miniblocks) { widths[m] = Int(raw[m]) }
            for m in 0..<Int(miniblocks) where remaining > 0 {
                let w = widths[m]
                guard w <= 64 else { throw DecodeError("DELTA_BINARY_PACKED bit width \(w) is over 64") }
                let n = min(perMini, remaining)
                let full = perMini * w / 8
                guard (n * w + 7) / 8 <= c.remaining else {
                    throw DecodeError("DELTA_BINARY_PACKED values run past the end of the page")
                }
                let packed = try c.take(min(full, c.remaining), "DELTA_BINARY_PACKED values")
                scratch.withUnsafeMutableBufferPointer { buffer in
                    if let base = buffer.baseAddress { unpackBits(packed, width: w, count: n, into: base) }
                }
                for k in 0..<n {
                    last = last &+ minDelta &+ Int64(bitPattern: scratch[k])
                    out.append(last)
                }
                remaining -= n
            }
        }
        return (out, c.position)
    }

    static func deltaBinaryPacked(
        _ bytes: UnsafeRawBufferPointer, count: Int, into values: inout ColumnValues
    ) throws(DecodeError) {
        let (decoded, _) = try deltaIntegers(bytes, count: count)
        switch values {
        case .int32(var v):
            values = .int32([])
            v.append(contentsOf: decoded.lazy.map { Int32(truncatingIfNeeded: $0) })
            values = .int32(v)
        case .int64(var v):
            values = .int32([])
            v.append(contentsOf: decoded)
            values = .int64(v)
        default:
            throw DecodeError("DELTA_BINARY_PACKED values in a column that is not INT32 or INT64")
        }
    }

    /// Lengths then bytes; returns the byte strings' ranges in `bytes`.
    private static func lengthPrefixed(
        _ bytes: UnsafeRawBufferPointer, count: Int
    ) throws(DecodeError) -> [Range<Int>] {
        let (lengths, end) = try deltaIntegers(bytes, count: count)
        var position = end
        var out: [Range<Int>] = []
        out.reserveCapacity(count)
        for n in lengths {
            guard n >= 0, n <= Int64(bytes.count - position) else {
                throw DecodeError("DELTA_LENGTH_BYTE_ARRAY value runs past the end of the page")
            }
            out.append(position..<position + Int(n))
            position += Int(n)
        }
        return out
    }

    static func deltaLengthByteArray(
        _ bytes: UnsafeRawBufferPointer, count: Int, into values: inout ColumnValues
    ) throws(DecodeError) {
        guard case .bytes(var v) = values else {
            throw DecodeError("DELTA_LENGTH_BYTE_ARRAY values in a column that is not BYTE_ARRAY")
        }
        let ranges = try lengthPrefixed(bytes, count: count)
        values = .int32([])
        for r in ranges { v.append(UnsafeRawBufferPointer(rebasing: bytes[r])) }
        values = .bytes(v)
    }

    static func deltaByteArray(
        _ bytes: UnsafeRawBufferPointer, count: Int, into values: inout ColumnValues
    ) throws(DecodeError) {
        let (prefixes, end) = try deltaIntegers(bytes, count: count)
        let rest = UnsafeRawBufferPointer(rebasing: bytes[end...])
        let suffixes = try lengthPrefixed(rest, count: count)
        var previous: [UInt8] = []
        var current: [UInt8] = []
        func each(_ body: ([UInt8]) -> Void) throws(DecodeError) {
            for k in 0..<count {
                let p = prefixes[k]
                guard p >= 0, p <= Int64(previous.count) else {
                    throw DecodeError("DELTA_BYTE_ARRAY prefix \(p) is longer than the previous value")
                }
                current.removeAll(keepingCapacity: true)
                current.append(contentsOf: previous[0..<Int(p)])
                current.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest[suffixes[k]]))
                body(current)
                swap(&previous, &current)
            }
        }
        switch values {
        case .bytes(var v):
            values = .int32([])
            try each { value in
                v.data.append(contentsOf: value)
                v.offsets.append(v.data.count)
            }
            values = .bytes(v)
        case .fixed(let w, var v):
            values = .int32([])
            var wrong = false
            try each { value in
                if value.count != w { wrong = true }
                v.append(contentsOf: value)
            }
            guard !wrong else { throw DecodeError("DELTA_BYTE_ARRAY value is not \(w) bytes long") }
            values = .fixed(width: w, data: v)
        default:
            throw DecodeError("DELTA_BYTE_ARRAY values in a column that is not a byte array")
        }
    }

    static func byteStreamSplit(
        _ bytes: UnsafeRawBufferPointer, count: Int, into values: inout ColumnValues
    ) throws(DecodeError) {
        let width: Int
        switch values {
        case .int32, .float: width = 4
        case .int64, .double: width = 8
        case .fixed(let w, _): width = w
        default: throw DecodeError("BYTE_STREAM_SPLIT values in a column of the wrong type")
        }
        guard width > 0, count * width <= bytes.count else {
            throw DecodeError("BYTE_STREAM_SPLIT values run past the end of the page")
        }
        var joined = [UInt8](repeating: 0, count: count * width)
        for k in 0..<count {
            for j in 0..<width { joined[k * width + j] = bytes[j * count + k] }
        }
        var failure: DecodeError?
        joined.withUnsafeBytes { raw in
            do throws(DecodeError) { try plain(raw, count: count, into: &values) } catch { failure = error }
        }
        if let failure { throw failure }
    }
}
