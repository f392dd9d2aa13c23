/// Element-wise kernels on `Float` working buffers, each the float32 operation PyTorch's CPU
/// kernels perform, without implicit rounding (callers round to the compute dtype with
/// `Convert.round` where PyTorch would store a narrower tensor).
///
/// Plain loops over unsafe pointers; they vectorise with `-target-cpu haswell` or better.
/// None allocates. Each is tested against a scalar loop over `Array`s.
public enum Kernels {
    /// `acc[i] = fma(x[i], w, acc[i])` — one fused multiply-add per element, as torch's
    /// `addcmul_` on CPU.
    public static func fusedMultiplyAdd(
        _ acc: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: Float, count: Int
    ) {
        for i in 0..<count { acc[i] = acc[i].addingProduct(x[i], w) }
    }

    /// `out[i] = a[i] - b[i]`.
    public static func subtract(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int
    ) {
        for i in 0..<count { out[i] = a[i] - b[i] }
    }

    /// `out[i] = a[i] + b[i]`.
    public static func add(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int
    ) {
        for i in 0..<count { out[i] = a[i] + b[i] }
    }

    /// `x[i] = x[i] * s`.
    public static func multiply(_ x: UnsafeMutablePointer<Float>, by s: Float, count: Int) {
        for i in 0..<count { x[i] = x[i] * s }
    }

    /// `x[i] = x[i] / s` (a true division, not a multiplication by the reciprocal).
    public static func divide(_ x: UnsafeMutablePointer<Float>, by s: Float, count: Int) {
        for i in 0..<count { x[i] = x[i] / s }
    }

    /// `out[i] = ca * a[i] + cb * b[i]`, each product and the sum rounded to float32 separately
    /// (no fusion), as two torch multiplications and an addition.
    public static func combine(
        _ ca: Float, _ a: UnsafePointer<Float>, _ cb: Float, _ b: UnsafePointer<Float>,
        into out: UnsafeMutablePointer<Float>, count: Int
    ) {
        for i in 0..<count {
            let p = ca * a[i]
            let q = cb * b[i]
            out[i] = p + q
        }
    }

    /// Σ x[i]², accumulated in Double in four interleaved lanes (deterministic for a given count).
    public static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double {
        var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
        var i = 0
        while i &+ 4 <= count {
            let a = Double(x[i]), b = Double(x[i &+ 1]), c = Double(x[i &+ 2]), d = Double(x[i &+ 3])
            s0 += a * a; s1 += b * b; s2 += c * c; s3 += d * d
            i &+= 4
        }
        while i < count { let a = Double(x[i]); s0 += a * a; i &+= 1 }
        return (s0 + s1) + (s2 + s3)
    }

    /// Σ x[i]·y[i], accumulated in Double in four interleaved lanes.
    public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int) -> Double {
        var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
        var i = 0
        while i &+ 4 <= count {
            s0 += Double(x[i]) * Double(y[i])
            s1 += Double(x[i &+ 1]) * Double(y[i &+ 1])
            s2 += Double(x[i &+ 2]) * Double(y[i &+ 2])
            s3 += Double(x[i &+ 3]) * Double(y[i &+ 3])
            i &+= 4
        }
        while i < count { s0 += Double(x[i]) * Double(y[i]); i &+= 1 }
        return (s0 + s1) + (s2 + s3)
    }
}
