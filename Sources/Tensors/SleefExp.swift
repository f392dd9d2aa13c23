/// e^x as SLEEF's single-precision `expf` with 1.0-ulp accuracy computes it — the exponential of
/// PyTorch's vectorized CPU kernels (`Vectorized<float>::exp`, softmax among them), which differs
/// from the C library's `expf` in the last bit for some arguments. Reproducing torch's softmax
/// bit for bit needs this one.
///
///     q = round-to-even(x·log₂e);  s = x − q·ln2 (ln2 in two parts, each step fused);
///     e^s ≈ 1 + s + s²·P(s) (P of degree 5, Horner with fused steps);  result = that · 2^q
///
/// with the scaling split into 2^⌊q/2⌋ · 2^(q − ⌊q/2⌋) so that it never overflows early; below
/// −104 the result is 0, above 100 it is +∞.
public enum SleefExp {
    static let log2e: Float = 1.442695040888963407359924681001892137426645954152985934135449406931
    static let ln2Upper: Float = 0.693145751953125
    static let ln2Lower: Float = 1.428606765330187045e-06
    static let coefficients: [Float] = [
        0.000198527617612853646278381, 0.00139304355252534151077271, 0.00833336077630519866943359,
        0.0416664853692054748535156, 0.166666671633720397949219, 0.5,
    ]

    static func power2(_ k: Int32) -> Float { Float(sign: .plus, exponent: Int(k), significand: 1) }

    public static func exp(_ x: Float) -> Float {
        if x.isNaN { return x }
        if x < -104 { return 0 }
        if x > 100 { return .infinity }
        let q = (x * log2e).rounded(.toNearestOrEven)
        var s = x.addingProduct(q, -ln2Upper)
        s = s.addingProduct(q, -ln2Lower)
        var u = coefficients[0]
        for c in coefficients.dropFirst() { u = c.addingProduct(u, s) }
        u = 1 + s.addingProduct(s * s, u)
        let k = Int32(q), half = k >> 1
        return u * power2(half) * power2(k - half)
    }
}
