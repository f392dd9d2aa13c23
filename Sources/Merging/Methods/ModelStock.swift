import Tensors

/// `model_stock` — Model Stock (Jang et al. 2024, arXiv:2403.19522): interpolate between the base and
/// the average of N ≥ 2 fine-tunes by a ratio set from the angle between their task vectors.
///
///     dᵢ = wᵢ − w₀;  cos = mean over pairs of ⟨dᵢ, dⱼ⟩ / max(‖dᵢ‖‖dⱼ‖, 1e-6)  (clamped to [−1, 1])
///     t = N·cos / (1 + (N−1)·cos)   (t = 0 where |1 + (N−1)·cos| < 1e-6)
///     R = t·mean(wᵢ) + (1 − t)·w₀
///
/// Whole tensor as one vector, or per row (last axis) with `filter_wise`. Every step rounded to the
/// compute dtype (mergekit 0.1.5 does not upcast). Only the base present → the base.
public struct ModelStock: MergeMethod {
    public let name = "model_stock"
    public let parameters: [ParameterSpec] = [.bool("filter_wise", default: false)]
    public let contract = MethodContract(base: .required, minNonBase: 2)
    /// Tensors up to this many elements reduce their rows in torch's order (`reduceInTorchOrder`).
    let torchOrderLimit: Int

    public init() { self.init(torchOrderLimit: TorchSum.singleChunk) }
    init(torchOrderLimit: Int) { self.torchOrderLimit = torchOrderLimit }

    /// Two passes: the norms and dot products of the offsets (per row or whole), then the
    /// interpolation. Tensors torch reduces in one chunk (≤ `TorchSum.singleChunk` elements) take
    /// the norms and dots in torch's order, in memory; larger ones stream them in Double.
    public func merge(_ task: TensorTask, _ io: TensorIO) throws {
        guard let b = task.baseIndex else { preconditionFailure("planner guarantees a base") }
        let others = task.nonBase
        guard others.count >= 2 else {
            // Too few inputs for this tensor: nothing to average.
            let only = others.first ?? b
            try io.copyInput(only)
            return
        }
        let d = task.computeDType
        @inline(__always) func r(_ v: Float) -> Float { Rounding.round(v, to: d) }
        let n = task.count
        let rowLength = task.flag("filter_wise") ? (task.shape.last ?? n) : n
        let layout: GroupLayout = rowLength == n ? .whole : .rows(length: rowLength)
        let count = others.count
        let pairs = (0..<count).flatMap { a in ((a + 1)..<count).map { (a, $0) } }
        let groups = layout.groupCount(n)
        // Per group: ‖dᵢ‖ for every model, then ⟨dₐ, d_c⟩ for every pair (products rounded to D),
        // as float32 sums (rounded to D below).
        let (norms, dots) = try n <= torchOrderLimit
            ? Self.reduceInTorchOrder(io, d: d, rowLength: rowLength, base: b, others: others, pairs: pairs)
            : {
                let width = count + pairs.count
                let sums = try io.reduce(layout, width: width) { block, sums in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: count) { offset in
                        for i in 0..<block.count {
                            let group = layout.group(of: block.offset + i)
                            let w0 = block.inputs[b][i]
                            for (k, j) in others.enumerated() { offset[k] = r(block.inputs[j][i] - w0) }
                            for k in 0..<count { sums.add(group, k, Double(offset[k]) * Double(offset[k])) }
                            for (q, (a, c)) in pairs.enumerated() { sums.add(group, count + q, Double(r(offset[a] * offset[c]))) }
                        }
                    }
                }
                return (
                    (0..<groups).map { g in (0..<count).map { Float(sums[g * width + $0].squareRoot()) } },
                    (0..<groups).map { g in (0..<pairs.count).map { Float(sums[g * width + count + $0]) } })
            }()
        let tiny = r(1e-6)
        // t for every group, as mergekit computes it in D.
        let ts: [Float] = (0..<groups).map { g in
            let norms = norms[g].map(r)
            let cosines = pairs.enumerated().map { q, pair in
                let product = max(r(norms[pair.0] * norms[pair.1]), tiny)
                return min(1, max(-1, r(r(dots[g][q]) / product)))
            }
            // torch's mean of D values: a float32 sum from 0, divided in float32, rounded once.
            let cos = r(cosines.reduce(Float(0), +) / Float(cosines.count))
            let denominator = r(1 + r(Float(count - 1) * cos))
            return abs(denominator) < 1e-6 ? 0 : r(r(Float(count) * cos) / denominator)
        }
        try io.elementwise { block in
            for i in 0..<block.count {
                let t = ts[layout.group(of: block.offset + i)]
                var sum = block.inputs[others[0]][i]
                for j in others.dropFirst() { sum = r(sum + block.inputs[j][i]) }
                let average = r(sum / Float(count))
                block.out[i] = r(r(t * average) + r(r(1 - t) * block.inputs[b][i]))
            }
        }
    }

    /// ‖dᵢ‖ per model and ⟨dₐ, d_c⟩ per pair for every row, as torch computes them: norms as
    /// `TorchNorm`, dots as `TorchSum.cascade` (8 lanes) of the rounded products.
    static func reduceInTorchOrder(
        _ io: TensorIO, d: DType, rowLength: Int, base b: Int, others: [Int], pairs: [(Int, Int)]
    ) throws -> ([[Float]], [[Float]]) {
        func r(_ v: Float) -> Float { Rounding.round(v, to: d) }
        let x = try io.gather()
        let n = x[b].count
        let offsets = io.taskVectors(x, others, base: b)
        let rows = rowLength == 0 ? 0 : n / rowLength
        let norms = (0..<rows).map { g in
            offsets.map { o in TorchNorm.l2(count: rowLength, dtype: d) { o[g * rowLength + $0] } }
        }
        let dots = (0..<rows).map { g in
            pairs.map { a, c in
                TorchSum.cascade(count: rowLength, vectorWidth: 8) { r(offsets[a][g * rowLength + $0] * offsets[c][g * rowLength + $0]) }
            }
        }
        return (norms, dots)
    }
}
