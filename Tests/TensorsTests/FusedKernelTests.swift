import Testing

@testable import Tensors

/// Each fused kernel against the composition of `Convert` and `Kernels` steps it replaces, bit for
/// bit, for every stored format, on random values and special values.
@Suite("Fused kernels equal their unfused composition")
struct FusedKernelTests {
    static let formats: [DType] = [.bf16, .f16, .f32]
    static let n = 3000

    /// Random values of `dtype`, as stored bytes, with specials mixed in.
    static func stored(_ dtype: DType, seed: UInt64) -> [UInt8] {
        var values = KernelTests.random(n, seed: seed)
        let specials: [Float] = [0, -0, .infinity, -.infinity, .nan, 1e-30, -3.5, 65504, 1e6]
        for (k, v) in specials.enumerated() { values[k * 97 % n] = v }
        var bytes = [UInt8](repeating: 0, count: n * dtype.size)
        values.withUnsafeBufferPointer { src in
            bytes.withUnsafeMutableBytes { Convert.narrow(src.baseAddress!, count: n, to: dtype, into: $0.baseAddress!) }
        }
        return bytes
    }

    static func widened(_ bytes: [UInt8], _ dtype: DType) -> [Float] {
        var out = [Float](repeating: 0, count: n)
        bytes.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { Convert.widen(src.baseAddress!, dtype, count: n, into: $0.baseAddress!) } }
        return out
    }

    static func same(_ a: [UInt8], _ b: [UInt8], _ dtype: DType) -> Bool {
        // NaN payloads may differ only in NaN-ness; compare bit patterns otherwise.
        let x = widened(a, dtype), y = widened(b, dtype)
        return zip(x, y).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
    }

    /// Rounds and narrows an f32 buffer the way the executor's general path does.
    static func finish(_ v: [Float], compute: DType, out: DType) -> [UInt8] {
        var v = v
        v.withUnsafeMutableBufferPointer { Convert.round($0.baseAddress!, count: n, to: compute) }
        var bytes = [UInt8](repeating: 0, count: n * out.size)
        v.withUnsafeBufferPointer { src in bytes.withUnsafeMutableBytes { Convert.narrow(src.baseAddress!, count: n, to: out, into: $0.baseAddress!) } }
        return bytes
    }

    static var pairs: [(DType, DType)] { formats.flatMap { c in formats.map { (c, $0) } } }

    @Test("linear", arguments: pairs)
    func linear(_ compute: DType, _ out: DType) {
        let inputs = (0..<3).map { Self.stored(compute, seed: UInt64(10 + $0)) }
        let weights: [Float] = [0.3, -0.7, 1.25]
        // Unfused: widen, fma into a zeroed accumulator, divide, round, narrow.
        var acc = [Float](repeating: 0, count: Self.n)
        for (j, w) in weights.enumerated() {
            let x = Self.widened(inputs[j], compute)
            acc.withUnsafeMutableBufferPointer { a in x.withUnsafeBufferPointer { Kernels.fusedMultiplyAdd(a.baseAddress!, $0.baseAddress!, w, count: Self.n) } }
        }
        acc.withUnsafeMutableBufferPointer { Kernels.divide($0.baseAddress!, by: 0.85, count: Self.n) }
        let expected = Self.finish(acc, compute: compute, out: out)
        // Fused.
        var facc = [Float](repeating: .nan, count: Self.n)
        var got = [UInt8](repeating: 0, count: Self.n * out.size)
        facc.withUnsafeMutableBufferPointer { a in
            for (j, w) in weights.enumerated() {
                inputs[j].withUnsafeBytes { Fused.multiplyAccumulate($0.baseAddress!, compute, w, into: a.baseAddress!, count: Self.n, first: j == 0) }
            }
            got.withUnsafeMutableBytes { Fused.finishLinear(a.baseAddress!, divisor: 0.85, compute: compute, out: out, into: $0.baseAddress!, count: Self.n) }
        }
        #expect(Self.same(got, expected, out))
    }

    @Test("task arithmetic", arguments: pairs)
    func taskArithmetic(_ compute: DType, _ out: DType) {
        let base = Self.stored(compute, seed: 20)
        let inputs = (0..<2).map { Self.stored(compute, seed: UInt64(21 + $0)) }
        let weights = [Rounding.round(0.3, to: compute), Rounding.round(0.4, to: compute)]
        let divisor = Rounding.round(weights[0] + weights[1], to: compute)
        let lambda: Float = 0.8
        let b = Self.widened(base, compute)
        var mixed = [Float](repeating: 0, count: Self.n)
        for (j, w) in weights.enumerated() {
            let x = Self.widened(inputs[j], compute)
            for i in 0..<Self.n {
                mixed[i] += Rounding.round(Rounding.round(x[i] - b[i], to: compute) * w, to: compute)
            }
        }
        let expectedValues = (0..<Self.n).map { i -> Float in
            var m = Rounding.round(mixed[i], to: compute)
            m = Rounding.round(m / divisor, to: compute)
            m = Rounding.round(m * lambda, to: compute)
            return b[i] + m
        }
        let expected = Self.finish(expectedValues, compute: compute, out: out)
        var acc = [Float](repeating: .nan, count: Self.n)
        var got = [UInt8](repeating: 0, count: Self.n * out.size)
        base.withUnsafeBytes { bp in
            acc.withUnsafeMutableBufferPointer { a in
                for (j, w) in weights.enumerated() {
                    inputs[j].withUnsafeBytes {
                        Fused.addWeightedDelta($0.baseAddress!, base: bp.baseAddress!, compute, w, into: a.baseAddress!, count: Self.n, first: j == 0)
                    }
                }
                got.withUnsafeMutableBytes {
                    Fused.finishTaskArithmetic(a.baseAddress!, base: bp.baseAddress!, compute: compute, divisor: divisor, lambda: lambda,
                        out: out, into: $0.baseAddress!, count: Self.n)
                }
            }
        }
        #expect(Self.same(got, expected, out))
    }

    @Test("SLERP combination and sums", arguments: pairs)
    func slerp(_ compute: DType, _ out: DType) {
        let a = Self.stored(compute, seed: 30), b = Self.stored(compute, seed: 31)
        let x = Self.widened(a, compute), y = Self.widened(b, compute)
        var combined = [Float](repeating: 0, count: Self.n)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeBufferPointer { yp in
                combined.withUnsafeMutableBufferPointer { Kernels.combine(0.6, xp.baseAddress!, 0.45, yp.baseAddress!, into: $0.baseAddress!, count: Self.n) }
            }
        }
        let expected = Self.finish(combined, compute: compute, out: out)
        var got = [UInt8](repeating: 0, count: Self.n * out.size)
        a.withUnsafeBytes { ap in
            b.withUnsafeBytes { bp in
                got.withUnsafeMutableBytes {
                    Fused.combine(0.6, ap.baseAddress!, 0.45, bp.baseAddress!, compute: compute, out: out, into: $0.baseAddress!, count: Self.n)
                }
            }
        }
        #expect(Self.same(got, expected, out))

        // Sums (finite values only): agree with a Double reference to float32 accuracy.
        let finite = (0..<Self.n).filter { x[$0].isFinite && y[$0].isFinite && abs(x[$0]) < 1e4 && abs(y[$0]) < 1e4 }
        var fa = [UInt8](), fb = [UInt8]()
        for i in finite {
            fa += a[(i * compute.size)..<((i + 1) * compute.size)]
            fb += b[(i * compute.size)..<((i + 1) * compute.size)]
        }
        let s = fa.withUnsafeBytes { ap in fb.withUnsafeBytes { Fused.slerpSums(ap.baseAddress!, $0.baseAddress!, compute, count: finite.count) } }
        let ref = finite.reduce((0.0, 0.0, 0.0)) { r, i in
            (r.0 + Double(x[i]) * Double(x[i]), r.1 + Double(y[i]) * Double(y[i]), r.2 + Double(x[i]) * Double(y[i]))
        }
        #expect(abs(s.0 - ref.0) <= 1e-5 * ref.0)
        #expect(abs(s.1 - ref.1) <= 1e-5 * ref.1)
        #expect(abs(s.2 - ref.2) <= 1e-5 * (ref.0 + ref.1))
    }
}
