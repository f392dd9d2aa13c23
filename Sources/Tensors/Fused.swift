/// A stored element format that kernels can be specialised for.
public protocol StorageFormat {
    static var dtype: DType { get }
    /// Element `i` widened to Float (exact).
    static func load(_ p: UnsafeRawPointer, _ i: Int) -> Float
    /// `x` rounded to this format's value set.
    static func round(_ x: Float) -> Float
    /// Stores `x` (rounded to nearest even) as element `i`.
    static func store(_ x: Float, _ p: UnsafeMutableRawPointer, _ i: Int)
    /// Eight lanes rounded to this format's value set (same results as `round`).
    static func round8(_ v: SIMD8<Float>) -> SIMD8<Float>
    /// Like `round8` for lanes that are not NaN (NaN lanes give an unspecified value).
    static func roundNonNaN8(_ v: SIMD8<Float>) -> SIMD8<Float>
}

extension StorageFormat {
    @inline(__always) public static func round8(_ v: SIMD8<Float>) -> SIMD8<Float> {
        SIMD8(round(v[0]), round(v[1]), round(v[2]), round(v[3]), round(v[4]), round(v[5]), round(v[6]), round(v[7]))
    }
    @inline(__always) public static func roundNonNaN8(_ v: SIMD8<Float>) -> SIMD8<Float> { round8(v) }
}

extension DType {
    /// Element `i` of stored data of this (floating-point) dtype, widened to Float (exact).
    @inline(__always) public func load(_ p: UnsafeRawPointer, _ i: Int) -> Float {
        switch self {
        case .bf16: BF16Format.load(p, i)
        case .f16: F16Format.load(p, i)
        default: F32Format.load(p, i)
        }
    }

    /// Stores `x` (rounded to nearest even) as element `i` of data of this (floating-point) dtype.
    @inline(__always) public func store(_ x: Float, _ p: UnsafeMutableRawPointer, _ i: Int) {
        switch self {
        case .bf16: BF16Format.store(x, p, i)
        case .f16: F16Format.store(x, p, i)
        default: F32Format.store(x, p, i)
        }
    }
}

public enum BF16Format: StorageFormat {
    public static var dtype: DType { .bf16 }
    @inline(__always) public static func load(_ p: UnsafeRawPointer, _ i: Int) -> Float {
        Float(bitPattern: UInt32(p.assumingMemoryBound(to: UInt16.self)[i]) &<< 16)
    }
    @inline(__always) public static func round(_ x: Float) -> Float { Rounding.toBF16(x) }
    /// Integer-only lanes (no SIMDMask): round to nearest even, NaN kept quiet.
    @inline(__always) public static func round8(_ v: SIMD8<Float>) -> SIMD8<Float> {
        let b = unsafeBitCast(v, to: SIMD8<UInt32>.self)
        let rounded = b &+ 0x7FFF &+ ((b &>> 16) & 1)
        let nan = SIMD8<UInt32>(repeating: 0) &- ((SIMD8<UInt32>(repeating: 0x7F80_0000) &- (b & 0x7FFF_FFFF)) &>> 31)
        let r = ((rounded & ~nan) | ((b | 0x0040_0000) & nan)) & 0xFFFF_0000
        return unsafeBitCast(r, to: SIMD8<Float>.self)
    }
    /// Round to nearest even without the NaN fix-up: exact for every non-NaN lane (±∞ stays ±∞,
    /// overflow rounds to ±∞), three integer operations fewer than `round8`.
    @inline(__always) public static func roundNonNaN8(_ v: SIMD8<Float>) -> SIMD8<Float> {
        let b = unsafeBitCast(v, to: SIMD8<UInt32>.self)
        return unsafeBitCast((b &+ 0x7FFF &+ ((b &>> 16) & 1)) & 0xFFFF_0000, to: SIMD8<Float>.self)
    }
    @inline(__always) public static func store(_ x: Float, _ p: UnsafeMutableRawPointer, _ i: Int) {
        p.assumingMemoryBound(to: UInt16.self)[i] = Rounding.narrowBF16(x)
    }
}

public enum F16Format: StorageFormat {
    public static var dtype: DType { .f16 }
    @inline(__always) public static func load(_ p: UnsafeRawPointer, _ i: Int) -> Float {
        Float(p.assumingMemoryBound(to: Float16.self)[i])
    }
    @inline(__always) public static func round(_ x: Float) -> Float { Float(Float16(x)) }
    @inline(__always) public static func store(_ x: Float, _ p: UnsafeMutableRawPointer, _ i: Int) {
        p.assumingMemoryBound(to: Float16.self)[i] = Float16(x)
    }
}

public enum F32Format: StorageFormat {
    public static var dtype: DType { .f32 }
    @inline(__always) public static func load(_ p: UnsafeRawPointer, _ i: Int) -> Float {
        p.assumingMemoryBound(to: Float.self)[i]
    }
    @inline(__always) public static func round(_ x: Float) -> Float { x }
    @inline(__always) public static func round8(_ v: SIMD8<Float>) -> SIMD8<Float> { v }
    @inline(__always) public static func roundNonNaN8(_ v: SIMD8<Float>) -> SIMD8<Float> { v }
    @inline(__always) public static func store(_ x: Float, _ p: UnsafeMutableRawPointer, _ i: Int) {
        p.assumingMemoryBound(to: Float.self)[i] = x
    }
}

/// Fused kernels for the hot merge paths: they read the stored inputs directly (no widening pass)
/// and write the stored output directly (no rounding or narrowing pass), one pass per input plus
/// one to finish. Each is bit-for-bit equal to the composition of `Convert` and `Kernels` steps it
/// replaces (tested in `FusedKernelTests`). Inputs must already be in the compute dtype.
public enum Fused {
    /// `acc[i] = fma(x[i], w, first ? +0 : acc[i])` — one model's step of mergekit 0.1.5's linear.
    public static func multiplyAccumulate(
        _ x: UnsafeRawPointer, _ dtype: DType, _ w: Float, into acc: UnsafeMutablePointer<Float>, count: Int, first: Bool
    ) {
        switch dtype {
        case .bf16: multiplyAccumulate(BF16Format.self, x, w, acc, count, first)
        case .f16: multiplyAccumulate(F16Format.self, x, w, acc, count, first)
        default: multiplyAccumulate(F32Format.self, x, w, acc, count, first)
        }
    }

    @inline(__always)
    static func multiplyAccumulate<S: StorageFormat>(
        _: S.Type, _ x: UnsafeRawPointer, _ w: Float, _ acc: UnsafeMutablePointer<Float>, _ n: Int, _ first: Bool
    ) {
        if first {
            for i in 0..<n { acc[i] = Float(0).addingProduct(S.load(x, i), w) }
        } else {
            for i in 0..<n { acc[i] = acc[i].addingProduct(S.load(x, i), w) }
        }
    }

    /// `out[i] = store_out(round_D(divisor == nil ? acc[i] : acc[i] / divisor))` — linear's last step.
    public static func finishLinear(
        _ acc: UnsafePointer<Float>, divisor: Float?, compute: DType, out: DType,
        into dst: UnsafeMutableRawPointer, count: Int
    ) {
        switch (compute, out) {
        case (.bf16, .bf16): finishLinear(BF16Format.self, BF16Format.self, acc, divisor, dst, count)
        case (.bf16, .f16): finishLinear(BF16Format.self, F16Format.self, acc, divisor, dst, count)
        case (.bf16, _): finishLinear(BF16Format.self, F32Format.self, acc, divisor, dst, count)
        case (.f16, .bf16): finishLinear(F16Format.self, BF16Format.self, acc, divisor, dst, count)
        case (.f16, .f16): finishLinear(F16Format.self, F16Format.self, acc, divisor, dst, count)
        case (.f16, _): finishLinear(F16Format.self, F32Format.self, acc, divisor, dst, count)
        case (_, .bf16): finishLinear(F32Format.self, BF16Format.self, acc, divisor, dst, count)
        case (_, .f16): finishLinear(F32Format.self, F16Format.self, acc, divisor, dst, count)
        default: finishLinear(F32Format.self, F32Format.self, acc, divisor, dst, count)
        }
    }

    @inline(__always)
    static func finishLinear<C: StorageFormat, O: StorageFormat>(
        _: C.Type, _: O.Type, _ acc: UnsafePointer<Float>, _ divisor: Float?, _ dst: UnsafeMutableRawPointer, _ n: Int
    ) {
        if let d = divisor {
            for i in 0..<n { O.store(C.round(acc[i] / d), dst, i) }
        } else {
            for i in 0..<n { O.store(C.round(acc[i]), dst, i) }
        }
    }

    /// `acc[i] (+)= round_D(round_D(x[i] − base[i]) · w)` — one model's weighted task vector,
    /// accumulated in float32 (the first model initialises `acc`).
    public static func addWeightedDelta(
        _ x: UnsafeRawPointer, base: UnsafeRawPointer, _ dtype: DType, _ w: Float,
        into acc: UnsafeMutablePointer<Float>, count: Int, first: Bool
    ) {
        switch dtype {
        case .bf16: addWeightedDelta(BF16Format.self, x, base, w, acc, count, first)
        case .f16: addWeightedDelta(F16Format.self, x, base, w, acc, count, first)
        default: addWeightedDelta(F32Format.self, x, base, w, acc, count, first)
        }
    }

    @inline(__always)
    static func addWeightedDelta<S: StorageFormat>(
        _: S.Type, _ x: UnsafeRawPointer, _ b: UnsafeRawPointer, _ w: Float, _ acc: UnsafeMutablePointer<Float>,
        _ n: Int, _ first: Bool
    ) {
        if first {
            for i in 0..<n { acc[i] = S.round(S.round(S.load(x, i) - S.load(b, i)) * w) }
        } else {
            for i in 0..<n { acc[i] = acc[i] + S.round(S.round(S.load(x, i) - S.load(b, i)) * w) }
        }
    }

    /// Task arithmetic's last step: `mixed = round_D(acc)`, then `/ divisor` and `· lambda` when
    /// given (each rounded to D), and `out = store_out(round_D(base + mixed))`.
    public static func finishTaskArithmetic(
        _ acc: UnsafePointer<Float>, base: UnsafeRawPointer, compute: DType, divisor: Float?, lambda: Float?,
        out: DType, into dst: UnsafeMutableRawPointer, count: Int
    ) {
        switch (compute, out) {
        case (.bf16, .bf16): finishTA(BF16Format.self, BF16Format.self, acc, base, divisor, lambda, dst, count)
        case (.bf16, .f16): finishTA(BF16Format.self, F16Format.self, acc, base, divisor, lambda, dst, count)
        case (.bf16, _): finishTA(BF16Format.self, F32Format.self, acc, base, divisor, lambda, dst, count)
        case (.f16, .bf16): finishTA(F16Format.self, BF16Format.self, acc, base, divisor, lambda, dst, count)
        case (.f16, .f16): finishTA(F16Format.self, F16Format.self, acc, base, divisor, lambda, dst, count)
        case (.f16, _): finishTA(F16Format.self, F32Format.self, acc, base, divisor, lambda, dst, count)
        case (_, .bf16): finishTA(F32Format.self, BF16Format.self, acc, base, divisor, lambda, dst, count)
        case (_, .f16): finishTA(F32Format.self, F16Format.self, acc, base, divisor, lambda, dst, count)
        default: finishTA(F32Format.self, F32Format.self, acc, base, divisor, lambda, dst, count)
        }
    }

    @inline(__always)
    static func finishTA<C: StorageFormat, O: StorageFormat>(
        _: C.Type, _: O.Type, _ acc: UnsafePointer<Float>, _ b: UnsafeRawPointer, _ divisor: Float?, _ lambda: Float?,
        _ dst: UnsafeMutableRawPointer, _ n: Int
    ) {
        let d = divisor ?? 1, l = lambda ?? 1
        switch (divisor != nil, lambda != nil) {
        case (false, false):
            for i in 0..<n { O.store(C.round(C.load(b, i) + C.round(acc[i])), dst, i) }
        case (true, false):
            for i in 0..<n { O.store(C.round(C.load(b, i) + C.round(C.round(acc[i]) / d)), dst, i) }
        case (false, true):
            for i in 0..<n { O.store(C.round(C.load(b, i) + C.round(C.round(acc[i]) * l)), dst, i) }
        case (true, true):
            for i in 0..<n { O.store(C.round(C.load(b, i) + C.round(C.round(C.round(acc[i]) / d) * l)), dst, i) }
        }
    }
}

extension Fused {
    /// `(Σ a², Σ b², Σ a·b)` over two stored vectors: float32 partial sums in 8 lanes over chunks of
    /// 1024 elements, combined in Double (deterministic for a given count).
    public static func slerpSums(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ dtype: DType, count: Int) -> (Double, Double, Double) {
        switch dtype {
        case .bf16: slerpSums(BF16Format.self, a, b, count)
        case .f16: slerpSums(F16Format.self, a, b, count)
        default: slerpSums(F32Format.self, a, b, count)
        }
    }

    @inline(__always)
    static func load8<S: StorageFormat>(_: S.Type, _ p: UnsafeRawPointer, _ i: Int) -> SIMD8<Float> {
        SIMD8(S.load(p, i), S.load(p, i &+ 1), S.load(p, i &+ 2), S.load(p, i &+ 3),
              S.load(p, i &+ 4), S.load(p, i &+ 5), S.load(p, i &+ 6), S.load(p, i &+ 7))
    }

    static func slerpSums<S: StorageFormat>(_: S.Type, _ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ n: Int) -> (Double, Double, Double) {
        var aa = 0.0, bb = 0.0, ab = 0.0
        var start = 0
        while start < n {
            let end = min(n, start &+ 1024)
            var saa = SIMD8<Float>(), sbb = SIMD8<Float>(), sab = SIMD8<Float>()
            var i = start
            while i &+ 8 <= end {
                let x = load8(S.self, a, i), y = load8(S.self, b, i)
                saa += x * x
                sbb += y * y
                sab += x * y
                i &+= 8
            }
            var taa: Float = 0, tbb: Float = 0, tab: Float = 0
            while i < end {
                let x = S.load(a, i), y = S.load(b, i)
                taa += x * x; tbb += y * y; tab += x * y
                i &+= 1
            }
            aa += Double(saa.sum()) + Double(taa)
            bb += Double(sbb.sum()) + Double(tbb)
            ab += Double(sab.sum()) + Double(tab)
            start = end
        }
        return (aa, bb, ab)
    }

    /// `out[i] = store_out(round_D(ca·a[i] + cb·b[i]))`, the products and the sum each rounded to
    /// float32 (no fusion) — SLERP's combination.
    public static func combine(
        _ ca: Float, _ a: UnsafeRawPointer, _ cb: Float, _ b: UnsafeRawPointer, compute: DType, out: DType,
        into dst: UnsafeMutableRawPointer, count: Int
    ) {
        switch (compute, out) {
        case (.bf16, .bf16): combine(BF16Format.self, BF16Format.self, ca, a, cb, b, dst, count)
        case (.bf16, .f16): combine(BF16Format.self, F16Format.self, ca, a, cb, b, dst, count)
        case (.bf16, _): combine(BF16Format.self, F32Format.self, ca, a, cb, b, dst, count)
        case (.f16, .bf16): combine(F16Format.self, BF16Format.self, ca, a, cb, b, dst, count)
        case (.f16, .f16): combine(F16Format.self, F16Format.self, ca, a, cb, b, dst, count)
        case (.f16, _): combine(F16Format.self, F32Format.self, ca, a, cb, b, dst, count)
        case (_, .bf16): combine(F32Format.self, BF16Format.self, ca, a, cb, b, dst, count)
        case (_, .f16): combine(F32Format.self, F16Format.self, ca, a, cb, b, dst, count)
        default: combine(F32Format.self, F32Format.self, ca, a, cb, b, dst, count)
        }
    }

    @inline(__always)
    static func combine<C: StorageFormat, O: StorageFormat>(
        _: C.Type, _: O.Type, _ ca: Float, _ a: UnsafeRawPointer, _ cb: Float, _ b: UnsafeRawPointer,
        _ dst: UnsafeMutableRawPointer, _ n: Int
    ) {
        for i in 0..<n {
            let p = ca * C.load(a, i)
            let q = cb * C.load(b, i)
            O.store(C.round(p + q), dst, i)
        }
    }
}
