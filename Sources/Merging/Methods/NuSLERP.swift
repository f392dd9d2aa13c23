import Foundation
import Tensors

/// `nuslerp` — SLERP between two models with weights, optionally on task vectors and per row or
/// column (mergekit's "NuSLERP"):
///
///     t = w₂/(w₁+w₂)   (0.5 when |w₁+w₂| < 1e-6)
///     with a base:  a = X₁ − B, b = X₂ − B, R = B + S(a, b);   without: R = S(X₁, X₂)
///     S: â = a/max(‖a‖, 1e-7), b̂ likewise, c = clamp(⟨â, b̂⟩, −1, 1), θ = acos c
///        colinear (1 − c² ≤ 1e-16): (1−t)a + tb,   else (sin((1−t)θ)·a + sin(tθ)·b) / sin θ
///
/// Vectors: the whole tensor (`nuslerp_flatten`, default), else each slice along the last axis,
/// or along axis 0 with `nuslerp_row_wise`. Numerics of mergekit 0.1.5: computed in the compute
/// dtype without upcasting — every step is rounded to it, reductions accumulate in float32 and
/// round once. Tensors of ≤ `TorchSum.singleChunk` elements reduce in torch's order (bit-exact in
/// bf16/f16; in float32 torch's acos/sin are MKL's, which glibc's match in all but a few % of
/// arguments); larger ones, and `nuslerp_row_wise` vectors, sum in Double.
public struct NuSLERP: MergeMethod {
    public let name = "nuslerp"
    public let parameters: [ParameterSpec] = [
        .number("weight", .perModel, required: true),
        .bool("nuslerp_flatten", default: true),
        .bool("nuslerp_row_wise", default: false),
    ]
    public let contract = MethodContract(base: .optional, minNonBase: 2, maxNonBase: 2)
    /// Tensors up to this many elements reduce their rows in torch's order (`reduceInTorchOrder`).
    let torchOrderLimit: Int

    public init() { self.init(torchOrderLimit: TorchSum.singleChunk) }
    init(torchOrderLimit: Int) { self.torchOrderLimit = torchOrderLimit }

    public func merge(_ task: TensorTask, _ io: TensorIO) throws {
        let others = task.nonBase
        guard others.count == 2 else {
            // Only one model has this (optional) tensor: pass it through.
            try io.copyInput(others.first ?? 0)
            return
        }
        let (i1, i2) = (others[0], others[1])
        let base = task.baseIndex
        let d = task.computeDType
        @inline(__always) func r(_ x: Float) -> Float { Rounding.round(x, to: d) }
        let w1 = task.number("weight", input: i1) ?? 0, w2 = task.number("weight", input: i2) ?? 0
        let total = w1 + w2
        let t = abs(total) < 1e-6 ? 0.5 : w2 / total
        let layout: GroupLayout
        if task.flag("nuslerp_flatten") || task.shape.count < 2 {
            layout = .whole
        } else if task.flag("nuslerp_row_wise") {
            layout = .columns(length: task.count / max(1, task.shape[0]))
        } else {
            layout = .rows(length: task.shape[task.shape.count - 1])
        }
        // Task vectors (or the inputs), rounded to the compute dtype, into the scratch buffers.
        func vectors(_ block: Block) -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
            guard let base else { return (block.inputs[i1], block.inputs[i2]) }
            let (a, b) = block.scratch
            Kernels.subtract(block.inputs[i1], block.inputs[base], into: a, count: block.count)
            Kernels.subtract(block.inputs[i2], block.inputs[base], into: b, count: block.count)
            Convert.round(a, count: block.count, to: d)
            Convert.round(b, count: block.count, to: d)
            return (a, b)
        }
        let eps = r(1e-7)
        // ⟨â, b̂⟩ per vector.
        let dots = try rowLength(layout, task.count).map { length in
            try Self.reduceInTorchOrder(io, d: d, rowLength: length, i1: i1, i2: i2, base: base, eps: eps)
        } ?? {
            let squares = try io.reduce(layout, width: 2) { block, acc in
                let (a, b) = vectors(block)
                for i in 0..<block.count {
                    let g = layout.group(of: block.offset + i)
                    acc.add(g, 0, Double(a[i]) * Double(a[i]))
                    acc.add(g, 1, Double(b[i]) * Double(b[i]))
                }
            }
            let groups = squares.count / 2
            let normA = (0..<groups).map { g in max(r(Float(squares[2 * g].squareRoot())), eps) }
            let normB = (0..<groups).map { g in max(r(Float(squares[2 * g + 1].squareRoot())), eps) }
            let dots = try io.reduce(layout, width: 1) { block, acc in
                let (a, b) = vectors(block)
                for i in 0..<block.count {
                    let g = layout.group(of: block.offset + i)
                    acc.add(g, 0, Double(r(r(a[i] / normA[g]) * r(b[i] / normB[g]))))
                }
            }
            return dots.map { Float($0) }
        }()
        let oneMinusT = Float(1 - t), tf = Float(t)
        let tiny = Rounding.round(1e-16, to: d)
        struct Coefficients { var colinear: Bool; var s0: Float; var s1: Float; var sinTheta: Float }
        let coefficients = dots.map { sum -> Coefficients in
            let c = min(1, max(-1, r(sum)))
            let colinear = r(1 - r(c * c)) <= tiny
            let theta = r(acosf(colinear ? 0 : c))
            return Coefficients(
                colinear: colinear, s0: r(sinf(r(oneMinusT * theta))), s1: r(sinf(r(tf * theta))), sinTheta: r(sinf(theta)))
        }
        try io.elementwise { block in
            let (a, b) = vectors(block)
            for i in 0..<block.count {
                let k = coefficients[layout.group(of: block.offset + i)]
                var v: Float
                if k.colinear {
                    v = r(r(oneMinusT * a[i]) + r(tf * b[i]))
                } else {
                    v = r(r(r(k.s0 * a[i]) + r(k.s1 * b[i])) / k.sinTheta)
                }
                if let base { v = block.inputs[base][i] + v }
                block.out[i] = v
            }
        }
    }

    /// The length of the contiguous rows torch reduces when the tensor is small enough to replay
    /// its order (≤ `TorchSum.singleChunk` elements, vectors along the last axis); nil otherwise.
    /// `nuslerp_row_wise` vectors run across rows (torch reduces a transposed view): not replayed.
    func rowLength(_ layout: GroupLayout, _ count: Int) -> Int? {
        guard count <= torchOrderLimit else { return nil }
        switch layout {
        case .whole: return count
        case .rows(let length): return length
        case .columns: return nil
        }
    }

    /// ⟨â, b̂⟩ per row as torch computes it: â = a/‖a‖ with the norm as `TorchNorm` (clamped to
    /// eps), the dot as `TorchSum.cascade` (8 lanes) of the rounded products. Bit-exact with mergekit.
    static func reduceInTorchOrder(
        _ io: TensorIO, d: DType, rowLength: Int, i1: Int, i2: Int, base: Int?, eps: Float
    ) throws -> [Float] {
        func r(_ v: Float) -> Float { Rounding.round(v, to: d) }
        let x = try io.gather()
        let n = x[0].count
        let vectors = io.taskVectors(x, [i1, i2], base: base)
        let a = vectors[0], b = vectors[1]
        let rows = rowLength == 0 ? 0 : n / rowLength
        func norms(_ v: [Float]) -> [Float] {
            (0..<rows).map { g in max(r(TorchNorm.l2(count: rowLength, dtype: d) { v[g * rowLength + $0] }), eps) }
        }
        let normA = norms(a), normB = norms(b)
        return (0..<rows).map { g in
            TorchSum.cascade(count: rowLength, vectorWidth: 8) { c in
                let e = g * rowLength + c
                return r(r(a[e] / normA[g]) * r(b[e] / normB[g]))
            }
        }
    }
}
