/// Parquet's value encodings, by their Thrift numbers.
enum Encoding: Int32 {
    case plain = 0, plainDictionary = 2, rle = 3, bitPacked = 4, deltaBinaryPacked = 5
    case deltaLengthByteArray = 6, deltaByteArray = 7, rleDictionary = 8, byteStreamSplit = 9

    static func name(_ raw: Int32) -> String {
        switch Encoding(rawValue: raw) {
        case .plain: "PLAIN"
        case .plainDictionary: "PLAIN_DICTIONARY"
        case .rle: "RLE"
        case .bitPacked: "BIT_PACKED"
        case .deltaBinaryPacked: "DELTA_BINARY_PACKED"
        case .deltaLengthByteArray: "DELTA_LENGTH_BYTE_ARRAY"
        case .deltaByteArray: "DELTA_BYTE_ARRAY"
        case .rleDictionary: "RLE_DICTIONARY"
        case .byteStreamSplit: "BYTE_STREAM_SPLIT"
        case nil: "encoding \(raw)"
        }
    }
}

/// A bounds-checked cursor over a page's bytes.
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var remaining: Int { bytes.count - position }

    mutating func take(_ n: Int, _ what: StaticString) throws(DecodeError) -> UnsafeRawBufferPointer {
        guard n >= 0, n <= remaining else { throw DecodeError("\(what) runs past the end of the page") }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<position + n])
        position += n
        return slice
    }

    mutating func uleb() throws(DecodeError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < bytes.count else { throw DecodeError("a varint runs past the end of the page") }
            let b = bytes[position]
            position += 1
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            guard shift < 64 else { throw DecodeError("a varint is longer than 10 bytes") }
        }
    }

    mutating func zigzag() throws(DecodeError) -> Int64 {
        let v = try uleb()
        return Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1)))
    }

    mutating func uint32LE() throws(DecodeError) -> Int {
        let b = try take(4, "a length")
        return Int(b.loadUnaligned(as: UInt32.self).littleEndian)
    }
}

/// Unpacks `count` values of `width` bits (LSB first, as Parquet packs them) from `src` into `out`.
/// The caller guarantees `src` holds `ceil(count * width / 8)` bytes.
@inline(__always)
func unpackBits(_ src: UnsafeRawBufferPointer, width: Int, count: Int, into out: UnsafeMutablePointer<UInt64>) {
    if width == 0 {
        out.update(repeating: 0, count: count)
        return
    }
    let mask: UInt64 = width == 64 ? ~0 : (1 << UInt64(width)) - 1
    var acc: UInt64 = 0
    var bits = 0
    var i = 0
    let p = src.baseAddress?.assumingMemoryBound(to: UInt8.self)
    guard let p else { return }
    if width <= 56 {
        for k in 0..<count {
            while bits < width {
                acc |= UInt64(p[i]) << UInt64(bits)
                i += 1
                bits += 8
            }
            out[k] = acc & mask
            acc >>= UInt64(width)
            bits -= width
        }
    } else {
        for k in 0..<count {
            let bit = k * width
            let first = bit >> 3
            let shift = bit & 7
            var v: UInt128 = 0
            for j in 0..<(shift + width + 7) / 8 { v |= UInt128(p[first + j]) << UInt128(8 * j) }
            out[k] = UInt64(truncatingIfNeeded: v >> UInt128(shift)) & mask
        }
    }
}

/// The RLE / bit-packed hybrid of levels and dictionary indices.
struct HybridDecoder {
    var cursor: ByteCursor
    let width: Int

    init(_ bytes: UnsafeRawBufferPointer, width: Int) throws(DecodeError) {
        guard width >= 0, width <= 32 else { throw DecodeError("RLE bit width \(width) is out of range") }
        cursor = ByteCursor(bytes)
        self.width = width
    }

    /// Decodes exactly `count` values.
    mutating func decode(count: Int, into out: inout [UInt32]) throws(DecodeError) {
        let start = out.count
        out.reserveCapacity(start + count)
        var scratch = [UInt64](repeating: 0, count: 8)
        let byteWidth = (width + 7) / 8
        while out.count - start < count {
            let header = try cursor.uleb()
            let need = count - (out.count - start)
            if header & 1 == 0 {
                let run = header >> 1
                let raw = try cursor.take(byteWidth, "an RLE run")
                var value: UInt32 = 0
                for k in 0..<byteWidth { value |= UInt32(raw[k]) << UInt32(8 * k) }
                guard run > 0 else { throw DecodeError("an RLE run of length 0") }
                let n = Int(min(run, UInt64(need)))
                out.append(contentsOf: repeatElement(value, count: n))
            } else {
                let groups = header >> 1
                guard groups > 0, groups <= UInt64(cursor.remaining + 1) else {
                    throw DecodeError("a bit-packed run is longer than the page")
                }
                let values = Int(groups) * 8
                let n = min(values, need)
                // A final group may be cut short when the page ends: only the bits used must be there.
                guard (n * width + 7) / 8 <= cursor.remaining else {
                    throw DecodeError("a bit-packed run runs past the end of the page")
                }
                let raw = try cursor.take(min(Int(groups) * width, cursor.remaining), "a bit-packed run")
                if scratch.count < n { scratch = [UInt64](repeating: 0, count: n) }
                scratch.withUnsafeMutableBufferPointer { buffer in
                    if let base = buffer.baseAddress { unpackBits(raw, width: width, count: n, into: base) }
                }
                for k in 0..<n { out.append(UInt32(truncatingIfNeeded: scratch[k])) }
            }
        }
    }
}
