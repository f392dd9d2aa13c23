/// Bulk conversions between stored element bytes and `Float` working buffers.
///
/// All loops are plain loops over unsafe pointers so that LLVM vectorises them (checked with
/// `disasm-stats.sh`); each has a scalar twin in `Rounding` and is tested bit for bit against it.
/// None of them allocates. Memory traffic: one read of the source, one write of the destination.
public enum Convert {
    /// Widens `count` elements of `dtype` at `source` (any alignment) into `destination`.
    /// - Precondition: `dtype` is f32, f16 or bf16.
    public static func widen(
        _ source: UnsafeRawPointer, _ dtype: DType, count: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        switch dtype {
        case .f32:
            destination.update(from: source.assumingMemoryBound(to: Float.self), count: count)
        case .bf16:
            let s = source.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count { destination[i] = Float(bitPattern: UInt32(s[i]) &<< 16) }
        case .f16:
            let s = source.assumingMemoryBound(to: Float16.self)
            for i in 0..<count { destination[i] = Float(s[i]) }
        default:
            preconditionFailure("widen: \(dtype) is not a computed dtype")
        }
    }

    /// Rounds `count` floats to `dtype` and stores them as `dtype` elements at `destination`.
    /// - Precondition: `dtype` is f32, f16 or bf16.
    public static func narrow(
        _ source: UnsafePointer<Float>, count: Int, to dtype: DType, into destination: UnsafeMutableRawPointer
    ) {
        switch dtype {
        case .f32:
            destination.assumingMemoryBound(to: Float.self).update(from: source, count: count)
        case .bf16:
            let d = destination.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count { d[i] = Rounding.narrowBF16(source[i]) }
        case .f16:
            let d = destination.assumingMemoryBound(to: Float16.self)
            for i in 0..<count { d[i] = Float16(source[i]) }
        default:
            preconditionFailure("narrow: \(dtype) is not a computed dtype")
        }
    }

    /// Rounds every element of `buffer` to the value set of `dtype` (no-op for f32).
    public static func round(_ buffer: UnsafeMutablePointer<Float>, count: Int, to dtype: DType) {
        switch dtype {
        case .bf16:
            for i in 0..<count { buffer[i] = Rounding.toBF16(buffer[i]) }
        case .f16:
            for i in 0..<count { buffer[i] = Float(Float16(buffer[i])) }
        default:
            break
        }
    }
}
