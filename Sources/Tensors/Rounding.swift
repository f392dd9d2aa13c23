/// Exact conversions between `Float` and the 16-bit float formats, and rounding of a `Float` to
/// a narrower dtype's value set (round to nearest, ties to even; NaN stays NaN).
public enum Rounding {
    /// bfloat16 bits → Float (exact).
    @inlinable @inline(__always)
    public static func widenBF16(_ h: UInt16) -> Float {
        Float(bitPattern: UInt32(h) &<< 16)
    }

    /// Float → bfloat16 bits, round to nearest even; a NaN keeps its sign and becomes quiet.
    @inlinable @inline(__always)
    public static func narrowBF16(_ x: Float) -> UInt16 {
        let b = x.bitPattern
        let isNaN = (b & 0x7FFF_FFFF) > 0x7F80_0000
        let rounded = b &+ 0x7FFF &+ ((b &>> 16) & 1)
        let r = isNaN ? (b | 0x0040_0000) : rounded
        return UInt16(truncatingIfNeeded: r &>> 16)
    }

    /// float16 bits → Float (exact).
    @inlinable @inline(__always)
    public static func widenF16(_ h: UInt16) -> Float {
        Float(Float16(bitPattern: h))
    }

    /// Float → float16 bits, round to nearest even (overflow → ±Inf).
    @inlinable @inline(__always)
    public static func narrowF16(_ x: Float) -> UInt16 {
        Float16(x).bitPattern
    }

    /// `x` rounded to the nearest bfloat16 value, as a Float.
    @inlinable @inline(__always)
    public static func toBF16(_ x: Float) -> Float { widenBF16(narrowBF16(x)) }

    /// `x` rounded to the nearest float16 value, as a Float.
    @inlinable @inline(__always)
    public static func toF16(_ x: Float) -> Float { Float(Float16(x)) }

    /// `x` rounded to the value set of `dtype` (identity for f32).
    @inlinable @inline(__always)
    public static func round(_ x: Float, to dtype: DType) -> Float {
        switch dtype {
        case .bf16: toBF16(x)
        case .f16: toF16(x)
        default: x
        }
    }

    /// A Double rounded first to Float, then to the value set of `dtype` — how PyTorch turns a
    /// Python float into an element of a tensor of that dtype (`torch.tensor([0.3], dtype=bf16)`).
    @inlinable
    public static func round(_ x: Double, to dtype: DType) -> Float {
        switch dtype {
        case .bf16: return toBF16(Float(x))
        case .f16: return Float(Float16(x))
        default: return Float(x)
        }
    }
}
