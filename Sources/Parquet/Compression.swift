import CZlib
import CZstd

/// Parquet's compression codecs, by their Thrift numbers.
enum Codec: Int32 {
    case uncompressed = 0, snappy = 1, gzip = 2, lzo = 3, brotli = 4, lz4 = 5, zstd = 6, lz4Raw = 7

    var name: String {
        switch self {
        case .uncompressed: "UNCOMPRESSED"
        case .snappy: "SNAPPY"
        case .gzip: "GZIP"
        case .lzo: "LZO"
        case .brotli: "BROTLI"
        case .lz4: "LZ4"
        case .zstd: "ZSTD"
        case .lz4Raw: "LZ4_RAW"
        }
    }
}

enum Decompression {
    /// Decompresses `source` into `destination`, which must come out exactly full (its size is
    /// the page's declared uncompressed size, already checked against the limit).
    static func decompress(
        _ codec: Codec, _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer
    ) throws(DecodeError) {
        switch codec {
        case .uncompressed:
            guard source.count == destination.count else {
                throw DecodeError("uncompressed page holds \(source.count) bytes, header says \(destination.count)")
            }
            if source.count > 0, let d = destination.baseAddress, let s = source.baseAddress {
                d.copyMemory(from: s, byteCount: source.count)
            }
        case .snappy: try Snappy.decompress(source, into: destination)
        case .gzip: try inflate(source, into: destination)
        case .zstd: try zstd(source, into: destination)
        default: throw DecodeError("compression \(codec.name) is not supported", code: .unsupported)
        }
    }

    /// GZIP pages: gzip (or zlib) streams, possibly several members back to back.
    static func inflate(
        _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer
    ) throws(DecodeError) {
        var stream = z_stream()
        // 15 + 32: a window of 2^15, gzip or zlib header detected automatically.
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DecodeError("zlib could not start")
        }
        defer { inflateEnd(&stream) }
        guard let src = source.baseAddress, source.count > 0 else {
            throw DecodeError("GZIP page is empty")
        }
        let out = destination.baseAddress?.assumingMemoryBound(to: Bytef.self)
        var scratch: UInt8 = 0
        stream.next_in = UnsafeMutablePointer(mutating: src.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(source.count)
        var produced = 0
        while true {
            let room = destination.count - produced
            if room > 0, let out {
                stream.next_out = out + produced
                stream.avail_out = uInt(min(room, Int(UInt32.max)))
            } else {
                // A probe: any more output means the page is larger than declared.
                stream.next_out = withUnsafeMutablePointer(to: &scratch) { $0 }
                stream.avail_out = 1
            }
            let before = stream.avail_out
            let status = CZlib.inflate(&stream, Z_NO_FLUSH)
            let wrote = Int(before - stream.avail_out)
            if room == 0 && wrote > 0 {
                throw DecodeError("GZIP page inflates to more than the \(destination.count) bytes its header declares")
            }
            produced += wrote
            if status == Z_STREAM_END {
                // Another gzip member may follow.
                if stream.avail_in == 0 { break }
                guard inflateReset(&stream) == Z_OK else { throw DecodeError("zlib could not restart") }
                continue
            }
            guard status == Z_OK || (status == Z_BUF_ERROR && wrote > 0) else {
                if status == Z_BUF_ERROR && stream.avail_in == 0 {
                    throw DecodeError("GZIP page is truncated")
                }
                let text = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                throw DecodeError("GZIP page does not inflate: \(text)")
            }
        }
        guard produced == destination.count else {
            throw DecodeError("GZIP page inflates to \(produced) bytes, header says \(destination.count)")
        }
    }

    static func zstd(
        _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer
    ) throws(DecodeError) {
        var scratch: UInt8 = 0
        let n = withUnsafeMutablePointer(to: &scratch) { probe in
            ZSTD_decompress(
                destination.baseAddress ?? UnsafeMutableRawPointer(probe), destination.count,
                source.baseAddress ?? UnsafeRawPointer(probe), source.count)
        }
        if ZSTD_isError(n) != 0 {
            let text = String(cString: ZSTD_getErrorName(n))
            throw DecodeError("ZSTD page does not decompress: \(text)")
        }
        guard n == destination.count else {
            throw DecodeError("ZSTD page decompresses to \(n) bytes, header says \(destination.count)")
        }
    }
}

/// The Snappy block format (raw, unframed, as Parquet stores it).
enum Snappy {
    @inline(__always)
    static func move8(_ from: UnsafePointer<UInt8>, _ to: UnsafeMutablePointer<UInt8>) {
        UnsafeMutableRawPointer(to).storeBytes(of: UnsafeRawPointer(from).loadUnaligned(as: UInt64.self), as: UInt64.self)
    }

    static func decompress(
        _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer
    ) throws(DecodeError) {
        let count = source.count
        var i = 0
        // The preamble: the uncompressed length as a varint.
        var length: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard i < count, shift < 35 else { throw DecodeError("SNAPPY page has a bad length preamble") }
            let b = source[i]
            i += 1
            length |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { break }
            shift += 7
        }
        guard length == UInt64(destination.count) else {
            throw DecodeError("SNAPPY page says \(length) bytes, page header says \(destination.count)")
        }
        guard let out = destination.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            guard i == count else { throw DecodeError("SNAPPY page has data after its end") }
            return
        }
        guard let src = source.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        let capacity = destination.count
        var o = 0
        while i < count {
            let tag = src[i]
            i += 1
            switch tag & 3 {
            case 0:
                var n = Int(tag >> 2)
                if n >= 60 {
                    let extra = n - 59
                    guard i + extra <= count else { throw DecodeError("SNAPPY literal length runs past the end") }
                    n = 0
                    for k in 0..<extra { n |= Int(src[i + k]) << (8 * k) }
                    i += extra
                }
                n += 1
                guard n <= count - i, n <= capacity - o else {
                    throw DecodeError("SNAPPY literal runs past the end")
                }
                if n <= 16, i + 16 <= count, o + 16 <= capacity {
                    // A short literal with room on both sides: two unaligned words, no call.
                    Self.move8(src + i, out + o)
                    Self.move8(src + i + 8, out + o + 8)
                } else {
                    (out + o).update(from: src + i, count: n)
                }
                i += n
                o += n
            default:
                let n: Int
                let offset: Int
                switch tag & 3 {
                case 1:
                    guard i < count else { throw DecodeError("SNAPPY copy runs past the end") }
                    n = 4 + Int((tag >> 2) & 7)
                    offset = Int(tag >> 5) << 8 | Int(src[i])
                    i += 1
                case 2:
                    guard i + 2 <= count else { throw DecodeError("SNAPPY copy runs past the end") }
                    n = 1 + Int(tag >> 2)
                    offset = Int(src[i]) | Int(src[i + 1]) << 8
                    i += 2
                default:
                    guard i + 4 <= count else { throw DecodeError("SNAPPY copy runs past the end") }
                    n = 1 + Int(tag >> 2)
                    offset = Int(src[i]) | Int(src[i + 1]) << 8 | Int(src[i + 2]) << 16 | Int(src[i + 3]) << 24
                    i += 4
                }
                guard offset > 0, offset <= o else { throw DecodeError("SNAPPY copy offset \(offset) is out of range") }
                guard n <= capacity - o else { throw DecodeError("SNAPPY output overruns the declared size") }
                if offset >= 8, o + n + 8 <= capacity {
                    // Eight bytes at a time: each word is read from output already written (offset ≥ 8);
                    // the bytes past `n` are overwritten by what follows.
                    var k = 0
                    while k < n {
                        Self.move8(UnsafePointer(out + o - offset + k), out + o + k)
                        k += 8
                    }
                } else if offset >= n {
                    (out + o).update(from: out + o - offset, count: n)
                } else {
                    // Overlapping copy: a repeating pattern, byte by byte.
                    for k in 0..<n { out[o + k] = out[o - offset + k] }
                }
                o += n
            }
        }
        guard o == capacity else {
            throw DecodeError("SNAPPY page decompresses to \(o) bytes, header says \(capacity)")
        }
    }
}
