import Foundation
import Tensors

/// How a task-vector method thins each model's delta δ = x − base before merging
/// (mergekit-spec §3.6.2–3.6.6).
public enum Sparsifier: Sendable {
    /// Keep everything (task arithmetic).
    case none
    /// Keep the k = max(1, ⌊density·n⌋) largest |δ| (TIES).
    case magnitude
    /// Keep each element with probability `density`, drawn from the merge's MT19937 (DARE).
    case random
    /// Sort |δ| ascending, drop the ⌊γ·n⌋ largest as outliers and the smallest so ⌊density·n⌋ stay (breadcrumbs).
    case outliers
    /// Per row, keep probability density − ε + 2ε·(rank of |δ| normalised to [0, 1]) (DELLA).
    case della
}

/// The outcome of sparsifying one model's delta for one tensor.
struct SparsifiedDelta {
    var keep: Bitmask?
    var scale: Float?
    var scaleDType: DType
}

/// Builds keep-masks and rescale factors by streaming over the tensor: no model's delta is ever
/// held whole. Magnitude ranks use `RadixSelect` on the float bit patterns of |δ|; among equal
/// magnitudes the element with the lower flat index ranks lower (so top-k keeps the later ones) —
/// mergekit breaks such ties arbitrarily (torch's unstable sort), see the fixtures' README.
struct SparsificationPass {
    let io: TensorIO
    let task: TensorTask
    let base: Int

    var n: Int { task.count }
    var compute: DType { task.computeDType }

    /// The working dtype of the random sparsifiers: bf16 stays bf16, f16/f32 work in f32 (CPU rules).
    var randomWorkDType: DType { compute == .bf16 ? .bf16 : .f32 }

    func run(_ kind: Sparsifier, input j: Int, density: Double, gamma: Double, epsilon: Double, rescale: Bool) throws -> SparsifiedDelta {
        guard kind != .none, density < 1 else { return SparsifiedDelta(keep: nil, scale: nil, scaleDType: compute) }
        var workDType = compute
        let keep: Bitmask
        switch kind {
        case .none:
            preconditionFailure()
        case .magnitude:
            if density <= 0 { return SparsifiedDelta(keep: Bitmask(count: n), scale: nil, scaleDType: compute) }
            let k = max(1, Int(density * Double(n)))
            keep = try rankRange(j, (n - k)..<n)
        case .outliers:
            let target = Int(density * Double(n))
            let top = Int(gamma * Double(n))
            let bottom = max(0, n - target - top)
            keep = target > 0 ? try rankRange(j, bottom..<(bottom + target)) : Bitmask(count: n)
        case .random:
            workDType = randomWorkDType
            keep = bernoulli(Rounding.round(density, to: workDType))
        case .della:
            workDType = randomWorkDType
            if density <= 0 { return SparsifiedDelta(keep: Bitmask(count: n), scale: nil, scaleDType: compute) }
            keep = try della(j, density: density, epsilon: epsilon, work: workDType)
        }
        var scale: Float?
        if rescale { scale = try l1Rescale(j, keep, work: workDType) }
        return SparsifiedDelta(keep: keep, scale: scale, scaleDType: workDType)
    }

    // MARK: Magnitude ranks

    /// Elements whose ascending rank of |δ| lies in `ranks` (ties: lower index, lower rank).
    func rankRange(_ j: Int, _ ranks: Range<Int>) throws -> Bitmask {
        let keep = Bitmask(count: n)
        guard !ranks.isEmpty else { return keep }
        let items = io.items
        let d = compute, b = base
        // Pass 1: per-item histograms of the high 16 bits of |δ|.
        let high = UnsafeMutablePointer<Int>.allocate(capacity: items * 65536)
        high.initialize(repeating: 0, count: items * 65536)
        defer { high.deallocate() }
        let highBox = UncheckedSendable(high)
        try io.forEachBlock(only: [j, b]) { item, block in
            let h = highBox.value + item * 65536
            let bits = magnitudes(block, j, b, d)
            for i in 0..<block.count { h[Int(bits[i] >> 16)] += 1 }
        }
        var totalHigh = [Int](repeating: 0, count: 65536)
        for item in 0..<items { for k in 0..<65536 { totalHigh[k] += high[item * 65536 + k] } }
        let lo = totalHigh.withUnsafeBufferPointer { RadixSelect.locate($0.baseAddress!, bins: 65536, rank: ranks.lowerBound) }
        let hi = totalHigh.withUnsafeBufferPointer { RadixSelect.locate($0.baseAddress!, bins: 65536, rank: ranks.upperBound - 1) }
        // Pass 2: per-item histograms of the low 16 bits inside the two chosen high bins — not
        // needed for bfloat16 deltas, whose low 16 bits are zero (the high bin is the value).
        let binLo = UInt32(lo.bin), binHi = UInt32(hi.bin)
        let tLo: UInt32, tHi: UInt32, belowLo: Int, belowHi: Int
        var tiesLo = [Int](repeating: 0, count: items + 1), tiesHi = [Int](repeating: 0, count: items + 1)
        if d == .bf16 {
            (tLo, tHi, belowLo, belowHi) = (binLo << 16, binHi << 16, lo.below, hi.below)
            for item in 0..<items {
                tiesLo[item + 1] = tiesLo[item] + high[item * 65536 + lo.bin]
                tiesHi[item + 1] = tiesHi[item] + high[item * 65536 + hi.bin]
            }
        } else {
            let low = UnsafeMutablePointer<Int>.allocate(capacity: items * 2 * 65536)
            low.initialize(repeating: 0, count: items * 2 * 65536)
            defer { low.deallocate() }
            let lowBox = UncheckedSendable(low)
            try io.forEachBlock(only: [j, b]) { item, block in
                let h = lowBox.value + item * 2 * 65536
                let bits = magnitudes(block, j, b, d)
                for i in 0..<block.count {
                    let top = bits[i] >> 16
                    if top == binLo { h[Int(bits[i] & 0xFFFF)] += 1 }
                    if top == binHi { h[65536 + Int(bits[i] & 0xFFFF)] += 1 }
                }
            }
            var totalLo = [Int](repeating: 0, count: 65536), totalHi = [Int](repeating: 0, count: 65536)
            for item in 0..<items {
                for k in 0..<65536 {
                    totalLo[k] += low[item * 131072 + k]
                    totalHi[k] += low[item * 131072 + 65536 + k]
                }
            }
            let l = totalLo.withUnsafeBufferPointer { RadixSelect.locate($0.baseAddress!, bins: 65536, rank: ranks.lowerBound - lo.below) }
            let h = totalHi.withUnsafeBufferPointer { RadixSelect.locate($0.baseAddress!, bins: 65536, rank: ranks.upperBound - 1 - hi.below) }
            (tLo, tHi) = (binLo << 16 | UInt32(l.bin), binHi << 16 | UInt32(h.bin))
            (belowLo, belowHi) = (lo.below + l.below, hi.below + h.below)
            // Ties before each item, in index order.
            for item in 0..<items {
                tiesLo[item + 1] = tiesLo[item] + low[item * 131072 + l.bin]
                tiesHi[item + 1] = tiesHi[item] + low[item * 131072 + 65536 + h.bin]
            }
        }
        // Pass 3: the mask. Blocks of an item arrive in order on one worker: running tie counters per item.
        let counters = UnsafeMutablePointer<(Int, Int)>.allocate(capacity: items)
        for item in 0..<items { counters[item] = (tiesLo[item], tiesHi[item]) }
        defer { counters.deallocate() }
        let countersBox = UncheckedSendable(counters)
        let rlo = ranks.lowerBound, rhi = ranks.upperBound
        try io.forEachBlock(only: [j, b]) { item, block in
            var (eqLo, eqHi) = countersBox.value[item]
            let bits = magnitudes(block, j, b, d)
            // Blocks start on multiples of 64 elements: build whole mask words.
            var i = 0
            while i < block.count {
                let c = min(64, block.count - i)
                var word: UInt64 = 0
                for k in 0..<c {
                    let v = bits[i + k]
                    if v == tLo || v == tHi {
                        var kept = true
                        if v == tLo {
                            if belowLo + eqLo < rlo { kept = false }
                            eqLo += 1
                        }
                        if v == tHi {
                            if belowHi + eqHi >= rhi { kept = false }
                            eqHi += 1
                        }
                        if kept { word |= 1 << UInt64(k) }
                    } else {
                        word |= UInt64(v > tLo && v < tHi ? 1 : 0) << UInt64(k)
                    }
                }
                keep.words[(block.offset + i) >> 6] = word
                i += c
            }
            countersBox.value[item] = (eqLo, eqHi)
        }
        return keep
    }

    /// |D(xⱼ − b)| bit patterns of a block, in the block's first scratch buffer.
    @inline(__always)
    func magnitudes(_ block: Block, _ j: Int, _ b: Int, _ d: DType) -> UnsafeMutablePointer<UInt32> {
        let bits = UnsafeMutableRawPointer(block.scratch.0).assumingMemoryBound(to: UInt32.self)
        Fused.deltaMagnitudeBits(block.inputs[j], block.inputs[b], compute: d, into: bits, count: block.count)
        return bits
    }

    // MARK: Random

    /// One MT19937 word per element, in order: keep iff (word & 0xFFFFFF)·2⁻²⁴ < p.
    func bernoulli(_ p: Float) -> Bitmask {
        let keep = Bitmask(count: n)
        let threshold = MT19937.bernoulliThreshold(p)
        let chunk = 4096
        let words = UnsafeMutablePointer<UInt32>.allocate(capacity: chunk)
        defer { words.deallocate() }
        var start = 0
        while start < n {
            let c = min(chunk, n - start)
            io.random.generator.fill(words, count: c)
            keep.setBernoulli(words, count: c, threshold: threshold, start: start)
            start += c
        }
        return keep
    }

    /// DELLA: per row (1-D: the whole vector; 2-D: each row), rank |δ| ascending (ties by index),
    /// p = (density − ε) + rank_norm·2·ε computed in the work dtype, one draw per element.
    func della(_ j: Int, density: Double, epsilon: Double, work: DType) throws -> Bitmask {
        guard task.shape.count <= 2 else {
            throw MergeError.input("tensor \(task.outputName): della on tensors of more than 2 dimensions is not supported")
        }
        let rows = task.shape.count == 2 ? task.shape[0] : 1
        let cols = rows == 0 ? 0 : n / rows
        let keep = Bitmask(count: n)
        let x = task.inputs[j], b = task.inputs[base]
        let d = compute
        @inline(__always) func w(_ v: Float) -> Float { Rounding.round(v, to: work) }
        var mags = [Float](repeating: 0, count: cols)
        var order = [Int](repeating: 0, count: cols)
        var ranks = [Float](repeating: 0, count: cols)
        var words = [UInt32](repeating: 0, count: cols)
        let offsetBase = Float(density - epsilon), twoEps = Float(epsilon)
        for r in 0..<rows {
            for c in 0..<cols {
                let e = r * cols + c
                mags[c] = Rounding.round(load(x, e) - load(b, e), to: d).magnitude
            }
            for c in 0..<cols { order[c] = c }
            order.sort { mags[$0] < mags[$1] || (mags[$0] == mags[$1] && $0 < $1) }
            for (rank, c) in order.enumerated() { ranks[c] = w(w(Float(rank)) + 1) }
            let lowest = ranks.min() ?? 0, highest = ranks.max() ?? 0
            let span = w(highest - lowest)
            words.withUnsafeMutableBufferPointer { io.random.generator.fill($0.baseAddress!, count: cols) }
            for c in 0..<cols {
                var norm = span > 0 ? w(w(ranks[c] - lowest) / span) : 0
                norm = min(1, max(0, norm))
                let p = w(offsetBase + w(w(norm * 2) * twoEps))
                if Float(words[c] & 0xFF_FFFF) * 0x1p-24 < p { keep.set(r * cols + c) }
            }
            let rowBytes = cols * x.dtype.size
            x.location.file.file.release((x.location.info.byteRange.lowerBound + r * rowBytes)..<(x.location.info.byteRange.lowerBound + (r + 1) * rowBytes))
        }
        return keep
    }

    /// Element `e` of an input, rounded to the compute dtype.
    @inline(__always)
    func load(_ input: TaskInput, _ e: Int) -> Float {
        let p = input.location.data
        let v: Float
        switch input.dtype {
        case .bf16: v = BF16Format.load(p, e)
        case .f16: v = F16Format.load(p, e)
        default: v = F32Format.load(p, e)
        }
        return Rounding.round(v, to: compute)
    }

    // MARK: Rescale

    /// L1 rescale: `before = Σ|δ|`, `after = Σ|δ·mask|`, both rounded to the work dtype; the kept
    /// deltas are multiplied by `before/after` (rounded), unless either sum is below 1e-7.
    func l1Rescale(_ j: Int, _ keep: Bitmask, work: DType) throws -> Float? {
        let d = compute
        let before: Float, after: Float
        if n <= Self.torchSingleChunk {
            // Small tensors: torch sums them in one chunk; reproduce its float32 order exactly.
            let x = task.inputs[j], b = task.inputs[base]
            // torch's AVX2 sum kernels (8 lanes): what reproduces the reference merges bit for bit.
            let width = 8
            before = Rounding.round(TorchSum.cascade(count: n, vectorWidth: width) { e in
                Rounding.round(load(x, e) - load(b, e), to: d).magnitude
            }, to: work)
            after = Rounding.round(TorchSum.cascade(count: n, vectorWidth: width) { e in
                keep[e] ? Rounding.round(load(x, e) - load(b, e), to: d).magnitude : 0
            }, to: work)
        } else {
            let b = base
            let sums = try io.reduce(.whole, width: 2, only: [j, b]) { block, acc in
                let bits = magnitudes(block, j, b, d)
                let (all, kept) = Fused.maskedSums(bits, mask: keep, offset: block.offset, count: block.count)
                acc.add(0, 0, all)
                acc.add(0, 1, kept)
            }
            before = Rounding.round(Float(sums[0]), to: work)
            after = Rounding.round(Float(sums[1]), to: work)
        }
        guard before >= 1e-7, after >= 1e-7 else { return nil }
        return Rounding.round(before / after, to: work)
    }

    /// Tensors up to this size are summed by torch in a single chunk (its parallel grain size).
    static let torchSingleChunk = 32768
}
