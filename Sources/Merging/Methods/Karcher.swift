import Foundation
import Tensors

/// `karcher` — the Karcher (Riemannian) mean of all inputs on the unit sphere, rescaled by their mean
/// norm (mergekit's "Karcher Mean"). The base, if given, is an ordinary input; weights are equal.
///
///     Uᵢ = Yᵢ/‖Yᵢ‖;  u = normalise(Σ αᵢUᵢ);  repeat max_iter times:
///         T = Σ αᵢ θᵢ/sin θᵢ · (Uᵢ − cos θᵢ·u),  θᵢ = acos⟨u, Uᵢ⟩ (skipped when θᵢ < tol)
///         stop if ‖T‖ < tol;  u = normalise(cos‖T‖·u + sin‖T‖·T/‖T‖)
///     R = (Σ αᵢ‖Yᵢ‖)·u
///
/// Norms in float32, everything else in the compute dtype with mergekit 0.1.5's roundings.
public struct Karcher: MergeMethod {
    public let name = "karcher"
    public let parameters: [ParameterSpec] = [.number("max_iter", .global, default: 10), .number("tol", .global, default: 1e-5)]
    public let contract = MethodContract(base: .ordinaryInput, minNonBase: 1)

    /// One buffer the size of the tensor in the compute dtype (the running mean u); inputs stream.
    public var tensorBuffers: Int { 1 }

    /// Tensors up to this many elements are merged in memory with torch's norms (`mergeInTorchOrder`).
    let torchOrderLimit: Int

    public init() { self.init(torchOrderLimit: TorchSum.singleChunk) }
    init(torchOrderLimit: Int) { self.torchOrderLimit = torchOrderLimit }

    /// Tensors of ≤ `TorchSum.singleChunk` elements are merged in memory (`mergeInTorchOrder`).
    /// Larger ones stream the inputs: a pass for the norms, one for the first mean, then per iteration one
    /// for ⟨u, Uᵢ⟩, one for ‖T‖ and one that moves u (T is recomputed where needed); only u is
    /// held, in the compute dtype (every value of u is rounded to it, so it is stored exactly). A
    /// division of u by its norm is applied when u is next read.
    public func merge(_ task: TensorTask, _ io: TensorIO) throws {
        let count = task.inputs.count
        if count == 1 {
            try io.copyInput(0)
            return
        }
        let d = task.computeDType
        func r(_ v: Float) -> Float { Rounding.round(v, to: d) }
        let n = task.count
        let tol = Float(task.number("tol") ?? 1e-5), maxIter = Int(task.number("max_iter") ?? 10)
        let alphas = [Float](repeating: Float(1.0 / Double(count)), count: count)
        if n <= torchOrderLimit {
            try Self.mergeInTorchOrder(task, io, tol: tol, maxIter: maxIter, alphas: alphas)
            return
        }
        let norms = try io.reduce(.whole, width: count) { block, sums in
            for i in 0..<count {
                var s = 0.0
                for e in 0..<block.count { let v = Double(block.inputs[i][e]); s += v * v }
                sums.add(0, i, s)
            }
        }.map { Float($0.squareRoot()) }
        let valid = norms.indices.filter { norms[$0] > tol }
        guard !valid.isEmpty else {
            try io.elementwise { block in block.out.update(repeating: 0, count: block.count) }
            return
        }
        let alphaSum = valid.reduce(0.0) { $0 + Double(alphas[$1]) }
        let weights = valid.map { Float(Double(alphas[$0]) / alphaSum) }
        @inline(__always) func unit(_ x: [UnsafeMutablePointer<Float>], _ i: Int, _ e: Int) -> Float { r(x[i][e] / norms[i]) }

        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(1, n) * d.size, alignment: 64)
        defer { buffer.deallocate() }
        let mean = MeanBuffer(bytes: buffer, dtype: d)
        /// A pending u ← u/‖u‖ (applied in place on the next read).
        var pending: Float?
        // u₀ = Σ wₖUₖ, then normalised (or the first valid unit vector when it vanishes).
        var squares = try io.reduce(.whole, width: 1) { block, sums in
            var s = 0.0
            for e in 0..<block.count {
                var m: Float = 0
                for (k, i) in valid.enumerated() { m = r(m + r(weights[k] * unit(block.inputs, i, e))) }
                mean[block.offset + e] = m
                s += Double(m) * Double(m)
            }
            sums.add(0, 0, s)
        }
        let meanNorm = Float(squares[0].squareRoot())
        if meanNorm < tol {
            let first = valid[0]
            _ = try io.reduce(.whole, width: 1) { block, _ in
                for e in 0..<block.count { mean[block.offset + e] = unit(block.inputs, first, e) }
            }
        } else {
            pending = meanNorm
        }
        for _ in 0..<maxIter {
            let divisor = pending
            let dotSums = try io.reduce(.whole, width: valid.count) { block, sums in
                for e in 0..<block.count {
                    if let divisor { mean[block.offset + e] = r(mean[block.offset + e] / divisor) }
                    let m = Double(mean[block.offset + e])
                    for (k, i) in valid.enumerated() { sums.add(0, k, m * Double(unit(block.inputs, i, e))) }
                }
            }
            pending = nil
            // Per valid model: (⟨u, Uᵢ⟩, the coefficient of its tangent term), nil when θ < tol.
            let terms: [(dot: Float, coefficient: Float)?] = valid.indices.map { k in
                let dot = min(1, max(-1, r(Float(dotSums[k]))))
                let theta = r(acosf(dot))
                if theta < tol { return nil }
                return (dot, r(weights[k] * r(theta / r(sinf(theta)))))
            }
            @inline(__always) func tangent(_ x: [UnsafeMutablePointer<Float>], _ e: Int, _ m: Float) -> Float {
                var t: Float = 0
                for (k, i) in valid.enumerated() {
                    guard let term = terms[k] else { continue }
                    t = r(t + r(term.coefficient * r(unit(x, i, e) - r(term.dot * m))))
                }
                return t
            }
            squares = try io.reduce(.whole, width: 1) { block, sums in
                var s = 0.0
                for e in 0..<block.count {
                    let t = Double(tangent(block.inputs, e, mean[block.offset + e]))
                    s += t * t
                }
                sums.add(0, 0, s)
            }
            let tangentNorm = Float(squares[0].squareRoot())
            if tangentNorm < tol { break }
            // `torch.cos(‖T‖) * u`: a 0-dim float32 tensor as the first operand of a product with a
            // half-precision tensor is cast to the compute dtype first (only a second operand keeps
            // its float32 value); the same holds for sin and, below, for the final scale.
            let c = r(cosf(tangentNorm)), s = r(sinf(tangentNorm))
            squares = try io.reduce(.whole, width: 1) { block, sums in
                var total = 0.0
                for e in 0..<block.count {
                    let old = mean[block.offset + e]
                    let m = r(r(c * old) + r(s * r(tangent(block.inputs, e, old) / tangentNorm)))
                    mean[block.offset + e] = m
                    total += Double(m) * Double(m)
                }
                sums.add(0, 0, total)
            }
            let unitNorm = Float(squares[0].squareRoot())
            if unitNorm > tol { pending = unitNorm }
        }
        let scale = r(zip(alphas, norms).reduce(Float(0)) { $0 + $1.0 * $1.1 })
        let divisor = pending
        try io.elementwise { block in
            for e in 0..<block.count {
                var m = mean[block.offset + e]
                if let divisor { m = r(m / divisor) }
                block.out[e] = r(scale * m)
            }
        }
    }
}

extension Karcher {
    /// The same iteration on whole arrays, with every norm as torch takes it — `vector_norm` of
    /// the float32 copy, in `TorchNorm`'s order — so that the decisions that hinge on a last bit
    /// (θᵢ < tol for identical inputs, where ⟨u, Uᵢ⟩ is 1 or one ulp below it) go mergekit's way.
    /// ⟨u, Uᵢ⟩ is `torch.dot`: aten's own kernel in bf16/f16 (`TorchDot`), BLAS's (MKL) in
    /// float32, whose order is not reproduced — summed in Double and rounded once.
    static func mergeInTorchOrder(_ task: TensorTask, _ io: TensorIO, tol: Float, maxIter: Int, alphas: [Float]) throws {
        let d = task.computeDType
        func r(_ v: Float) -> Float { Rounding.round(v, to: d) }
        func norm(_ v: [Float]) -> Float { TorchNorm.l2(count: v.count, dtype: .f32) { v[$0] } }
        let inputs = try io.gather()
        let n = task.count
        let norms = inputs.map(norm)
        let units = inputs.indices.map { i in norms[i] == 0 ? [Float](repeating: 0, count: n) : inputs[i].map { r($0 / norms[i]) } }
        let valid = norms.indices.filter { norms[$0] > tol }
        var mean = [Float](repeating: 0, count: n)
        if !valid.isEmpty {
            let alphaSum = valid.reduce(0.0) { $0 + Double(alphas[$1]) }
            let weights = valid.map { Float(Double(alphas[$0]) / alphaSum) }
            for (k, i) in valid.enumerated() { for e in 0..<n { mean[e] = r(mean[e] + r(weights[k] * units[i][e])) } }
            let meanNorm = norm(mean)
            mean = meanNorm < tol ? units[valid[0]] : mean.map { r($0 / meanNorm) }
            for _ in 0..<maxIter {
                var tangent = [Float](repeating: 0, count: n)
                for (k, i) in valid.enumerated() {
                    let dot = min(1, max(-1, r(d == .f32
                        ? Float((0..<n).reduce(0.0) { $0 + Double(mean[$1]) * Double(units[i][$1]) })
                        : TorchDot.reduced(count: n, { mean[$0] }, { units[i][$0] }))))
                    let theta = r(acosf(dot))
                    if theta < tol { continue }
                    let coefficient = r(weights[k] * r(theta / r(sinf(theta))))
                    for e in 0..<n { tangent[e] = r(tangent[e] + r(coefficient * r(units[i][e] - r(dot * mean[e])))) }
                }
                let tangentNorm = norm(tangent)
                if tangentNorm < tol { break }
                let c = r(cosf(tangentNorm)), s = r(sinf(tangentNorm))
                mean = (0..<n).map { e in r(r(c * mean[e]) + r(s * r(tangent[e] / tangentNorm))) }
                let unitNorm = norm(mean)
                if unitNorm > tol { mean = mean.map { r($0 / unitNorm) } }
            }
        }
        let scale = r(zip(alphas, norms).reduce(Float(0)) { $0 + $1.0 * $1.1 })
        try io.elementwise { block in
            for e in 0..<block.count { block.out[e] = r(scale * mean[block.offset + e]) }
        }
    }
}

/// The running mean u in the compute dtype, read and written element by element by the passes'
/// workers (each element by the worker of its block only).
struct MeanBuffer: @unchecked Sendable {
    let bytes: UnsafeMutableRawPointer
    let dtype: DType

    subscript(i: Int) -> Float {
        get { dtype.load(bytes, i) }
        nonmutating set { dtype.store(newValue, bytes, i) }
    }
}
