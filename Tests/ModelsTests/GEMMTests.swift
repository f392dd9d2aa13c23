import Foundation
@testable import Tensors
import Testing

/// Stored weights of a given dtype for a product test, with the f32 values they represent.
struct StoredMatrix {
    let bytes: [UInt8]
    let dtype: DType
    let rows: Int
    let cols: Int

    init(rows: Int, cols: Int, dtype: DType, seed: UInt64) {
        var rng = SplitMix(seed)
        var bytes = [UInt8](repeating: 0, count: rows * cols * dtype.size)
        bytes.withUnsafeMutableBytes { raw in
            for i in 0..<(rows * cols) { dtype.store(rng.nextFloat(), raw.baseAddress!, i) }
        }
        self.bytes = bytes
        self.dtype = dtype
        self.rows = rows
        self.cols = cols
    }

    func with<R>(_ body: (WeightMatrix) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes { raw in
            try body(WeightMatrix(data: raw.baseAddress!, dtype: dtype, rows: rows, cols: cols))
        }
    }
}

/// A small deterministic generator of values in [-1, 1).
struct SplitMix {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextFloat() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }
}

/// `GEMM.multiply` (GEMV and blocked paths) against the scalar Double-accumulating reference.
@Suite("GEMM and GEMV kernels")
struct GEMMTests {
    /// Runs `multiply` and `reference` on one shape and checks every element within the bound of
    /// float32 reassociation: `k · 2⁻²² · Σ|x·w|` per element (plus the bias).
    func check(
        m: Int, n: Int, k: Int, dtype: DType, bias: Bool, threads: Int,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let w = StoredMatrix(rows: n, cols: k, dtype: dtype, seed: UInt64(m * 7919 + n * 31 + k))
        var rng = SplitMix(UInt64(n * 1000 + k))
        let x = (0..<(m * k)).map { _ in rng.nextFloat() }
        let b = (0..<n).map { _ in rng.nextFloat() }
        var y = [Float](repeating: .nan, count: m * n)
        var r = [Float](repeating: .nan, count: m * n)
        w.with { wm in
            b.withUnsafeBufferPointer { bp in
                GEMM.multiply(x, rows: m, wm, bias: bias ? bp.baseAddress : nil, into: &y, threads: threads)
                GEMM.reference(x, rows: m, wm, bias: bias ? bp.baseAddress : nil, into: &r)
            }
            var worst: Float = 0
            for i in 0..<m {
                for j in 0..<n {
                    var magnitude: Float = bias ? abs(b[j]) : 0
                    for p in 0..<k { magnitude += abs(x[i * k + p] * wm.element(j, p)) }
                    let bound = Float(max(k, 1)) * 0x1p-22 * magnitude + 1e-30
                    worst = max(worst, abs(y[i * n + j] - r[i * n + j]) / bound)
                }
            }
            #expect(worst <= 1,
                "m \(m) n \(n) k \(k) \(dtype) bias \(bias) threads \(threads): error \(worst) × bound",
                sourceLocation: sourceLocation)
        }
    }

    @Test("exhaustive small shapes, every dtype, with and without bias", arguments: [DType.f32, .bf16, .f16])
    func smallShapes(_ dtype: DType) {
        for m in [1, 2, 3, 4, 5, 8, 9, 13] {
            for n in [1, 2, 3, 4, 5, 15, 16, 17, 33] {
                for k in [1, 2, 7, 15, 16, 17, 31, 32, 33, 64, 65] {
                    check(m: m, n: n, k: k, dtype: dtype, bias: (m + n + k) % 2 == 0, threads: 1)
                }
            }
        }
    }

    @Test("shapes that span several K blocks and column chunks", arguments: [DType.f32, .bf16, .f16])
    func largerShapes(_ dtype: DType) {
        check(m: 1, n: 300, k: 1100, dtype: dtype, bias: true, threads: 2)
        check(m: 9, n: 260, k: 513, dtype: dtype, bias: false, threads: 2)
        check(m: 20, n: 129, k: 300, dtype: dtype, bias: true, threads: 3)
        check(m: 12, n: 53, k: 2100, dtype: dtype, bias: true, threads: 2)
        check(m: 33, n: 97, k: 1030, dtype: dtype, bias: false, threads: 2)
    }

    @Test("results do not depend on the thread count", arguments: [1, 3, 9])
    func threadIndependence(_ m: Int) {
        for dtype in [DType.f32, .bf16, .f16] {
            let w = StoredMatrix(rows: 700, cols: 520, dtype: dtype, seed: 5)
            var rng = SplitMix(9)
            let x = (0..<(m * 520)).map { _ in rng.nextFloat() }
            let outputs: [[Float]] = [1, 2, 3].map { threads in
                var y = [Float](repeating: 0, count: m * 700)
                w.with { GEMM.multiply(x, rows: m, $0, into: &y, threads: threads) }
                return y
            }
            #expect(outputs[0] == outputs[1], "\(dtype) m \(m)")
            #expect(outputs[0] == outputs[2], "\(dtype) m \(m)")
        }
    }

    @Test("blocked and skinny paths with m = 1 agree with the GEMV path")
    func pathsAgree() {
        for dtype in [DType.f32, .bf16, .f16] {
            let w = StoredMatrix(rows: 50, cols: 300, dtype: dtype, seed: 11)
            var rng = SplitMix(3)
            let x = (0..<300).map { _ in rng.nextFloat() }
            var a = [Float](repeating: 0, count: 50), b = a, c = a
            w.with { wm in
                GEMM.gemv(x, wm, into: &a)
                GEMM.blocked(x, rows: 1, wm, into: &b)
                GEMM.skinny(x, rows: 1, wm, into: &c)
            }
            #expect(maxAbsDifference(a, b) <= 1e-4, "\(dtype)")
            #expect(maxAbsDifference(a, c) <= 1e-4, "\(dtype)")
        }
    }

    @Test("the integer-only f16 and bf16 pair decoders are exact for all 65536 bit patterns")
    func pairDecoders() {
        for hi in stride(from: 0, to: 65536, by: 16) {
            var lanes = SIMD16<UInt32>()
            for l in 0..<16 { lanes[l] = UInt32(hi + l) | UInt32(65535 - hi - l) << 16 }
            let (even, odd) = F16Pairs.decode(lanes)
            let (bEven, bOdd) = BF16Pairs.decode(lanes)
            for l in 0..<16 {
                let a = Float(Float16(bitPattern: UInt16(hi + l)))
                let b = Float(Float16(bitPattern: UInt16(65535 - hi - l)))
                #expect(even[l].bitPattern == a.bitPattern || (even[l].isNaN && a.isNaN), "f16 \(hi + l)")
                #expect(odd[l].bitPattern == b.bitPattern || (odd[l].isNaN && b.isNaN), "f16 \(65535 - hi - l)")
                #expect(bEven[l].bitPattern == UInt32(hi + l) << 16)
                #expect(bOdd[l].bitPattern == UInt32(65535 - hi - l) << 16)
            }
        }
    }

    @Test("empty shapes leave y as bias or zero")
    func emptyShapes() {
        let w = StoredMatrix(rows: 3, cols: 0, dtype: .f32, seed: 1)
        var y: [Float] = [9, 9, 9, 9, 9, 9]
        let bias: [Float] = [1, 2, 3]
        w.with { GEMM.multiply([], rows: 2, $0, bias: bias, into: &y) }
        #expect(y == [1, 2, 3, 1, 2, 3])
    }
}
