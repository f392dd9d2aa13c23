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

    public init() {}

    /// Replaces a row by its exponentials e^(v − max) and returns their float32 sum, as torch's
    /// softmax over the last dimension does on CPU (`_vec_softmax_lastdim`, AVX-512: 16-lane
    /// float vectors, as on the machine that made the reference merges); the caller multiplies by
    /// the sum's reciprocal, as torch does. Vector lanes use SLEEF's exponential (`SleefExp`);
    /// lanes accumulate whole vectors and a butterfly adds them (lane i + lane i⊕8, then ⊕4, ⊕2,
    /// ⊕1). For bf16/f16 rows (`reduced`) the leftover elements take the C library's `expf` and are
    /// added one by one after the butterfly; a float32 row adds them lane-wise into the first
    /// lanes before it, and one shorter than a vector is summed in order. (The plain `expf` and an
    /// in-order sum got one element in a few hundred rows a rounding off — enough to move an
    /// importance onto the threshold.)
    static func softmaxExponentials(_ v: inout [Float], reduced: Bool) -> Float {
        let width = 16, n = v.count
        let whole = n - n % width
        let m = v.max() ?? 0
        for c in v.indices { v[c] = reduced && c >= whole ? expf(v[c] - m) : SleefExp.exp(v[c] - m) }
        if !reduced && n < width { return v.reduce(0, +) }
        var lanes = [Float](repeating: 0, count: width)
        var d = 0
        while d < whole {
            for l in 0..<width { lanes[l] += v[d + l] }
            d += width
        }
        if !reduced { for l in 0..<(n - whole) { lanes[l] += v[whole + l] } }
        var k = width / 2
        while k >= 1 {
            lanes = (0..<width).map { lanes[$0] + lanes[$0 ^ k] }
            k /= 2
        }
        var sum = lanes[0]
        if reduced { for c in whole..<n { sum += v[c] } }
        return sum
    }

    public func resultDType(compute: DType) -> DType { .f32 }

    /// Streams: a row pass for each row's KL divergence (floats, one per row), the quantiles from
    /// importances computed where sampled, then the element-wise pass.
    public func merge(_ task: TensorTask, _ io: TensorIO) throws {
        guard let a = task.baseIndex, let b = task.nonBase.first else {
            try io.copyInput(0)
            return
        }
        let d = task.computeDType
        func r(_ v: Float) -> Float { Rounding.round(v, to: d) }
        let n = task.count
        let rowLength = max(1, task.shape.last ?? n)
        let rows = n / rowLength
        let eps: Float = 1e-8
        let (da, db) = (task.inputs[a].dtype, task.inputs[b].dtype)
        var kl = [Float](repeating: 0, count: rows)
        kl.withUnsafeMutableBufferPointer { klBuffer in
            let out = UncheckedBox(klBuffer.baseAddress!)
            io.forEachRows(rowLength: rowLength) { range, inputs in
                var p = [Float](repeating: 0, count: rowLength), q = p
                // softmax(v) + ε as torch's CPU kernel computes it (`Self.softmaxExponentials`).
                func softmax(_ v: inout [Float]) {
                    let s = Self.softmaxExponentials(&v, reduced: d != .f32)
                    let inverse = 1 / s
                    for c in v.indices { v[c] = r(r(v[c] * inverse) + eps) }
                }
                for row in range {
                    let first = (row - range.lowerBound) * rowLength
                    for c in 0..<rowLength {
                        p[c] = r(db.load(inputs[b], first + c))
                        q[c] = r(da.load(inputs[a], first + c))
                    }
                    softmax(&p)
                    softmax(&q)
                    out.value[row] = r(TorchSum.cascade(count: rowLength, vectorWidth: 8) { c in r(p[c] * r(logf(r(p[c] / q[c])))) })
                }
            }
        }
        // I = |b − a| ⊙ KL_row at element e, from compute-dtype values.
        let importance: (Int, Float, Float) -> Float = { e, av, bv in r(r(abs(r(bv - av))) * kl[e / rowLength]) }
        let pa = task.inputs[a].location.data, pb = task.inputs[b].location.data
        func stored(_ e: Int) -> Float { importance(e, r(da.load(pa, e)), r(db.load(pb, e))) }
        var sample: [Float]
        if n > Self.sampleSize {
            var indices = [Int](repeating: 0, count: Self.sampleSize)
            indices.withUnsafeMutableBufferPointer { p in
                let words = UnsafeMutablePointer<UInt32>.allocate(capacity: Self.sampleSize)
                defer { words.deallocate() }
                io.random.generator.fill(words, count: Self.sampleSize)
                for i in 0..<Self.sampleSize { p[i] = Int(words[i] % UInt32(n)) }
            }
            // Quantiles depend only on the values drawn: visit them in index order, dropping the
            // pages behind (the draws cover the whole tensor).
            indices.sort()
            sample = []
            sample.reserveCapacity(indices.count)
            var done = 0
            for e in indices {
                if e - done >= TensorIO.itemSize {
                    io.release(item: done..<(e / TensorIO.itemSize * TensorIO.itemSize))
                    done = e / TensorIO.itemSize * TensorIO.itemSize
                }
                sample.append(stored(e))
            }
        } else {
            sample = (0..<n).map(stored)
        }
        io.releaseInputs()
        sample.sort()
        func quantile(_ q: Float) -> Float { sample[Int(q * Float(sample.count - 1))] }
        let (q1, median, q3) = (quantile(0.25), quantile(0.5), quantile(0.75))
        let threshold = r(median + r(1.5 * r(q3 - q1)))
        try io.elementwise(roundingTo: .f32) { block in
            for e in 0..<block.count {
                let av = block.inputs[a][e], bv = block.inputs[b][e]
                block.out[e] = importance(block.offset + e, av, bv) >= threshold ? av + r(bv - av) : av + 0
            }
        }
    }
}
