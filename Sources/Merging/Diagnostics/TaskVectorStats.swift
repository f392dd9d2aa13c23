import Checkpoints
import Foundation
import Tensors

/// Statistics of task vectors δᵢ = Mᵢ − Base, per tensor: what a user looks at to choose between
/// linear, SLERP and TIES (large norms, low cosines and many sign conflicts favour TIES-style
/// merging; near-parallel task vectors make linear and SLERP alike).
public struct TaskVectorStats: Sendable {
    public struct TensorStats: Sendable {
        public let name: String
        /// Layer index from the name, nil outside the layers.
        public let layer: Int?
        /// The name without its layer prefix (`self_attn.q_proj.weight`).
        public let kind: String
        public let count: Int
        /// ‖δᵢ‖₂ per model.
        public var norms: [Double]
        /// Σ δᵢ·δⱼ for i < j, in pair order (0,1), (0,2), …, (1,2), …
        public var dots: [Double]
        /// Elements where δᵢ and δⱼ are both non-zero and of opposite signs, per pair.
        public var pairConflicts: [Int]
        /// Elements where both δᵢ and δⱼ are non-zero, per pair.
        public var pairBothNonZero: [Int]
        /// Elements whose non-zero deltas (at least two) do not all share one sign.
        public var mixedSign: Int
        /// Elements with at least two non-zero deltas.
        public var multiNonZero: Int

        public func cosine(_ p: Int) -> Double {
            let (i, j) = TaskVectorStats.pair(p, models: norms.count)
            let d = norms[i] * norms[j]
            return d > 0 ? dots[p] / d : 0
        }
    }

    public let base: String
    public let models: [String]
    public var tensors: [TensorStats]
    /// Tensors skipped (missing from a model, shape or dtype that cannot be compared).
    public var skipped: [String]

    static func pair(_ p: Int, models m: Int) -> (Int, Int) {
        var k = p
        for i in 0..<m {
            let span = m - i - 1
            if k < span { return (i, i + 1 + k) }
            k -= span
        }
        return (0, 0)
    }

    public static func pairs(_ m: Int) -> [(Int, Int)] { (0..<(m * (m - 1) / 2)).map { pair($0, models: m) } }

    /// Streams over every tensor the base and all models share.
    public static func compute(base: Checkpoint, baseName: String, models: [Checkpoint], names: [String], threads: Int) throws -> TaskVectorStats {
        var result = TaskVectorStats(base: baseName, models: names, tensors: [], skipped: [])
        let m = models.count
        let pairCount = m * (m - 1) / 2
        for name in base.names.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            guard let b = base.location(name), b.info.dtype.isComputed,
                let xs = Optional(models.compactMap { $0.location(name) }), xs.count == m,
                xs.allSatisfy({ $0.info.shape == b.info.shape && $0.info.dtype.isComputed })
            else {
                result.skipped.append(name)
                continue
            }
            let n = b.info.count
            let chunk = 1 << 18
            let chunks = (n + chunk - 1) / chunk
            struct Partial { var sq: [Double]; var dot: [Double]; var conf: [Int]; var both: [Int]; var mixed = 0; var multi = 0 }
            var partials = [Partial?](repeating: nil, count: chunks)
            partials.withUnsafeMutableBufferPointer { slots in
                let slots = UncheckedBox(slots)
                ParallelFor.run(count: chunks, threads: threads) { c in
                    let start = c * chunk, len = min(chunk, n - start)
                    var p = Partial(sq: Array(repeating: 0, count: m), dot: Array(repeating: 0, count: pairCount),
                                    conf: Array(repeating: 0, count: pairCount), both: Array(repeating: 0, count: pairCount))
                    let bv = UnsafeMutablePointer<Float>.allocate(capacity: len)
                    let dv = UnsafeMutablePointer<Float>.allocate(capacity: len * m)
                    defer { bv.deallocate(); dv.deallocate() }
                    Convert.widen(b.data + start * b.info.dtype.size, b.info.dtype, count: len, into: bv)
                    for (i, x) in xs.enumerated() {
                        let d = dv + i * len
                        Convert.widen(x.data + start * x.info.dtype.size, x.info.dtype, count: len, into: d)
                        Kernels.subtract(d, bv, into: d, count: len)
                        p.sq[i] = Kernels.sumOfSquares(d, count: len)
                    }
                    var k = 0
                    for i in 0..<m {
                        for j in (i + 1)..<max(i + 1, m) {
                            let a = dv + i * len, e = dv + j * len
                            p.dot[k] = Kernels.dot(a, e, count: len)
                            var conf = 0, both = 0
                            for t in 0..<len where a[t] != 0 && e[t] != 0 {
                                both += 1
                                if (a[t] > 0) != (e[t] > 0) { conf += 1 }
                            }
                            p.conf[k] = conf
                            p.both[k] = both
                            k += 1
                        }
                    }
                    for t in 0..<len {
                        var pos = 0, neg = 0
                        for i in 0..<m {
                            let v = dv[i * len + t]
                            if v > 0 { pos += 1 } else if v < 0 { neg += 1 }
                        }
                        if pos + neg >= 2 {
                            p.multi += 1
                            if pos > 0 && neg > 0 { p.mixed += 1 }
                        }
                    }
                    slots.value[c] = p
                }
            }
            var stats = TensorStats(
                name: name, layer: LayerName(name)?.index, kind: LayerName(name).map { String($0.suffix.dropFirst()) } ?? name,
                count: n, norms: Array(repeating: 0, count: m), dots: Array(repeating: 0, count: pairCount),
                pairConflicts: Array(repeating: 0, count: pairCount), pairBothNonZero: Array(repeating: 0, count: pairCount),
                mixedSign: 0, multiNonZero: 0)
            for case let p? in partials {
                for i in 0..<m { stats.norms[i] += p.sq[i] }
                for k in 0..<pairCount {
                    stats.dots[k] += p.dot[k]
                    stats.pairConflicts[k] += p.conf[k]
                    stats.pairBothNonZero[k] += p.both[k]
                }
                stats.mixedSign += p.mixed
                stats.multiNonZero += p.multi
            }
            stats.norms = stats.norms.map { $0.squareRoot() }
            for loc in [b] + xs { loc.file.file.release(loc.info.byteRange) }
            result.tensors.append(stats)
        }
        return result
    }
}
