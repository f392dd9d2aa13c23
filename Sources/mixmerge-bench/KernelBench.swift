import Foundation
import Tensors

/// `mixmerge-bench kernels`: in-cache throughput of the element kernels (ns per element, best of
/// several rounds), so a kernel change is judged without the page cache and the disk in the way.
enum KernelBench {
    static func main(_ arguments: [String]) {
        let rounds = Int(arguments.first ?? "") ?? 5
        let n = blockElements
        var generator = SplitMix(seed: 7)
        func values() -> [UInt16] { (0..<n).map { _ in Rounding.narrowBF16(Float(generator.next() % 20001) * 5e-6 - 0.05) } }
        let base = values(), x1 = values(), x2 = values(), x3 = values()
        var out = [UInt16](repeating: 0, count: n)
        // (name, sign consensus, normalize, models, a TIES magnitude band on every model)
        let cases: [(String, Bool, Bool, Int, Bool)] = [
            ("task_arithmetic (2 models)", false, false, 2, false),
            ("dare_linear normalize (2 models)", false, true, 2, false),
            ("ties, density 1 (2 models)", true, true, 2, false),
            ("ties, density 1 (3 models)", true, true, 3, false),
            ("ties without normalize (2 models)", true, false, 2, false),
            ("ties, magnitude band (2 models)", true, true, 2, true),
        ]
        print("stored-bf16 task-vector kernel, \(n) elements in cache, best of \(rounds) rounds:")
        base.withUnsafeBytes { b in
            x1.withUnsafeBytes { a1 in
                x2.withUnsafeBytes { a2 in
                    x3.withUnsafeBytes { a3 in
                        out.withUnsafeMutableBytes { o in
                            let xs = [a1.baseAddress!, a2.baseAddress!, a3.baseAddress!]
                            let weights: [Float] = [0.69921875, 0.30078125, 0.5]
                            // |δ| above 2⁻⁶ kept (about half of these deltas), as a top-k selection's band.
                            let band = MagnitudeBand(low: Float(0x1p-6).bitPattern, keepLow: false, high: 0x7FFF_FFFF, keepHigh: true)
                            // Best of `rounds` rounds of 4000 calls, in ns per element.
                            func time(_ name: String, _ body: () -> Void) {
                                var best = Double.infinity
                                for _ in 0..<rounds {
                                    let reps = 4000
                                    let t0 = DispatchTime.now().uptimeNanoseconds
                                    for _ in 0..<reps { body() }
                                    best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / Double(reps * n))
                                }
                                print(String(format: "  %-36@ %.3f ns/element", name as NSString, best))
                            }
                            for (name, consensus, normalize, m, banded) in cases {
                                let inputs = (0..<m).map {
                                    TaskVectorInput(x: xs[$0], weight: weights[$0], keep: nil, band: banded ? band : nil, scale: nil, scaleDType: .bf16)
                                }
                                let options = TaskVectorKernel.Options(consensus: consensus, normalize: normalize, divisor: 1, lambda: nil)
                                time(name) {
                                    TaskVectorKernel.mergeStoredBF16(
                                        base: b.baseAddress!, inputs: inputs, options: options, offset: 0, count: n, into: o.baseAddress!)
                                }
                            }
                            // Linear over three stored bf16 models (the benchmark's linear merge):
                            // weighted float32 accumulation, then normalise and round once.
                            let acc = UnsafeMutablePointer<Float>.allocate(capacity: n)
                            defer { acc.deallocate() }
                            let linearWeights: [Float] = [0.2, 0.4, 0.4]
                            time("linear (3 models, normalize)") {
                                for (j, p) in [b.baseAddress!, a1.baseAddress!, a2.baseAddress!].enumerated() {
                                    Fused.multiplyAccumulate(p, .bf16, linearWeights[j], into: acc, count: n, first: j == 0)
                                }
                                Fused.finishLinear(acc, divisor: 1, compute: .bf16, out: .bf16, into: o.baseAddress!, count: n)
                            }
                            // The selection pass of a magnitude sparsifier: |δ| bit patterns, then
                            // a histogram of their high 16 bits (of the bits the first timing left).
                            let bits = UnsafeMutablePointer<UInt32>.allocate(capacity: n)
                            let histogram = UnsafeMutablePointer<Int32>.allocate(capacity: 1 << 15)
                            histogram.initialize(repeating: 0, count: 1 << 15)
                            defer { bits.deallocate(); histogram.deallocate() }
                            time("selection: |δ| bits (per model)") {
                                Fused.deltaMagnitudeBits(a1.baseAddress!, .bf16, b.baseAddress!, .bf16, compute: .bf16, into: bits, count: n)
                            }
                            time("selection: histogram (per model)") {
                                for i in 0..<n { histogram[Int(bits[i] >> 16)] &+= 1 }
                            }
                        }
                    }
                }
            }
        }
    }

    /// One block of a merge (`TensorIO.blockSize`): what a kernel call sees.
    static let blockElements = 8192

    /// A small deterministic generator (the values only need to look like weights).
    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
