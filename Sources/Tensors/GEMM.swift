/// A weight matrix `W [rows, cols]` stored row-major as f32, f16 or bf16, read in place (typically
/// from a memory-mapped safetensors file): `rows` is the number of outputs, `cols` the number of inputs.
///
/// The pointer is not owned: whoever makes a `WeightMatrix` keeps the memory alive and unchanged
/// for as long as the value is used (a `Checkpoint` keeps its mapping for its lifetime), which is
/// what makes the `Sendable` conformance sound.
public struct WeightMatrix: @unchecked Sendable {
    public let data: UnsafeRawPointer
    public let dtype: DType
    public let rows: Int
    public let cols: Int

    /// - Precondition: `dtype` is f32, f16 or bf16; `rows`, `cols` ≥ 0.
    public init(data: UnsafeRawPointer, dtype: DType, rows: Int, cols: Int) {
        precondition(dtype.isComputed, "WeightMatrix: \(dtype) is not a computed dtype")
        precondition(rows >= 0 && cols >= 0)
        self.data = data
        self.dtype = dtype
        self.rows = rows
        self.cols = cols
    }

    /// Bytes of stored data.
    public var byteCount: Int { rows * cols * dtype.size }

    /// Element `(r, c)` widened to Float.
    @inline(__always) public func element(_ r: Int, _ c: Int) -> Float { dtype.load(data, r &* cols &+ c) }

    /// Row `r` widened into `destination` (`cols` floats).
    public func widenRow(_ r: Int, into destination: UnsafeMutablePointer<Float>) {
        Convert.widen(data + r * cols * dtype.size, dtype, count: cols, into: destination)
    }
}

/// Matrix products `y = x · Wᵀ` of float32 activations with a stored weight matrix, accumulated in
/// float32.
///
/// `x` is `[m, k]` row-major, `W` is `[n, k]` (a `WeightMatrix`), `y` is `[m, n]`. With `m == 1`
/// the product is a GEMV that streams `W` once, four rows at a time with independent SIMD
/// accumulators (memory-bound); up to `m = 8` a skinny product streams each row of `W` once per
/// four rows of `x`. Beyond that it is a packed, register-blocked GEMM: `x` is packed once into
/// transposed panels of 16 rows (`[p][16]`), rows of `W` are converted to f32 `KC` columns at a
/// time (a contiguous, vectorised widening; f32 rows are read in place), and a 6×16 micro-kernel
/// (12 `ymm` accumulators on AVX2) broadcasts six `W` elements against one 16-row `x` vector. Both split the work over
/// output columns, so every output element is computed by one thread in a fixed order: results do
/// not depend on `threads`.
public enum GEMM {
    /// Rows of `x` per packed panel (SIMD16 lanes of the micro-kernel).
    static let xr = 16
    /// Rows of `W` per micro-kernel call (broadcast operands).
    static let wr = 6
    static let kc = 1024
    /// Rows of `W` (output columns) per work item of the blocked path (a multiple of `wr`).
    static let nc = 48
    /// Up to this many rows, products stream `W` once per group of four rows instead of packing it.
    static let skinnyLimit = 8

    /// `y[m, n] = x[m, k] · Wᵀ (+ bias[n])`, using the GEMV path for `m == 1` and the blocked path
    /// otherwise. `y` must not overlap `x`.
    public static func multiply(
        _ x: UnsafePointer<Float>, rows m: Int, _ w: WeightMatrix, bias: UnsafePointer<Float>? = nil,
        into y: UnsafeMutablePointer<Float>, threads: Int = 1
    ) {
        if m == 1 {
            gemv(x, w, bias: bias, into: y, threads: threads)
        } else if m <= skinnyLimit {
            var i = 0
            while i < m {
                let rows = min(4, m - i)
                skinny(x + i * w.cols, rows: rows, w, bias: bias, into: y + i * w.rows, threads: threads)
                i += rows
            }
        } else {
            blocked(x, rows: m, w, bias: bias, into: y, threads: threads)
        }
    }

    /// Scalar reference: every element summed in Double in index order, then rounded to Float.
    public static func reference(
        _ x: UnsafePointer<Float>, rows m: Int, _ w: WeightMatrix, bias: UnsafePointer<Float>? = nil,
        into y: UnsafeMutablePointer<Float>
    ) {
        let n = w.rows, k = w.cols
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k { s += Double(x[i * k + p]) * Double(w.element(j, p)) }
                if let bias { s += Double(bias[j]) }
                y[i * n + j] = Float(s)
            }
        }
    }

    /// How many workers a product of `flops` multiply-adds deserves (small ones stay on one thread).
    static func workers(_ threads: Int, work: Int) -> Int {
        work < 1 << 17 ? 1 : max(1, threads)
    }

    // MARK: - GEMV (m = 1)

    /// `y[n] = W · x (+ bias)`: rows of `W` in work items of 64, four rows at a time.
    public static func gemv(
        _ x: UnsafePointer<Float>, _ w: WeightMatrix, bias: UnsafePointer<Float>? = nil,
        into y: UnsafeMutablePointer<Float>, threads: Int = 1
    ) {
        let n = w.rows, k = w.cols
        guard n > 0 else { return }
        let rowsPerItem = 64
        let items = (n + rowsPerItem - 1) / rowsPerItem
        let shared = UncheckedBox((x, y, bias))
        let body: (Int) -> Void
        switch w.dtype {
        case .bf16, .f16:
            // The "pairs" layout: 32 16-bit values loaded as 16 UInt32 lanes give the even elements
            // (low halves) and the odd ones (high halves); x is de-interleaved to match.
            let blocks = k / 32
            var xd = [Float](repeating: 0, count: blocks * 32)
            for b in 0..<blocks {
                for l in 0..<16 {
                    xd[b * 32 + l] = x[b * 32 + 2 * l]
                    xd[b * 32 + 16 + l] = x[b * 32 + 2 * l + 1]
                }
            }
            let isBF16 = w.dtype == .bf16
            xd.withUnsafeBufferPointer { xdb in
                let xdp = UncheckedBox(xdb.baseAddress)
                ParallelFor.run(count: items, threads: workers(threads, work: n * k)) { item in
                    let (x, y, bias) = shared.value
                    let lo = item * rowsPerItem, hi = min(n, lo + rowsPerItem)
                    if isBF16 {
                        gemvRowsPairs(BF16Pairs.self, x, xdp.value, w, lo, hi, bias, y)
                    } else {
                        gemvRowsPairs(F16Pairs.self, x, xdp.value, w, lo, hi, bias, y)
                    }
                }
            }
            return
        default:
            body = { item in
                let (x, y, bias) = shared.value
                let lo = item * rowsPerItem, hi = min(n, lo + rowsPerItem)
                gemvRowsF32(x, w.data.assumingMemoryBound(to: Float.self), k, lo, hi, bias, y)
            }
        }
        ParallelFor.run(count: items, threads: workers(threads, work: n * k), body)
    }

    @inline(__always)
    static func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }

    /// Rows `lo..<hi` of an f32 matrix times `x` (also used on f16 rows widened into scratch).
    static func gemvRowsF32(
        _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ k: Int, _ lo: Int, _ hi: Int,
        _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>
    ) {
        let k16 = k & ~15
        var r = lo
        while r + 4 <= hi {
            let w0 = w + r * k, w1 = w0 + k, w2 = w1 + k, w3 = w2 + k
            var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
            var p = 0
            while p < k16 {
                let xv = load16(x + p)
                a0.addProduct(load16(w0 + p), xv)
                a1.addProduct(load16(w1 + p), xv)
                a2.addProduct(load16(w2 + p), xv)
                a3.addProduct(load16(w3 + p), xv)
                p &+= 16
            }
            var s0 = a0.sum(), s1 = a1.sum(), s2 = a2.sum(), s3 = a3.sum()
            while p < k {
                let xs = x[p]
                s0 += w0[p] * xs; s1 += w1[p] * xs; s2 += w2[p] * xs; s3 += w3[p] * xs
                p &+= 1
            }
            if let bias { s0 += bias[r]; s1 += bias[r + 1]; s2 += bias[r + 2]; s3 += bias[r + 3] }
            y[r] = s0; y[r + 1] = s1; y[r + 2] = s2; y[r + 3] = s3
            r += 4
        }
        while r < hi {
            let w0 = w + r * k
            var a0 = SIMD16<Float>()
            var p = 0
            while p < k16 { a0.addProduct(load16(w0 + p), load16(x + p)); p &+= 16 }
            var s0 = a0.sum()
            while p < k { s0 += w0[p] * x[p]; p &+= 1 }
            if let bias { s0 += bias[r] }
            y[r] = s0
            r += 1
        }
    }

    /// Rows `lo..<hi` of a bf16 or f16 matrix times `x`, with `xd` the de-interleaved copy of
    /// `x`'s whole 32-blocks.
    static func gemvRowsPairs<D: PairDecoder>(
        _: D.Type, _ x: UnsafePointer<Float>, _ xd: UnsafePointer<Float>?, _ w: WeightMatrix, _ lo: Int, _ hi: Int,
        _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>
    ) {
        let k = w.cols
        let k32 = k & ~31
        let base = w.data
        @inline(__always) func pair(_ p: UnsafeRawPointer) -> (SIMD16<Float>, SIMD16<Float>) {
            D.decode(p.loadUnaligned(as: SIMD16<UInt32>.self))
        }
        @inline(__always) func tail(_ row: UnsafeRawPointer, _ from: Int) -> Float {
            var s: Float = 0
            for p in from..<k { s += D.scalar(row, p) * x[p] }
            return s
        }
        let rowBytes = k * 2
        var r = lo
        while r + 4 <= hi {
            let w0 = base + r * rowBytes, w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes
            var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
            var b0 = SIMD16<Float>(), b1 = SIMD16<Float>(), b2 = SIMD16<Float>(), b3 = SIMD16<Float>()
            var p = 0
            if let xd {
                while p < k32 {
                    let xe = load16(xd + p), xo = load16(xd + p + 16)
                    let off = p &* 2
                    let (e0, o0) = pair(w0 + off)
                    a0.addProduct(e0, xe); b0.addProduct(o0, xo)
                    let (e1, o1) = pair(w1 + off)
                    a1.addProduct(e1, xe); b1.addProduct(o1, xo)
                    let (e2, o2) = pair(w2 + off)
                    a2.addProduct(e2, xe); b2.addProduct(o2, xo)
                    let (e3, o3) = pair(w3 + off)
                    a3.addProduct(e3, xe); b3.addProduct(o3, xo)
                    p &+= 32
                }
            }
            var s0 = (a0 + b0).sum() + tail(w0, p), s1 = (a1 + b1).sum() + tail(w1, p)
            var s2 = (a2 + b2).sum() + tail(w2, p), s3 = (a3 + b3).sum() + tail(w3, p)
            if let bias { s0 += bias[r]; s1 += bias[r + 1]; s2 += bias[r + 2]; s3 += bias[r + 3] }
            y[r] = s0; y[r + 1] = s1; y[r + 2] = s2; y[r + 3] = s3
            r += 4
        }
        while r < hi {
            let w0 = base + r * rowBytes
            var a0 = SIMD16<Float>(), b0 = SIMD16<Float>()
            var p = 0
            if let xd {
                while p < k32 {
                    let (e0, o0) = pair(w0 + p &* 2)
                    a0.addProduct(e0, load16(xd + p)); b0.addProduct(o0, load16(xd + p + 16))
                    p &+= 32
                }
            }
            var s0 = (a0 + b0).sum() + tail(w0, p)
            if let bias { s0 += bias[r] }
            y[r] = s0
            r += 1
        }
    }

    // MARK: - Skinny products (2 ≤ m ≤ 4 per pass)

    /// `y[m, n] = x[m, k] · Wᵀ (+ bias)` for `m ≤ 4`, streaming each row of `W` once against all
    /// rows of `x` (batched decode): memory-bound like the GEMV.
    public static func skinny(
        _ x: UnsafePointer<Float>, rows m: Int, _ w: WeightMatrix, bias: UnsafePointer<Float>? = nil,
        into y: UnsafeMutablePointer<Float>, threads: Int = 1
    ) {
        precondition(m >= 1 && m <= 4)
        let n = w.rows, k = w.cols
        guard n > 0 else { return }
        let rowsPerItem = 32
        let items = (n + rowsPerItem - 1) / rowsPerItem
        // bf16 and f16 rows are read in the "pairs" layout, so x rows are de-interleaved per 32-block.
        let k32 = w.dtype == .f32 ? 0 : k & ~31
        let xd = UnsafeMutablePointer<Float>.allocate(capacity: max(1, 4 * k32))
        defer { xd.deallocate() }
        for r in 0..<4 {
            let src = x + min(r, m - 1) * k, dst = xd + r * k32
            for b in 0..<(k32 / 32) {
                for l in 0..<16 {
                    dst[b * 32 + l] = src[b * 32 + 2 * l]
                    dst[b * 32 + 16 + l] = src[b * 32 + 2 * l + 1]
                }
            }
        }
        let shared = UncheckedBox((x, y, bias, UnsafePointer(xd)))
        ParallelFor.run(count: items, threads: workers(threads, work: m * n * k)) { item in
            let (x, y, bias, xd) = shared.value
            let lo = item * rowsPerItem, hi = min(n, lo + rowsPerItem)
            let x0 = x, x1 = x + min(1, m - 1) * k, x2 = x + min(2, m - 1) * k, x3 = x + min(3, m - 1) * k
            for j in lo..<hi {
                let sums: SIMD4<Float>
                switch w.dtype {
                case .bf16: sums = dot4Pairs(BF16Pairs.self, w.data + j * k * 2, k, xd, k32, x0, x1, x2, x3)
                case .f16: sums = dot4Pairs(F16Pairs.self, w.data + j * k * 2, k, xd, k32, x0, x1, x2, x3)
                default: sums = dot4(w.data.assumingMemoryBound(to: Float.self) + j * k, k, x0, x1, x2, x3)
                }
                let b = bias?[j] ?? 0
                for r in 0..<m { y[r * n + j] = sums[r] + b }
            }
        }
    }

    /// One f32 row of `W` against four rows of `x`.
    @inline(__always)
    static func dot4(
        _ w: UnsafePointer<Float>, _ k: Int, _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>,
        _ x2: UnsafePointer<Float>, _ x3: UnsafePointer<Float>
    ) -> SIMD4<Float> {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
        var p = 0
        while p + 16 <= k {
            let wv = load16(w + p)
            a0.addProduct(wv, load16(x0 + p))
            a1.addProduct(wv, load16(x1 + p))
            a2.addProduct(wv, load16(x2 + p))
            a3.addProduct(wv, load16(x3 + p))
            p &+= 16
        }
        var s = SIMD4(a0.sum(), a1.sum(), a2.sum(), a3.sum())
        while p < k {
            s += SIMD4(x0[p], x1[p], x2[p], x3[p]) * w[p]
            p &+= 1
        }
        return s
    }

    /// One bf16 or f16 row of `W` against four rows of `x` (`xd`: their de-interleaved 32-blocks,
    /// `k32` floats per row).
    @inline(__always)
    static func dot4Pairs<D: PairDecoder>(
        _: D.Type, _ w: UnsafeRawPointer, _ k: Int, _ xd: UnsafePointer<Float>, _ k32: Int, _ x0: UnsafePointer<Float>,
        _ x1: UnsafePointer<Float>, _ x2: UnsafePointer<Float>, _ x3: UnsafePointer<Float>
    ) -> SIMD4<Float> {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
        let d0 = xd, d1 = xd + k32, d2 = xd + 2 * k32, d3 = xd + 3 * k32
        var p = 0
        while p < k32 {
            let (e, o) = D.decode((w + p &* 2).loadUnaligned(as: SIMD16<UInt32>.self))
            a0.addProduct(e, load16(d0 + p)); a0.addProduct(o, load16(d0 + p + 16))
            a1.addProduct(e, load16(d1 + p)); a1.addProduct(o, load16(d1 + p + 16))
            a2.addProduct(e, load16(d2 + p)); a2.addProduct(o, load16(d2 + p + 16))
            a3.addProduct(e, load16(d3 + p)); a3.addProduct(o, load16(d3 + p + 16))
            p &+= 32
        }
        var s = SIMD4(a0.sum(), a1.sum(), a2.sum(), a3.sum())
        while p < k {
            s += SIMD4(x0[p], x1[p], x2[p], x3[p]) * D.scalar(w, p)
            p &+= 1
        }
        return s
    }

    // MARK: - Blocked GEMM (m > 8)

    /// `y[m, n] = x[m, k] · Wᵀ (+ bias)` with packed `x` panels and a 6×16 micro-kernel.
    public static func blocked(
        _ x: UnsafePointer<Float>, rows m: Int, _ w: WeightMatrix, bias: UnsafePointer<Float>? = nil,
        into y: UnsafeMutablePointer<Float>, threads: Int = 1
    ) {
        let n = w.rows, k = w.cols
        guard m > 0, n > 0 else { return }
        for i in 0..<m {
            let row = y + i * n
            if let bias { row.update(from: bias, count: n) } else { row.initialize(repeating: 0, count: n) }
        }
        guard k > 0 else { return }
        // x packed as panels of 16 rows, [panel][p][16], zero-padded.
        let xPanels = (m + xr - 1) / xr
        let xt = UnsafeMutablePointer<Float>.allocate(capacity: xPanels * k * xr)
        defer { xt.deallocate() }
        for panel in 0..<xPanels {
            let dst = xt + panel * k * xr
            for lane in 0..<xr {
                let i = panel * xr + lane
                if i < m {
                    let src = x + i * k
                    for p in 0..<k { dst[p &* 16 &+ lane] = src[p] }
                } else {
                    for p in 0..<k { dst[p &* 16 &+ lane] = 0 }
                }
            }
        }
        let items = (n + nc - 1) / nc
        let workerCount = min(workers(threads, work: m * n * k), items)
        // Per worker: nc converted W rows of kc floats, plus one zero row.
        let bufferSize = (nc + 1) * kc
        let buffers = UnsafeMutablePointer<Float>.allocate(capacity: workerCount * bufferSize)
        buffers.initialize(repeating: 0, count: workerCount * bufferSize)
        defer { buffers.deallocate() }
        let shared = UncheckedBox((UnsafePointer(xt), y, buffers))
        ParallelFor.run(count: items, threads: workerCount) { item, worker in
            let (xt, y, buffers) = shared.value
            let buffer = buffers + worker * bufferSize
            let zeros = UnsafePointer(buffer + nc * kc)
            let j0 = item * nc
            let rows = min(nc, n - j0)
            var kb = 0
            while kb < k {
                let kl = min(kc, k - kb)
                // Row pointers of W for this K block: in place for f32, else widened into the buffer.
                let stride: Int
                let base: UnsafePointer<Float>
                if w.dtype == .f32 {
                    base = w.data.assumingMemoryBound(to: Float.self) + j0 * k + kb
                    stride = k
                } else {
                    for r in 0..<rows {
                        let source = w.data + ((j0 + r) * k + kb) * w.dtype.size
                        Convert.widen(source, w.dtype, count: kl, into: buffer + r * kl)
                    }
                    base = UnsafePointer(buffer)
                    stride = kl
                }
                for panel in 0..<xPanels {
                    let b = xt + panel * k * xr + kb * xr
                    let lanes = min(xr, m - panel * xr)
                    let out = y + panel * xr * n
                    var r = 0
                    while r < rows {
                        let valid = min(wr, rows - r)
                        let a0 = base + r * stride
                        let a1 = valid > 1 ? a0 + stride : zeros
                        let a2 = valid > 2 ? a0 + 2 * stride : zeros
                        let a3 = valid > 3 ? a0 + 3 * stride : zeros
                        let a4 = valid > 4 ? a0 + 4 * stride : zeros
                        let a5 = valid > 5 ? a0 + 5 * stride : zeros
                        micro(a0, a1, a2, a3, a4, a5, b, kl, out + j0 + r, n, valid, lanes)
                        r += wr
                    }
                }
                kb += kl
            }
        }
    }

    /// The 6×16 micro-kernel: for `W` rows `a0…a5` and a packed 16-row `x` panel `b`, adds
    /// `Σ_p a_r[p] · b[p][lane]` to `c[lane · ldc + r]` for the first `rows` W rows and `lanes` x rows.
    @inline(__always)
    static func micro(
        _ a0: UnsafePointer<Float>, _ a1: UnsafePointer<Float>, _ a2: UnsafePointer<Float>,
        _ a3: UnsafePointer<Float>, _ a4: UnsafePointer<Float>, _ a5: UnsafePointer<Float>,
        _ b: UnsafePointer<Float>, _ kl: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ rows: Int, _ lanes: Int
    ) {
        var c0 = SIMD16<Float>(), c1 = SIMD16<Float>(), c2 = SIMD16<Float>()
        var c3 = SIMD16<Float>(), c4 = SIMD16<Float>(), c5 = SIMD16<Float>()
        var p = 0
        while p < kl {
            let bv = load16(b + p &* 16)
            c0.addProduct(SIMD16(repeating: a0[p]), bv)
            c1.addProduct(SIMD16(repeating: a1[p]), bv)
            c2.addProduct(SIMD16(repeating: a2[p]), bv)
            c3.addProduct(SIMD16(repeating: a3[p]), bv)
            c4.addProduct(SIMD16(repeating: a4[p]), bv)
            c5.addProduct(SIMD16(repeating: a5[p]), bv)
            p &+= 1
        }
        @inline(__always) func store(_ v: SIMD16<Float>, _ r: Int) {
            for lane in 0..<lanes { c[lane &* ldc &+ r] += v[lane] }
        }
        store(c0, 0)
        if rows > 1 { store(c1, 1) }
        if rows > 2 { store(c2, 2) }
        if rows > 3 { store(c3, 3) }
        if rows > 4 { store(c4, 4) }
        if rows > 5 { store(c5, 5) }
    }
}

/// Decodes 32 stored 16-bit floats loaded as 16 `UInt32` lanes into their even (low halves) and
/// odd (high halves) elements as f32, with same-width integer operations only (no lane-width
/// conversion, which Swift's generic SIMD layer compiles to out-of-line calls).
protocol PairDecoder {
    static func decode(_ v: SIMD16<UInt32>) -> (SIMD16<Float>, SIMD16<Float>)
    /// Element `i` of a row of this format.
    static func scalar(_ row: UnsafeRawPointer, _ i: Int) -> Float
}

/// bf16: the value is the top half of an f32.
enum BF16Pairs: PairDecoder {
    @inline(__always) static func decode(_ v: SIMD16<UInt32>) -> (SIMD16<Float>, SIMD16<Float>) {
        (unsafeBitCast(v &<< 16, to: SIMD16<Float>.self),
         unsafeBitCast(v & SIMD16(repeating: 0xFFFF_0000), to: SIMD16<Float>.self))
    }
    @inline(__always) static func scalar(_ row: UnsafeRawPointer, _ i: Int) -> Float { BF16Format.load(row, i) }
}

/// f16, exactly: the magnitude bits shifted into an f32 and multiplied by 2¹¹² (which also makes
/// subnormals exact), the exponent forced to all ones for ∞/NaN, then the sign.
enum F16Pairs: PairDecoder {
    @inline(__always) static func half(_ h: SIMD16<UInt32>) -> SIMD16<Float> {
        let magnitude = h & 0x7FFF
        let scaled = unsafeBitCast(magnitude &<< 13, to: SIMD16<Float>.self) * 0x1p112
        let infNaN = ((magnitude &+ 0x0400) &>> 15) &* 0x7F80_0000
        let bits = unsafeBitCast(scaled, to: SIMD16<UInt32>.self) | infNaN | ((h & 0x8000) &<< 16)
        return unsafeBitCast(bits, to: SIMD16<Float>.self)
    }
    @inline(__always) static func decode(_ v: SIMD16<UInt32>) -> (SIMD16<Float>, SIMD16<Float>) {
        (half(v & 0xFFFF), half(v &>> 16))
    }
    @inline(__always) static func scalar(_ row: UnsafeRawPointer, _ i: Int) -> Float { F16Format.load(row, i) }
}
