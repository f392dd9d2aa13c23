/// A LoRA adapter merged into one weight the way PEFT's `merge_and_unload` does it on the CPU: the
/// base loaded in `dtype`, the adapter's factors in float32, ΔW = (B·A) in float32 (k ascending, each
/// step a fused multiply-add — the order of the BLAS microkernel for a small inner dimension), times
/// `scaling` in float32, added to the base and rounded once to `dtype`.
public enum LoRAMerge {
    /// Writes `rows × cols` elements of `dtype` to `out`: row `i` is `round(W[i] + round(Σ_k c[i, k] · v[k]) · s)`.
    ///
    /// The delta's row `i` is `Σ_k coefficients[i·rank + k] · vectors[k·cols …]`: for a linear layer
    /// `coefficients` is B `[out, rank]` and `vectors` is A `[rank, in]`; for an embedding (and a
    /// transposed linear weight) `coefficients` is Aᵀ and `vectors` is Bᵀ.
    /// - Precondition: `baseDType` and `dtype` are f32, f16 or bf16.
    public static func apply(
        base: UnsafeRawPointer, baseDType: DType, rows: Int, cols: Int,
        coefficients: [Float], vectors: [Float], rank: Int, scaling: Float,
        dtype: DType, into out: UnsafeMutableRawPointer, threads: Int
    ) {
        precondition(coefficients.count == rows * rank && vectors.count == rank * cols)
        let rowsPerItem = max(1, (1 << 16) / max(1, cols))
        let items = (rows + rowsPerItem - 1) / rowsPerItem
        coefficients.withUnsafeBufferPointer { c in
            vectors.withUnsafeBufferPointer { v in
                nonisolated(unsafe) let c = c, v = v
                ParallelFor.run(count: items, threads: threads) { item in
                    let w = UnsafeMutablePointer<Float>.allocate(capacity: cols)
                    let d = UnsafeMutablePointer<Float>.allocate(capacity: cols)
                    defer { w.deallocate(); d.deallocate() }
                    for i in (item * rowsPerItem)..<min(rows, (item + 1) * rowsPerItem) {
                        Convert.widen(base + i * cols * baseDType.size, baseDType, count: cols, into: w)
                        if baseDType.size > dtype.size { Convert.round(w, count: cols, to: dtype) }
                        delta(c.baseAddress! + i * rank, v.baseAddress!, rank: rank, cols: cols, into: d)
                        for j in 0..<cols { w[j] += d[j] * scaling }
                        Convert.narrow(w, count: cols, to: dtype, into: out + i * cols * dtype.size)
                    }
                }
            }
        }
    }

    /// Converts `count` elements of `dtype` at `source` to `target` at `out` (rounded once), in chunks.
    public static func convert(
        _ source: UnsafeRawPointer, _ dtype: DType, count: Int, to target: DType, into out: UnsafeMutableRawPointer
    ) {
        let chunk = 1 << 14
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: chunk)
        defer { buffer.deallocate() }
        var done = 0
        while done < count {
            let n = min(chunk, count - done)
            Convert.widen(source + done * dtype.size, dtype, count: n, into: buffer)
            Convert.narrow(buffer, count: n, to: target, into: out + done * target.size)
            done += n
        }
    }

    /// `count` elements of `dtype` at `source` as floats (a LoRA factor).
    public static func floats(_ source: UnsafeRawPointer, _ dtype: DType, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            Convert.widen(source, dtype, count: count, into: buffer.baseAddress!)
            initialized = count
        }
    }

    /// The transpose of a row-major `rows × cols` matrix.
    public static func transposed(_ m: [Float], rows: Int, cols: Int) -> [Float] {
        var t = [Float](repeating: 0, count: m.count)
        for i in 0..<rows { for j in 0..<cols { t[j * rows + i] = m[i * cols + j] } }
        return t
    }

    /// `d[j] = Σ_k c[k] · v[k·cols + j]`, k ascending, as fused multiply-adds from 0.
    @inline(__always)
    static func delta(_ c: UnsafePointer<Float>, _ v: UnsafePointer<Float>, rank: Int, cols: Int, into d: UnsafeMutablePointer<Float>) {
        d.initialize(repeating: 0, count: cols)
        for k in 0..<rank {
            let ck = c[k]
            let row = v + k * cols
            for j in 0..<cols { d[j] = d[j].addingProduct(ck, row[j]) }
        }
    }
}
