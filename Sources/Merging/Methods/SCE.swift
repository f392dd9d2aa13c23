import Foundation
import Tensors

/// `sce` — Select, Calculate, Erase (FuseChat 2.0, Wan et al. 2024, arXiv:2408.07990): keep the
/// elements whose task vectors vary most across models, weight each model by the mean square of its
/// task vector, erase deltas against the elected sign, and average.
///
///     Δᵢ = Xᵢ − B;  select_topk τ < 1: keep the ⌊τ·#{Var ≠ 0}⌋ elements of largest Varᵢ(Δᵢ)
///     cᵢ = mean(Δᵢ²) / Σⱼ mean(Δⱼ²)   (uniform when the sum is < 1e-6)
///     Mᵢ = [sign Δᵢ = sign ΣⱼΔⱼ];  R = B + Σ cᵢMᵢΔᵢ / max(Σ cᵢMᵢ, 1e-6)
///
/// No per-model weights. Every step rounded to the compute dtype. Among equal variances the later
/// flat index is kept first (the TIES rule; mergekit's `topk` leaves such ties to torch), except on
/// tensors of ≤ `torchOrderLimit` elements, which replay torch's topk (`IntroSort.topk`).
///
/// Streams: a pass counts the nonzero variances, the magnitude selection (`SparsificationPass`,
/// with the variance as its key) builds the keep mask (n bits), a pass sums each model's mean
/// square, and the last pass merges.
public struct SCE: MergeMethod {
    public let name = "sce"
    public let parameters: [ParameterSpec] = [.number("select_topk", .global, default: 1), .bool("int8_mask", default: false)]
    public let contract = MethodContract(base: .required)

    /// Tensors up to this many elements replay torch: its topk (ties included) and its order for
    /// the mean squares; a test lowers it to exercise the streaming paths.
    let torchOrderLimit: Int

    public init() { self.init(torchOrderLimit: SparsificationPass.sortLimit) }
    init(torchOrderLimit: Int) { self.torchOrderLimit = torchOrderLimit }

    /// Δᵢ of element `e` of a widened block (compute-dtype values).
    @inline(__always)
    static func delta(_ x: [UnsafeMutablePointer<Float>], _ j: Int, _ b: Int, _ e: Int, _ d: DType) -> Float {
        Rounding.round(x[j][e] - x[b][e], to: d)
    }

    /// Var(Δ₁…Δₘ) of one element, population variance in Double, rounded to the compute dtype.
    @inline(__always)
    static func variance(_ delta: (Int) -> Float, _ m: Int, _ d: DType) -> Float {
        var sum = 0.0
        for i in 0..<m { sum += Double(delta(i)) }
        let mean = sum / Double(m)
        var squares = 0.0
        for i in 0..<m { let c = Double(delta(i)) - mean; squares += c * c }
        return Rounding.round(Float(squares / Double(m)), to: d)
    }

    public func merge(_ task: TensorTask, _ io: TensorIO) throws {
        guard let b = task.baseIndex else { preconditionFailure("planner guarantees a base") }
        let others = task.nonBase
        guard !others.isEmpty else {
            try io.copyInput(b)
            return
        }
        let d = task.computeDType
        func r(_ v: Float) -> Float { Rounding.round(v, to: d) }
        let n = task.count, m = others.count
        let topk = task.number("select_topk") ?? 1
        // Tensors torch reduces in one chunk are read whole, once: their top-k and mean squares
        // replay torch's (`IntroSort.topk`, `TorchSum.cascade`).
        let whole = n <= torchOrderLimit ? io.taskVectors(try io.gather(), others, base: b) : nil
        // nil keeps every element.
        var keep: Bitmask?
        if topk < 1 {
            let variances = whole.map { deltas in (0..<n).map { e in Self.variance({ deltas[$0][e] }, m, d) } }
            let zeros = try variances.map { $0.count { $0 == 0 } } ?? Int(io.reduce(.whole, width: 1) { block, sums in
                var count = 0
                for e in 0..<block.count where Self.variance({ Self.delta(block.inputs, others[$0], b, e, d) }, m, d) == 0 { count += 1 }
                sums.add(0, 0, Double(count))
            }[0])
            let k = topk > 0 ? Int(Double(n - zeros) * topk) : 0
            if k == 0 {
                keep = Bitmask(count: n)
            } else if let variances {
                // torch's own topk of |Var|, ties included.
                let mask = Bitmask(count: n)
                for e in variances.map(\.magnitude).withUnsafeBufferPointer({ IntroSort.topk($0, k) }) { mask.set(Int(e)) }
                keep = mask
            } else {
                let inputs = task.inputs
                var pass = SparsificationPass(io: io, task: task, base: b)
                pass.key = { stored, count, bits in
                    for e in 0..<count {
                        let v = Self.variance({ i in
                            let x = inputs[others[i]], y = inputs[b]
                            return Rounding.round(Rounding.round(x.dtype.load(stored[others[i]], e), to: d) - Rounding.round(y.dtype.load(stored[b], e), to: d), to: d)
                        }, m, d)
                        bits[e] = v.bitPattern & 0x7FFF_FFFF
                    }
                }
                let selection = try pass.selectRanks([(others[0], (n - k)..<n)])
                keep = try pass.masks([others[0]], selection)[0]
            }
        }
        // mean(Δᵢ²): `square().mean(dim=1)`, a float32 sum divided by n, rounded once (in Double on
        // the streamed tensors).
        var weights: [Float]
        if let deltas = whole {
            weights = deltas.map { delta in
                let sum = TorchSum.cascade(count: n, vectorWidth: 8) { e in
                    guard keep?[e] ?? true else { return 0 }
                    let v = delta[e]
                    return r(v * v)
                }
                return r(sum / Float(n))
            }
        } else {
            let squares = try io.reduce(.whole, width: m) { block, sums in
                for i in 0..<m {
                    var s = 0.0
                    for e in 0..<block.count where keep?[block.offset + e] ?? true {
                        let v = Self.delta(block.inputs, others[i], b, e, d)
                        s += Double(r(v * v))
                    }
                    sums.add(0, i, s)
                }
            }
            weights = squares.map { r(Float($0 / Double(n))) }
        }
        let weightSum = r(weights.reduce(Float(0), +))
        weights = abs(weightSum) < 1e-6
            ? [Float](repeating: r(1 / Float(m)), count: m)
            : weights.map { r($0 / weightSum) }
        let tiny = r(1e-6)
        try io.elementwise { block in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: m) { deltas in
                for e in 0..<block.count {
                    let kept = keep?[block.offset + e] ?? true
                    var total: Float = 0
                    for i in 0..<m {
                        deltas[i] = kept ? Self.delta(block.inputs, others[i], b, e, d) : 0
                        total += deltas[i]
                    }
                    let positive = r(total) >= 0
                    var merged: Float = 0, weightTotal: Float = 0
                    for i in 0..<m {
                        let v = deltas[i]
                        let w: Float = (positive ? v > 0 : v < 0) ? weights[i] : 0
                        let contribution = r(v * w)
                        if i == 0 { merged = contribution; weightTotal = w } else { merged += contribution; weightTotal += w }
                    }
                    block.out[e] = r(block.inputs[b][e] + r(r(merged) / max(r(weightTotal), tiny)))
                }
            }
        }
    }
}
