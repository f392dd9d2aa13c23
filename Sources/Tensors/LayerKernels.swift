import Foundation

/// Element kernels of transformer layers on float32 rows: normalisations, softmax, activations,
/// rotary position embeddings and residual adds.
///
/// Each works on one row (or one head vector) at a time and matches the float32 formula
/// transformers uses; sums of squares and means are accumulated in Double.
public enum LayerKernels {
    /// How a rotary embedding pairs the elements of a head vector.
    public enum RotaryPairing: Sendable, Equatable {
        /// Llama style: element `i` rotates with `i + dim/2` (`rotate_half` on the two halves).
        case halves
        /// Cohere style: element `2i` rotates with `2i + 1`.
        case interleaved
    }

    /// RMSNorm of `count` elements: `x / sqrt(mean(x²) + eps) · scale`, where `scale` is
    /// `weight` or, with `unitOffset` (Gemma), `1 + weight`.
    public static func rmsNorm(
        _ x: UnsafePointer<Float>, count: Int, weight: UnsafePointer<Float>, eps: Float, unitOffset: Bool = false,
        into out: UnsafeMutablePointer<Float>
    ) {
        let r = rmsScale(x, count: count, eps: eps)
        if unitOffset {
            for i in 0..<count { out[i] = (x[i] * r) * (1 + weight[i]) }
        } else {
            for i in 0..<count { out[i] = weight[i] * (x[i] * r) }
        }
    }

    /// LayerNorm of `count` elements: `(x − mean) / sqrt(var + eps) · weight (+ bias)`, with the
    /// biased (population) variance.
    public static func layerNorm(
        _ x: UnsafePointer<Float>, count: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>? = nil,
        eps: Float, into out: UnsafeMutablePointer<Float>
    ) {
        let (mean, r) = layerNormStats(x, count: count, eps: eps)
        for i in 0..<count { out[i] = weight[i] * ((x[i] - mean) * r) }
        if let bias { for i in 0..<count { out[i] += bias[i] } }
    }

    /// RMSNorm's `1 / sqrt(mean(x²) + eps)` (the sum of squares in Double).
    @inline(__always)
    public static func rmsScale(_ x: UnsafePointer<Float>, count: Int, eps: Float) -> Float {
        var s: Double = 0
        for i in 0..<count { s += Double(x[i]) * Double(x[i]) }
        return 1 / (Float(s / Double(count)) + eps).squareRoot()
    }

    /// LayerNorm's mean and `1 / sqrt(var + eps)` (population variance; sums in Double).
    @inline(__always)
    public static func layerNormStats(_ x: UnsafePointer<Float>, count: Int, eps: Float) -> (mean: Float, r: Float) {
        var s: Double = 0
        for i in 0..<count { s += Double(x[i]) }
        let mean = Float(s / Double(count))
        var v: Double = 0
        for i in 0..<count {
            let d = Double(x[i] - mean)
            v += d * d
        }
        return (mean, 1 / (Float(v / Double(count)) + eps).squareRoot())
    }

    /// In-place softmax of `count` elements (max subtracted first).
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int) {
        guard count > 0 else { return }
        var m = -Float.infinity
        for i in 0..<count { m = max(m, x[i]) }
        var s: Double = 0
        for i in 0..<count {
            let e = Foundation.exp(x[i] - m)
            x[i] = e
            s += Double(e)
        }
        let inv = Float(1 / s)
        for i in 0..<count { x[i] *= inv }
    }

    /// SiLU `x · sigmoid(x)` of one value.
    @inline(__always) public static func silu(_ x: Float) -> Float { x / (1 + Foundation.exp(-x)) }

    /// GELU with the tanh approximation (`gelu_pytorch_tanh`, `gelu_new`) of one value.
    @inline(__always) public static func geluTanh(_ x: Float) -> Float {
        let c: Float = 0.7978845608028654  // sqrt(2 / pi)
        return 0.5 * x * (1 + Foundation.tanh(c * (x + 0.044715 * x * x * x)))
    }

    /// Exact GELU `x · Φ(x)` (`gelu`) of one value.
    @inline(__always) public static func geluErf(_ x: Float) -> Float {
        0.5 * x * (1 + Foundation.erf(x * 0.7071067811865476))
    }

    /// `gate[i] = act(gate[i]) · up[i]`, the gated MLP's middle step, for SiLU.
    public static func siluMultiply(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { gate[i] = silu(gate[i]) * up[i] }
    }

    /// `gate[i] = geluTanh(gate[i]) · up[i]`.
    public static func geluTanhMultiply(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { gate[i] = geluTanh(gate[i]) * up[i] }
    }

    /// `gate[i] = geluErf(gate[i]) · up[i]`.
    public static func geluErfMultiply(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { gate[i] = geluErf(gate[i]) * up[i] }
    }

    /// `x[i] = cap · tanh(x[i] / cap)` (Gemma 2 soft-capping).
    public static func softcap(_ x: UnsafeMutablePointer<Float>, count: Int, cap: Float) {
        for i in 0..<count { x[i] = Foundation.tanh(x[i] / cap) * cap }
    }

    /// `y[i] += x[i]` (residual add).
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += x[i] }
    }

    /// `x[i] *= s`.
    public static func scale(_ x: UnsafeMutablePointer<Float>, by s: Float, count: Int) {
        for i in 0..<count { x[i] *= s }
    }

    /// Dot product of `count` floats, in SIMD16 lanes plus a scalar tail.
    @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var acc = SIMD16<Float>()
        var i = 0
        while i + 16 <= count {
            acc.addProduct(
                UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Float>.self),
                UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float>.self))
            i &+= 16
        }
        var s = acc.sum()
        while i < count {
            s += a[i] * b[i]
            i &+= 1
        }
        return s
    }

    /// `y[i] += a · x[i]`.
    @inline(__always)
    public static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += a * x[i] }
    }

    /// Rotates the first `2 · cos.count` elements of one head vector by the angles whose cosines
    /// and sines are given (one per pair), `out = x · cos + rotate(x) · sin`; further elements
    /// (partial rotary) are left unchanged.
    public static func rotary(
        _ x: UnsafeMutablePointer<Float>, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>, pairs: Int,
        pairing: RotaryPairing
    ) {
        switch pairing {
        case .halves:
            for i in 0..<pairs {
                let a = x[i], b = x[i + pairs]
                x[i] = a * cos[i] - b * sin[i]
                x[i + pairs] = b * cos[i] + a * sin[i]
            }
        case .interleaved:
            for i in 0..<pairs {
                let a = x[2 * i], b = x[2 * i + 1]
                x[2 * i] = a * cos[i] - b * sin[i]
                x[2 * i + 1] = b * cos[i] + a * sin[i]
            }
        }
    }
}
