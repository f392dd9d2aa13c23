import Foundation
import Testing

@testable import Tensors

@Suite("Element kernels against scalar loops")
struct KernelTests {
    static func random(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed
        return (0..<n).map { _ in
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: s >> 11) % 2_000_001 - 1_000_000) / 250_000
        }
    }

    @Test("fused multiply-add is one rounding per element", arguments: [1, 7, 64, 1000, 8193])
    func fma(count n: Int) {
        let x = Self.random(n, seed: 1), a0 = Self.random(n, seed: 2)
        var acc = a0
        acc.withUnsafeMutableBufferPointer { accP in
            x.withUnsafeBufferPointer { Kernels.fusedMultiplyAdd(accP.baseAddress!, $0.baseAddress!, 0.3, count: n) }
        }
        for i in 0..<n {
            let exact = Float(Double(x[i]) * Double(Float(0.3)) + Double(a0[i]))  // exact in Double, one rounding
            #expect(acc[i] == exact)
        }
    }

    @Test("subtract, add, multiply, divide, combine match scalar code", arguments: [3, 100, 4097])
    func elementwise(count n: Int) {
        let a = Self.random(n, seed: 3), b = Self.random(n, seed: 4)
        var out = [Float](repeating: 0, count: n)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                out.withUnsafeMutableBufferPointer { Kernels.subtract(ap.baseAddress!, bp.baseAddress!, into: $0.baseAddress!, count: n) }
            }
        }
        for i in 0..<n { #expect(out[i] == a[i] - b[i]) }
        var m = a
        m.withUnsafeMutableBufferPointer { Kernels.multiply($0.baseAddress!, by: 0.7, count: n) }
        for i in 0..<n { #expect(m[i] == a[i] * 0.7) }
        var d = a
        d.withUnsafeMutableBufferPointer { Kernels.divide($0.baseAddress!, by: 1.3, count: n) }
        for i in 0..<n { #expect(d[i] == a[i] / 1.3) }
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                out.withUnsafeMutableBufferPointer { Kernels.combine(0.25, ap.baseAddress!, 0.75, bp.baseAddress!, into: $0.baseAddress!, count: n) }
            }
        }
        for i in 0..<n {
            let p: Float = 0.25 * a[i]
            let q: Float = 0.75 * b[i]
            #expect(out[i] == p + q)
        }
    }

    @Test("reductions agree with a Double reference")
    func reductions() {
        let a = Self.random(10_001, seed: 5), b = Self.random(10_001, seed: 6)
        let ss = a.withUnsafeBufferPointer { Kernels.sumOfSquares($0.baseAddress!, count: a.count) }
        let dot = a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { Kernels.dot(ap.baseAddress!, $0.baseAddress!, count: a.count) } }
        let refSS = a.reduce(0.0) { $0 + Double($1) * Double($1) }
        let refDot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(abs(ss - refSS) <= 1e-9 * refSS)
        #expect(abs(dot - refDot) <= 1e-9 * abs(refSS))
    }

    @Test("parallel-for visits every index once, whatever the thread count", arguments: [1, 2, 5])
    func parallelFor(threads: Int) {
        let n = 1000
        let hits = UnsafeMutableBufferPointer<Int>.allocate(capacity: n)
        hits.initialize(repeating: 0)
        defer { hits.deallocate() }
        let box = UncheckedBox(hits)
        ParallelFor.run(count: n, threads: threads) { i in box.value[i] += 1 }
        #expect(hits.allSatisfy { $0 == 1 })
    }
}
