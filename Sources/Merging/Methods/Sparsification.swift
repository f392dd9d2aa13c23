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
    /// A rank-range selection whose mask is made block by block in the final pass (instead of `keep`).
    var selection: RankSelection?
    var scale: Float?
    var scaleDType: DType
}

/// Which elements of one model's delta a rank-range sparsifier keeps: those whose ascending rank of
/// |δ| lies in `ranks`, given as the boundary magnitudes (bit patterns), the number of elements
/// below each, and per work item the number of elements equal to each boundary before it (ties rank
/// by flat index).
struct RankSelection: Sendable {
    var ranks: Range<Int>
    var tLo: UInt32
    var tHi: UInt32
    var belowLo: Int
    var belowHi: Int
    var tiesLo: [Int]
    var tiesHi: [Int]

    /// The band that decides every element of work item `item`, or nil when the item holds the
    /// tie where a boundary's quota runs out (then `fill` decides element by element). A tie at the
    /// lower boundary with global ordinal t is kept iff `belowLo + t ≥ ranks.lowerBound`; at the
    /// upper one iff `belowHi + t < ranks.upperBound`.
    func band(item: Int) -> MagnitudeBand? {
        let rlo = ranks.lowerBound, rhi = ranks.upperBound
        let loStart = tiesLo[item], loEnd = tiesLo[item + 1], hiStart = tiesHi[item], hiEnd = tiesHi[item + 1]
        let keepLow: Bool
        if loStart == loEnd || belowLo + loStart >= rlo { keepLow = belowLo + loStart >= rlo }
        else if belowLo + loEnd <= rlo { keepLow = false }
        else { return nil }
        let keepHigh: Bool
        if hiStart == hiEnd || belowHi + hiEnd - 1 < rhi { keepHigh = belowHi + hiStart < rhi }
        else if belowHi + hiStart >= rhi { keepHigh = false }
        else { return nil }
        return MagnitudeBand(low: tLo, keepLow: keepLow, high: tHi, keepHigh: keepHigh)
    }

    /// Keep bits for `count` consecutive elements (in index order, starting on a multiple of 64)
    /// into `words`; `counters` carries the ties seen so far in this item.
    func fill(_ bits: UnsafePointer<UInt32>, count: Int, into words: UnsafeMutablePointer<UInt64>, counters: inout (Int, Int)) {
        var (eqLo, eqHi) = counters
        let (tLo, tHi, belowLo, belowHi, rlo, rhi) = (tLo, tHi, belowLo, belowHi, ranks.lowerBound, ranks.upperBound)
        var i = 0
        while i < count {
            let c = min(64, count - i)
            // Branch-free: strictly inside the boundaries → kept; equal to a boundary → decided below
            // in index order (ties are frequent with bf16 deltas, so only those lanes are visited).
            var word: UInt64 = 0, ties: UInt64 = 0
            var t = 0
            if c == 64 {
                // Eight lanes at a time, integer-only (magnitudes are < 2³¹, so differences and xors
                // stay in range): inside = x > tLo and x < tHi; tie = x == tLo or x == tHi.
                let lo = SIMD8<UInt32>(repeating: tLo), hi = SIMD8<UInt32>(repeating: tHi)
                let shifts = SIMD8<UInt32>(0, 1, 2, 3, 4, 5, 6, 7)
                while t < 64 {
                    let x = UnsafeRawPointer(bits + i + t).loadUnaligned(as: SIMD8<UInt32>.self)
                    let inside = ((lo &- x) &>> 31) & ((x &- hi) &>> 31)
                    let tie = (((x ^ lo) &- 1) &>> 31) | (((x ^ hi) &- 1) &>> 31)
                    word |= UInt64((inside &<< shifts).wrappedSum()) << UInt64(t)
                    ties |= UInt64((tie &<< shifts).wrappedSum()) << UInt64(t)
                    t += 8
                }
            }
            for t in t..<c {
                let x = bits[i + t]
                word |= UInt64(x > tLo && x < tHi ? 1 : 0) << UInt64(t)
                ties |= UInt64(x == tLo || x == tHi ? 1 : 0) << UInt64(t)
            }
            while ties != 0 {
                let t = ties.trailingZeroBitCount
                ties &= ties &- 1
                let x = bits[i + t]
                var kept = true
                if x == tLo {
                    if belowLo + eqLo < rlo { kept = false }
                    eqLo += 1
                }
                if x == tHi {
                    if belowHi + eqHi >= rhi { kept = false }
                    eqHi += 1
                }
                if kept { word |= 1 << UInt64(t) }
            }
            words[i >> 6] = word
            i += c
        }
        counters = (eqLo, eqHi)
    }
}

/// Builds keep-masks and rescale factors by streaming over the tensor: no model's delta is ever
/// held whole. Magnitude ranks use `RadixSelect` on the float bit patterns of |δ|; among equal
/// magnitudes the element with the lower flat index ranks lower (so top-k keeps the later ones) —
/// mergekit breaks such ties in the order torch's unstable sort leaves them, which tensors of
/// ≤ `sortLimit` elements replay (`sorted`), see the fixtures' README.
struct SparsificationPass {
    let io: TensorIO
    let task: TensorTask
    let base: Int
    /// What is ranked instead of each model's |δ|: the bit patterns of a non-negative float per
    /// element, from the stored inputs at a block (`inputs`, `count`, `into`) — sce's variance.
    var key: ((_ inputs: [UnsafeRawPointer], _ count: Int, _ into: UnsafeMutablePointer<UInt32>) -> Void)? = nil
    /// Magnitude selections of tensors up to this many elements replay torch's sort (`sorted`).
    var sortLimit = Self.sortLimit

    var n: Int { task.count }
    var compute: DType { task.computeDType }

    /// The working dtype of the random sparsifiers: bf16 stays bf16, f16/f32 work in f32 (CPU rules).
    var randomWorkDType: DType { compute == .bf16 ? .bf16 : .f32 }

    /// Sparsifies every model of the task (in config order — the order random draws are made in).
    /// Magnitude selection and L1 sums stream over the tensor once for all models together.
    /// Without rescaling, magnitude selections come back as `selection` (no mask pass): the final
    /// pass builds each block's mask itself.
    func runAll(_ kind: Sparsifier, models: [Int], density: [Double], gamma: [Double], epsilon: [Double], rescale: Bool) throws -> [SparsifiedDelta] {
        var result = models.map { _ in SparsifiedDelta(keep: nil, selection: nil, scale: nil, scaleDType: compute) }
        let active = models.indices.filter { kind != .none && density[$0] < 1 }
        guard !active.isEmpty else { return result }
        var rankRequests: [(Int, Range<Int>)] = []
        for k in active {
            switch kind {
            case .none:
                break
            case .magnitude:
                if density[k] <= 0 { result[k].keep = Bitmask(count: n); continue }
                let count = max(1, Int(density[k] * Double(n)))
                if n <= sortLimit {
                    result[k].keep = sorted(models[k], descending: true, keeping: 0..<count)
                } else {
                    rankRequests.append((k, (n - count)..<n))
                }
            case .outliers:
                let target = Int(density[k] * Double(n))
                let top = Int(gamma[k] * Double(n))
                let bottom = max(0, n - target - top)
                if target > 0 && n <= sortLimit {
                    result[k].keep = sorted(models[k], descending: false, keeping: bottom..<(bottom + target))
                } else if target > 0 {
                    rankRequests.append((k, bottom..<(bottom + target)))
                } else {
                    result[k].keep = Bitmask(count: n)
                }
            case .random:
                result[k].scaleDType = randomWorkDType
                result[k].keep = io.random.bernoulli(count: n, threshold: Self.bernoulliThreshold(density: density[k], compute: compute))
            case .della:
                result[k].scaleDType = randomWorkDType
                if density[k] <= 0 { result[k].keep = Bitmask(count: n); continue }
                result[k].keep = try della(models[k], density: density[k], epsilon: epsilon[k], work: randomWorkDType)
            }
        }
        if !rankRequests.isEmpty {
            let selections = try selectRanks(rankRequests.map { (models[$0.0], $0.1) })
            if rescale {
                let masks = try masks(rankRequests.map { models[$0.0] }, selections)
                for (i, request) in rankRequests.enumerated() { result[request.0].keep = masks[i] }
            } else {
                for (i, request) in rankRequests.enumerated() { result[request.0].selection = selections[i] }
            }
        }
        if rescale {
            let targets = active.filter { k in density[k] > 0 && result[k].keep != nil }
            let scales = try l1Rescale(targets.map { (models[$0], result[$0].keep!, result[$0].scaleDType) })
            for (i, k) in targets.enumerated() { result[k].scale = scales[i] }
        }
        return result
    }

    /// Tensors up to this many elements rank |δ| as mergekit does — torch's unstable CPU sort,
    /// libstdc++'s introsort (`IntroSort`) — so equal magnitudes at a boundary are kept or dropped
    /// exactly as there; larger ones take the streaming radix select (ties by flat index).
    static let sortLimit = TorchSum.singleChunk

    /// The elements at positions `keeping` of torch's `argsort(|δ|, descending:)` (TIES: the first
    /// k of the descending order; breadcrumbs: a band of the ascending one).
    func sorted(_ j: Int, descending: Bool, keeping positions: Range<Int>) -> Bitmask {
        let x = task.inputs[j], b = task.inputs[base]
        let magnitudes = (0..<n).map { Rounding.round(load(x, $0) - load(b, $0), to: compute).magnitude }
        let order = magnitudes.withUnsafeBufferPointer { IntroSort.argsort($0, descending: descending) }
        let keep = Bitmask(count: n)
        for p in positions { keep.set(Int(order[p])) }
        return keep
    }

    /// Per block, |δ| bit patterns of several models (one buffer each), from the stored inputs.
    func forEachMagnitudeBlock(
        _ models: [Int], _ body: (_ item: Int, _ offset: Int, _ count: Int, _ bits: [UnsafeMutablePointer<UInt32>]) -> Void
    ) throws {
        let block = TensorIO.blockSize
        let b = base
        try io.forEachItem { item, range, inputs in
            let buffers = models.map { _ in UnsafeMutablePointer<UInt32>.allocate(capacity: block) }
            defer { for p in buffers { p.deallocate() } }
            var offset = 0
            while offset < range.count {
                let c = min(block, range.count - offset)
                if let key {
                    key(zip(inputs, task.inputs).map { $0 + offset * $1.dtype.size }, c, buffers[0])
                    for k in buffers.indices.dropFirst() { buffers[k].update(from: buffers[0], count: c) }
                    body(item, range.lowerBound + offset, c, buffers)
                    offset += c
                    continue
                }
                for (k, j) in models.enumerated() {
                    let xj = task.inputs[j], bb = task.inputs[b]
                    Fused.deltaMagnitudeBits(
                        inputs[j] + offset * xj.dtype.size, xj.dtype, inputs[b] + offset * bb.dtype.size, bb.dtype,
                        compute: compute, into: buffers[k], count: c)
                }
                body(item, range.lowerBound + offset, c, buffers)
                offset += c
            }
        }
    }

    // MARK: Magnitude ranks

    /// For each (model, ranks): the elements whose ascending rank of |δ| lies in `ranks` (ties: lower
    /// index, lower rank). All models share each streaming pass.
    /// Passes 1 (and 2 unless bf16): the boundary values of every request's rank range.
    func selectRanks(_ requests: [(Int, Range<Int>)]) throws -> [RankSelection] {
        let m = requests.count
        let models = requests.map(\.0)
        let items = io.items
        let bins = 65536
        // Pass 1: per-item, per-model histograms of the high 16 bits of |δ| (below 2¹⁵: the sign bit
        // is clear), zeroed by the item's worker at its first block.
        let highBins = 1 << 15
        let high = UnsafeMutablePointer<Int32>.allocate(capacity: items * m * highBins)
        defer { high.deallocate() }
        let highBox = UncheckedBox(high)
        try forEachMagnitudeBlock(models) { item, offset, count, bits in
            if offset == item * TensorIO.itemSize { (highBox.value + item * m * highBins).update(repeating: 0, count: m * highBins) }
            for k in 0..<m {
                let h = highBox.value + (item * m + k) * highBins
                let v = bits[k]
                for i in 0..<count { h[Int(v[i] >> 16)] &+= 1 }
            }
        }
        var selections: [RankSelection] = []
        var needLow: [(k: Int, lo: (bin: Int, below: Int), hi: (bin: Int, below: Int))] = []
        for (k, request) in requests.enumerated() {
            var total = [Int](repeating: 0, count: highBins)
            for item in 0..<items { let h = high + (item * m + k) * highBins; for b in 0..<highBins { total[b] += Int(h[b]) } }
            let lo = total.withUnsafeBufferPointer { RadixSelect.locate($0.baseAddress!, bins: highBins, rank: request.1.lowerBound) }
            let hi = total.withUnsafeBufferPointer { RadixSelect.locate($0.baseAddress!, bins: highBins, rank: request.1.upperBound - 1) }
            var sel = RankSelection(ranks: request.1, tLo: UInt32(lo.bin) << 16, tHi: UInt32(hi.bin) << 16, belowLo: lo.below, belowHi: hi.below,
                                    tiesLo: [Int](repeating: 0, count: items + 1), tiesHi: [Int](repeating: 0, count: items + 1))
            if compute == .bf16 {
                // bfloat16 deltas have zero low bits: the high bin is the value.
                for item in 0..<items {
                    sel.tiesLo[item + 1] = sel.tiesLo[item] + Int(high[(item * m + k) * highBins + lo.bin])
                    sel.tiesHi[item + 1] = sel.tiesHi[item] + Int(high[(item * m + k) * highBins + hi.bin])
                }
            } else {
                needLow.append((k, lo, hi))
            }
            selections.append(sel)
        }
        if !needLow.isEmpty {
            // Pass 2: low 16 bits inside the chosen high bins.
            let l = needLow.count
            let low = UnsafeMutablePointer<Int32>.allocate(capacity: items * l * 2 * bins)
            low.initialize(repeating: 0, count: items * l * 2 * bins)
            defer { low.deallocate() }
            let lowBox = UncheckedBox(low)
            let lowModels = needLow.map { requests[$0.k].0 }
            let binsLo = needLow.map { UInt32($0.lo.bin) }, binsHi = needLow.map { UInt32($0.hi.bin) }
            try forEachMagnitudeBlock(lowModels) { item, _, count, bits in
                for k in 0..<l {
                    let h = lowBox.value + (item * l + k) * 2 * bins
                    let v = bits[k]
                    for i in 0..<count {
                        let top = v[i] >> 16
                        if top == binsLo[k] { h[Int(v[i] & 0xFFFF)] &+= 1 }
                        if top == binsHi[k] { h[bins + Int(v[i] & 0xFFFF)] &+= 1 }
                    }
                }
            }
            for (q, need) in needLow.enumerated() {
                var totalLo = [Int](repeating: 0, count: bins), totalHi = [Int](repeating: 0, count: bins)
                for item in 0..<items {
                    let h = low + (item * l + q) * 2 * bins
                    for b in 0..<bins { totalLo[b] += Int(h[b]); totalHi[b] += Int(h[bins + b]) }
                }
                let ranks = requests[need.k].1
                let a = totalLo.withUnsafeBufferPointer { RadixSelect.locate($0.baseAddress!, bins: bins, rank: ranks.lowerBound - need.lo.below) }
                let c = totalHi.withUnsafeBufferPointer { RadixSelect.locate($0.baseAddress!, bins: bins, rank: ranks.upperBound - 1 - need.hi.below) }
                var sel = selections[need.k]
                sel.tLo = UInt32(need.lo.bin) << 16 | UInt32(a.bin)
                sel.tHi = UInt32(need.hi.bin) << 16 | UInt32(c.bin)
                sel.belowLo = need.lo.below + a.below
                sel.belowHi = need.hi.below + c.below
                for item in 0..<items {
                    let h = low + (item * l + q) * 2 * bins
                    sel.tiesLo[item + 1] = sel.tiesLo[item] + Int(h[a.bin])
                    sel.tiesHi[item + 1] = sel.tiesHi[item] + Int(h[bins + c.bin])
                }
                selections[need.k] = sel
            }
        }
        return selections
    }

    /// Pass 3: the masks. Blocks of an item arrive in order on one worker: running tie counters.
    func masks(_ models: [Int], _ selections: [RankSelection]) throws -> [Bitmask] {
        let m = models.count, items = io.items
        let masks = models.map { _ in Bitmask(count: n) }
        let counters = UnsafeMutablePointer<(Int, Int)>.allocate(capacity: items * m)
        for item in 0..<items { for k in 0..<m { counters[item * m + k] = (selections[k].tiesLo[item], selections[k].tiesHi[item]) } }
        defer { counters.deallocate() }
        let countersBox = UncheckedBox(counters)
        try forEachMagnitudeBlock(models) { item, offset, count, bits in
            for k in 0..<m {
                selections[k].fill(bits[k], count: count, into: masks[k].words + (offset >> 6), counters: &countersBox.value[item * m + k])
            }
        }
        return masks
    }

    // MARK: Random

    /// DARE's keep threshold on a word's low 24 bits: p = density in the work dtype (bf16 stays
    /// bf16, f16/f32 work in f32: CPU rules).
    static func bernoulliThreshold(density: Double, compute: DType) -> UInt32 {
        MT19937.bernoulliThreshold(Rounding.round(density, to: compute == .bf16 ? .bf16 : .f32))
    }

    /// DELLA: per row (1-D: the whole vector; 2-D: each row), rank |δ| ascending (ties in the order
    /// of torch's unstable argsort: `IntroSort`),
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
        var ranks = [Float](repeating: 0, count: cols)
        var words = [UInt32](repeating: 0, count: cols)
        // torch adds a Python scalar to a bf16 tensor as bf16 (rounded first) but multiplies by it as
        // float32 (measured on torch 2.15: mergekit-spec §2.4 says float32 for both).
        let offsetBase = w(Float(density - epsilon)), eps = Float(epsilon)
        for r in 0..<rows {
            for c in 0..<cols {
                let e = r * cols + c
                mags[c] = Rounding.round(load(x, e) - load(b, e), to: d).magnitude
            }
            let order = mags.withUnsafeBufferPointer { IntroSort.argsort($0) }
            for (rank, c) in order.enumerated() { ranks[Int(c)] = w(w(Float(rank)) + 1) }
            let lowest = ranks.min() ?? 0, highest = ranks.max() ?? 0
            let span = w(highest - lowest)
            words.withUnsafeMutableBufferPointer { io.random.generator.fill($0.baseAddress!, count: cols) }
            for c in 0..<cols {
                var norm = span > 0 ? w(w(ranks[c] - lowest) / span) : 0
                norm = min(1, max(0, norm))
                let p = w(offsetBase + w(w(norm * 2) * eps))
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
        Rounding.round(input.dtype.load(input.location.data, e), to: compute)
    }

    // MARK: Rescale

    /// L1 rescale: `before = Σ|δ|`, `after = Σ|δ·mask|`, both rounded to the work dtype; the kept
    /// deltas are multiplied by `before/after` (rounded), unless either sum is below 1e-7.
    func l1Rescale(_ requests: [(Int, Bitmask, DType)]) throws -> [Float?] {
        guard !requests.isEmpty else { return [] }
        let d = compute
        var sums = [(Float, Float)](repeating: (0, 0), count: requests.count)
        if n <= TorchSum.singleChunk {
            // Small tensors: torch sums them in one chunk; reproduce its float32 order exactly
            // (its AVX2 kernels, 8 lanes: what reproduces the reference merges bit for bit).
            let b = task.inputs[base]
            for (k, (j, keep, _)) in requests.enumerated() {
                let x = task.inputs[j]
                let before = TorchSum.cascade(count: n, vectorWidth: 8) { e in Rounding.round(load(x, e) - load(b, e), to: d).magnitude }
                let after = TorchSum.cascade(count: n, vectorWidth: 8) { e in
                    keep[e] ? Rounding.round(load(x, e) - load(b, e), to: d).magnitude : 0
                }
                sums[k] = (before, after)
            }
        } else {
            let m = requests.count
            let partials = UnsafeMutablePointer<Double>.allocate(capacity: io.items * m * 2)
            partials.initialize(repeating: 0, count: io.items * m * 2)
            defer { partials.deallocate() }
            let box = UncheckedBox(partials)
            try forEachMagnitudeBlock(requests.map(\.0)) { item, offset, count, bits in
                for k in 0..<m {
                    let (all, kept) = Fused.maskedSums(bits[k], mask: requests[k].1, offset: offset, count: count)
                    box.value[(item * m + k) * 2] += all
                    box.value[(item * m + k) * 2 + 1] += kept
                }
            }
            for k in 0..<m {
                var all = 0.0, kept = 0.0
                for item in 0..<io.items { all += partials[(item * m + k) * 2]; kept += partials[(item * m + k) * 2 + 1] }
                sums[k] = (Float(all), Float(kept))
            }
        }
        return zip(requests, sums).map { request, s in
            let work = request.2
            let before = Rounding.round(s.0, to: work), after = Rounding.round(s.1, to: work)
            guard before >= 1e-7, after >= 1e-7 else { return nil }
            return Rounding.round(before / after, to: work)
        }
    }
}
