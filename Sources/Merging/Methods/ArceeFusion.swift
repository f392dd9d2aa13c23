import Foundation
import Tensors

/// `arcee_fusion` — Arcee Fusion: take the other model's value only where its change is important,
/// importance being the size of the change times the row's KL divergence between the two models'
/// softmax distributions; the threshold is median + 1.5·IQR of the importances.
///
///     I = |b − a| ⊙ KL_row(softmax(b) + 1e-8 ‖ softmax(a) + 1e-8)
///     θ = Q₂(I) + 1.5·(Q₃(I) − Q₁(I)),  Q_q = the element at ⌊q·(k−1)⌋ of the sorted (sampled) I
///     R = a + (b − a)·[I ≥ θ]
///
/// As in mergekit 0.1.5 the mask is float32, so the result is float32 unless `out_dtype` says
/// otherwise. Tensors over 10⁶ elements take their quantiles from 10⁶ elements sampled with
/// replacement (indices `word mod n` from the merge's MT19937, as torch's `randint` on CPU).
public struct ArceeFusion: MergeMethod {
    public let name = "arcee_fusion"
    public let parameters: [ParameterSpec] = []
    public let contract = MethodContract(base: .required, minNonBase: 1, maxNonBase: 1)
    static let sampleSize = 1_000_000

    public var holdsWholeTensors: Bool { true }

    public init() {}

    public func resultDType(compute: DType) -> DType { .f32 }

    public func merge(_ task: TensorTask, _ io: TensorIO) throws {
        let x = try io.loadWhole()
        guard let a = task.baseIndex, let b = task.nonBase.first else { try io.writeWhole(x[0]); return }
        let d = task.computeDType
        func r(_ v: Float) -> Float { Rounding.round(v, to: d) }
        let n = task.count
        let rowLength = max(1, task.shape.last ?? n)
        let rows = n / rowLength
        let eps: Float = 1e-8
        func softmax(_ v: ArraySlice<Float>) -> [Float] {
            let m = v.max() ?? 0
            let e = v.map { expf($0 - m) }
            let s = e.reduce(Float(0), +)
            return e.map { r(r($0 / s) + eps) }
        }
        var importance = [Float](repeating: 0, count: n)
        for row in 0..<rows {
            let range = (row * rowLength)..<((row + 1) * rowLength)
            let p = softmax(x[b][range]), q = softmax(x[a][range])
            let kl = r(Float(p.indices.reduce(0.0) { $0 + Double(r(p[$1] * r(logf(r(p[$1] / q[$1]))))) }))
            for e in range { importance[e] = r(r(abs(r(x[b][e] - x[a][e]))) * kl) }
        }
        var sample: [Float]
        if n > Self.sampleSize {
            let words = UnsafeMutablePointer<UInt32>.allocate(capacity: Self.sampleSize)
            defer { words.deallocate() }
            io.random.generator.fill(words, count: Self.sampleSize)
            sample = (0..<Self.sampleSize).map { importance[Int(words[$0] % UInt32(n))] }
        } else {
            sample = importance
        }
        sample.sort()
        func quantile(_ q: Float) -> Float { sample[Int(q * Float(sample.count - 1))] }
        let (q1, median, q3) = (quantile(0.25), quantile(0.5), quantile(0.75))
        let threshold = r(median + r(1.5 * r(q3 - q1)))
        let out = (0..<n).map { e in importance[e] >= threshold ? x[a][e] + r(x[b][e] - x[a][e]) : x[a][e] + 0 }
        try io.writeWhole(out, roundingTo: .f32)
    }
}
