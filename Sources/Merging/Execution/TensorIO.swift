import Foundation
import Checkpoints
import Tensors

/// How elements are grouped into vectors for per-vector reductions (norms, dot products).
public enum GroupLayout: Sendable {
    /// The whole tensor is one vector.
    case whole
    /// Consecutive runs of `length` elements (rows along the last axis).
    case rows(length: Int)
    /// Elements `length` apart (vectors along axis 0; `length` = elements per axis-0 slice).
    case columns(length: Int)

    func groupCount(_ count: Int) -> Int {
        switch self {
        case .whole: 1
        case .rows(let l): l == 0 ? 0 : count / l
        case .columns(let l): l
        }
    }

    @inline(__always)
    public func group(of element: Int) -> Int {
        switch self {
        case .whole: 0
        case .rows(let l): element / l
        case .columns(let l): element % l
        }
    }
}

/// One block of a tensor, handed to a method's kernel: every input widened to `Float` (and
/// rounded to the compute dtype when it was stored wider), an output buffer, scratch space.
public struct Block {
    /// Inputs in the task's order.
    public let inputs: [UnsafeMutablePointer<Float>]
    /// Where the kernel writes its result (rounded to the compute dtype and written afterwards).
    public let out: UnsafeMutablePointer<Float>
    /// Two scratch buffers of `count` floats.
    public let scratch: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>)
    public let count: Int
    /// Offset of the block's first element in the tensor.
    public let offset: Int
}

/// Per-work-item sums for a grouped reduction.
public struct GroupSums {
    let firstGroup: Int
    let width: Int
    var values: [Double]

    /// Adds `value` to slot `slot` of group `group`.
    @inline(__always)
    public mutating func add(_ group: Int, _ slot: Int, _ value: Double) {
        values[(group - firstGroup) * width + slot] += value
    }
}

/// The executor's side of one task: block-wise, multi-threaded access to the inputs and the output.
/// Work is split into fixed items of `itemSize` elements whatever the thread count, and reductions
/// are combined in item order, so results do not depend on `threads`.
public final class TensorIO {
    public static let blockSize = 8192
    public static let itemSize = 1 << 20

    public let task: TensorTask
    let writer: ShardedWriter
    let threads: Int
    let pool: ScratchPool

    let randomSource: RandomSource

    init(task: TensorTask, writer: ShardedWriter, threads: Int, pool: ScratchPool, random: RandomSource) {
        self.task = task
        self.writer = writer
        self.threads = threads
        self.pool = pool
        self.randomSource = random
    }

    var itemCount: Int { (task.count + Self.itemSize - 1) / Self.itemSize }

    /// How input bytes reach the kernels. By default the kernels read the mapping in place and the
    /// pages are dropped after each work item (zero copy; measured fastest with mixmerge-bench:
    /// 1.3–1.5 s against 1.9–2.6 s for a 1.1 B-parameter linear merge). `MIXMERGE_INPUT_IO=pread`
    /// copies each work item into a per-worker buffer instead (no page faults).
    static let usePread: Bool = ProcessInfo.processInfo.environment["MIXMERGE_INPUT_IO"] == "pread"

    /// Makes the bytes of every input for `range` available; returns a pointer per input to the
    /// element at `range.lowerBound`.
    func stage(_ scratch: Scratch, _ range: Range<Int>) throws -> [UnsafeRawPointer] {
        try task.inputs.enumerated().map { j, input in
            let size = input.dtype.size
            let fileOffset = input.location.info.byteRange.lowerBound + range.lowerBound * size
            guard Self.usePread else { return input.location.file.file.bytes + fileOffset }
            guard input.location.file.file.read(into: scratch.raw[j], count: range.count * size, at: fileOffset) else {
                throw MergeError.input("\(input.location.file.path): read failed for tensor \(input.tensorName)")
            }
            return UnsafeRawPointer(scratch.raw[j])
        }
    }

    /// Widens `count` elements at element `offset` (relative to the staged item) of every input
    /// into the worker's input buffers, rounding to the compute dtype inputs stored wider.
    func load(_ scratch: Scratch, _ staged: [UnsafeRawPointer], offset: Int, count: Int, only: [Int]? = nil) {
        for (j, input) in task.inputs.enumerated() where only?.contains(j) ?? true {
            let size = input.dtype.size
            Convert.widen(staged[j] + offset * size, input.dtype, count: count, into: scratch.inputs[j])
            if input.dtype != task.computeDType && task.computeDType != .f32 {
                Convert.round(scratch.inputs[j], count: count, to: task.computeDType)
            }
        }
    }

    /// Whether finished items' input pages leave the resident set. A sweep keeps them for all but
    /// its last variant of a tensor (when the tensor's inputs are small enough): the variants share
    /// each input's mapping, so later variants find the pages mapped instead of faulting them in.
    var releasesInputs = true

    /// A tensor's input pages stay mapped from pass to pass up to this many bytes of inputs: a
    /// pass that only reads (a selection or a reduction, always followed by the pass that writes)
    /// keeps them, so the next pass finds them mapped instead of faulting them in again (TIES on
    /// a 1.1 B model: 0.6 s less system time); the writing pass drops them item by item. A sweep
    /// keeps them across its variants too (`releasesInputs`).
    static let residentLimit = 256 << 20

    /// Whether this tensor's inputs are small enough to stay mapped between passes.
    var inputsStayMapped: Bool { task.inputs.reduce(0) { $0 + $1.dtype.size * task.count } <= Self.residentLimit }

    /// Drops the input pages of a finished item from the resident set (mmap mode).
    func release(item range: Range<Int>) {
        guard !Self.usePread, releasesInputs else { return }
        for input in task.inputs {
            let size = input.dtype.size
            let base = input.location.info.byteRange.lowerBound
            input.location.file.file.release((base + range.lowerBound * size)..<(base + range.upperBound * size))
        }
    }

    // MARK: Passes — all built on `runItems`, which stages each work item, runs it on a worker,
    // releases its pages (unless a read-only pass keeps a small tensor mapped for the next pass)
    // and collects the first error.

    /// Runs `body(item, range, staged inputs, worker)` for every work item, in parallel. A pass
    /// that does not write the output keeps small tensors' pages mapped for the next pass.
    func runItems(writes: Bool, _ body: (_ item: Int, _ range: Range<Int>, _ inputs: [UnsafeRawPointer], _ worker: Int) throws -> Void) throws {
        let releasing = writes || !inputsStayMapped
        let failure = FailureBox()
        ParallelFor.run(count: itemCount, threads: threads) { item, worker in
            if Interruption.requested { failure.set(MergeError.interrupted); return }
            let range = (item * Self.itemSize)..<min(task.count, (item + 1) * Self.itemSize)
            do {
                try body(item, range, try stage(pool.scratch(worker), range), worker)
            } catch {
                failure.set(error)
            }
            if releasing { release(item: range) }
        }
        if let error = failure.error { throw error }
    }

    /// Calls `body(offset within the item, count)` for the item's blocks, in order.
    @inline(__always)
    func blocks(_ range: Range<Int>, _ body: (_ offset: Int, _ count: Int) throws -> Void) rethrows {
        var offset = 0
        while offset < range.count {
            let n = min(Self.blockSize, range.count - offset)
            try body(offset, n)
            offset += n
        }
    }

    /// The block of an item at `offset`, with the inputs (or `only` those) widened.
    func widenedBlock(_ scratch: Scratch, _ staged: [UnsafeRawPointer], _ range: Range<Int>, _ offset: Int, _ n: Int, only: [Int]? = nil) -> Block {
        load(scratch, staged, offset: offset, count: n, only: only)
        return Block(inputs: scratch.inputs, out: scratch.out, scratch: (scratch.tmp0, scratch.tmp1), count: n, offset: range.lowerBound + offset)
    }

    /// Runs `kernel` over every block and writes the result: rounded to the compute dtype (or to
    /// `resultDType`, for methods whose result is wider), then converted to the output dtype.
    public func elementwise(roundingTo resultDType: DType? = nil, _ kernel: (Block) -> Void) throws {
        try elementwiseWithWorker(roundingTo: resultDType) { block, _ in kernel(block) }
    }

    /// The number of workers (`worker` arguments are in `0..<workers`).
    public var workers: Int { threads }

    /// Like `elementwise`, also passing the worker number so kernels can use per-worker scratch.
    public func elementwiseWithWorker(roundingTo resultDType: DType? = nil, _ kernel: (Block, _ worker: Int) -> Void) throws {
        let outSize = task.outDType.size
        try runItems(writes: true) { _, range, staged, worker in
            let scratch = pool.scratch(worker)
            blocks(range) { offset, n in
                kernel(widenedBlock(scratch, staged, range, offset, n), worker)
                Convert.round(scratch.out, count: n, to: resultDType ?? task.computeDType)
                Convert.narrow(scratch.out, count: n, to: task.outDType, into: scratch.staging + offset * outSize)
            }
            try writer.write(task.outputName, byteOffset: range.lowerBound * outSize, bytes: scratch.staging, count: range.count * outSize)
        }
    }

    /// The output is input `j`'s values (rounded to the compute dtype, or to `resultDType`).
    public func copyInput(_ j: Int, roundingTo resultDType: DType? = nil) throws {
        try elementwise(roundingTo: resultDType) { block in block.out.update(from: block.inputs[j], count: block.count) }
    }

    /// Whether every input is stored in the compute dtype (then the fused kernels apply).
    public var inputsInComputeDType: Bool { task.inputs.allSatisfy { $0.dtype == task.computeDType } }

    /// Runs a fused kernel that reads the stored inputs and writes the stored output itself over
    /// every block (see `StoredKernel`), and writes the result.
    public func elementwiseStored(_ kernel: @escaping StoredKernel) throws {
        try Self.elementwiseStoredVariants([self], [kernel])
    }

    /// Several variants of one tensor (a sweep), each a `StoredKernel` over the same stored inputs:
    /// block by block, every kernel runs on the block while it is in cache, so the inputs are read
    /// once for all variants; `ios[v]` writes variant v's output. `ios` share their inputs.
    static func elementwiseStoredVariants(_ ios: [TensorIO], _ kernels: [StoredKernel]) throws {
        let io = ios[0]
        let outSizes = ios.map { $0.task.outDType.size }
        io.pool.reserveStaging(variants: ios.count)
        try io.runItems(writes: true) { _, range, staged, worker in
            let scratch = io.pool.scratch(worker)
            let staging = (0..<ios.count).map { io.pool.staging(worker, variant: $0) }
            io.blocks(range) { offset, n in
                let inputs = zip(staged, io.task.inputs).map { $0 + offset * $1.dtype.size }
                for (v, kernel) in kernels.enumerated() {
                    kernel(inputs, scratch.out, staging[v] + offset * outSizes[v], range.lowerBound + offset, n, worker)
                }
            }
            for (v, variant) in ios.enumerated() {
                try variant.writer.write(
                    variant.task.outputName, byteOffset: range.lowerBound * outSizes[v], bytes: staging[v], count: range.count * outSizes[v])
            }
        }
    }

    /// The general streaming pass: `body(item, range, inputs)` for every work item, in parallel,
    /// with each input's stored bytes at `range.lowerBound`. Items are `itemSize` elements (a
    /// multiple of 64, so bitmasks split on items never share a word).
    public func forEachItem(_ body: (_ item: Int, _ range: Range<Int>, _ inputs: [UnsafeRawPointer]) -> Void) throws {
        try runItems(writes: false) { item, range, staged, _ in body(item, range, staged) }
    }

    /// Row by row for methods whose math is local to a row of `rowLength` elements: `body(rows,
    /// inputs)` for chunks of whole rows (about a work item each), in parallel, with each input's
    /// stored bytes at the chunk's first row; the pages are dropped after each chunk.
    public func forEachRows(rowLength: Int, _ body: (_ rows: Range<Int>, _ inputs: [UnsafeRawPointer]) -> Void) {
        let rows = task.count / max(1, rowLength)
        let perChunk = max(1, Self.itemSize / max(1, rowLength))
        ParallelFor.run(count: (rows + perChunk - 1) / perChunk, threads: threads) { chunk, _ in
            if Interruption.requested { return }  // the next pass reports it
            let range = (chunk * perChunk)..<min(rows, (chunk + 1) * perChunk)
            let first = range.lowerBound * rowLength
            body(range, task.inputs.map { $0.location.data + first * $0.dtype.size })
            release(item: first..<(range.upperBound * rowLength))
        }
    }

    /// Every input of the tensor as a whole array, widened and rounded as blocks are: for methods
    /// that replay torch's reduction order over a small tensor (≤ `TorchSum.singleChunk` elements).
    public func gather() throws -> [[Float]] {
        let n = task.count, inputs = task.inputs.count
        var all = [Float](repeating: 0, count: n * inputs)
        try all.withUnsafeMutableBufferPointer { buffer in
            let target = UncheckedBox(buffer.baseAddress!)
            try runItems(writes: false) { _, range, staged, worker in
                let scratch = pool.scratch(worker)
                blocks(range) { offset, count in
                    let block = widenedBlock(scratch, staged, range, offset, count)
                    for j in 0..<inputs {
                        (target.value + j * n + block.offset).update(from: block.inputs[j], count: count)
                    }
                }
            }
        }
        return (0..<inputs).map { j in Array(all[(j * n)..<((j + 1) * n)]) }
    }

    /// The task vectors of gathered inputs `x`: `x[j] − x[base]` rounded to the compute dtype for
    /// each of `models`, or the inputs themselves without a base.
    public func taskVectors(_ x: [[Float]], _ models: [Int], base: Int?) -> [[Float]] {
        let d = task.computeDType
        return models.map { j in base.map { b in zip(x[j], x[b]).map { Rounding.round($0 - $1, to: d) } } ?? x[j] }
    }

    /// Drops every input's pages of this tensor from the resident set (after random access).
    public func releaseInputs() {
        guard releasesInputs else { return }
        for input in task.inputs { input.location.file.file.release(input.location.info.byteRange) }
    }

    /// The number of work items (`forEachItem` calls).
    public var items: Int { itemCount }

    /// The shared random stream of the merge (MT19937, seeded once per merge).
    public var random: RandomSource { randomSource }

    /// Sums `width` values per group over the tensor: `body` sees each block and adds into the
    /// item's sums. Returns `groupCount × width` sums, combined in item order.
    public func reduce(_ layout: GroupLayout, width: Int, only: [Int]? = nil, _ body: (Block, inout GroupSums) -> Void) throws -> [Double] {
        let partials = ItemSlots<GroupSums>(count: itemCount)
        try runItems(writes: false) { item, range, staged, worker in
            let scratch = pool.scratch(worker)
            let first: Int, last: Int
            switch layout {
            case .whole: (first, last) = (0, 0)
            case .rows: (first, last) = (layout.group(of: range.lowerBound), layout.group(of: range.upperBound - 1))
            case .columns(let l): (first, last) = (0, l - 1)
            }
            var sums = GroupSums(firstGroup: first, width: width, values: Array(repeating: 0, count: (last - first + 1) * width))
            blocks(range) { offset, n in body(widenedBlock(scratch, staged, range, offset, n, only: only), &sums) }
            partials.set(item, sums)
        }
        var total = [Double](repeating: 0, count: layout.groupCount(task.count) * width)
        for p in partials.values {
            for (k, v) in p.values.enumerated() { total[p.firstGroup * width + k] += v }
        }
        return total
    }

    /// Sums `width` values over the whole tensor from the stored inputs (fused kernels):
    /// `body(inputs, count)` returns the block's sums; combined in item order.
    public func reduceStored(width: Int, _ body: (_ inputs: [UnsafeRawPointer], _ count: Int) -> [Double]) throws -> [Double] {
        let partials = ItemSlots<[Double]>(count: itemCount)
        try runItems(writes: false) { item, range, staged, _ in
            var sums = [Double](repeating: 0, count: width)
            blocks(range) { offset, n in
                let part = body(zip(staged, task.inputs).map { $0 + offset * $1.dtype.size }, n)
                for k in 0..<width { sums[k] += part[k] }
            }
            partials.set(item, sums)
        }
        var total = [Double](repeating: 0, count: width)
        for p in partials.values { for k in 0..<width { total[k] += p[k] } }
        return total
    }

    /// Writes the input's bytes unchanged (a copy with no arithmetic), a work item at a time.
    func copyRaw(from input: TaskInput) throws {
        let bytes = task.outputBytes
        let chunk = Self.itemSize * 4
        let items = (bytes + chunk - 1) / chunk
        let failure = FailureBox()
        let base = input.location.info.byteRange.lowerBound
        ParallelFor.run(count: items, threads: threads) { item, worker in
            let done = item * chunk
            let n = min(chunk, bytes - done)
            let staging = pool.scratch(worker).staging
            do {
                guard input.location.file.file.read(into: staging, count: n, at: base + done) else {
                    throw MergeError.input("\(input.location.file.path): read failed for tensor \(input.tensorName)")
                }
                try writer.write(task.outputName, byteOffset: done, bytes: staging, count: n)
            } catch {
                failure.set(error)
            }
        }
        if let error = failure.error { throw error }
    }
}

/// One Bernoulli mask a merge will draw: `count` words, kept iff `(word & 0xFFFFFF) < threshold`.
public struct BernoulliDraw: Sendable, Equatable {
    public let count: Int
    public let threshold: UInt32
    public init(count: Int, threshold: UInt32) {
        self.count = count
        self.threshold = threshold
    }
}

/// The merge's random stream: one MT19937 seeded with `--seed`, drawn from tensor by tensor in
/// execution order (mergekit's order), so masks are the same whatever `--threads` says. When every
/// draw of the merge is a Bernoulli mask known in advance (DARE), `runAhead` hands the generator to
/// a producer thread that makes the masks in that order while earlier tensors merge, at most
/// `aheadBits` bits ahead, and `bernoulli` takes them in turn — the same masks, made off the
/// critical path.
public final class RandomSource: @unchecked Sendable {
    // Sendable: `generator` is used by one thread at a time (the executor's, or the producer's
    // once `runAhead` started); the hand-over state is guarded by `condition`.
    public var generator: MT19937
    private let condition = NSCondition()
    private var schedule: [BernoulliDraw] = []
    private var taken = 0
    private var ready: [Bitmask] = []
    private var readyBits = 0
    private var stopped = false
    static let aheadBits = 1 << 29  // 64 MiB of masks

    public init(seed: UInt64) { generator = MT19937(seed: seed) }

    /// Starts making `draws` on a producer thread (nothing to do for none).
    public func runAhead(_ draws: [BernoulliDraw]) {
        guard !draws.isEmpty else { return }
        schedule = draws
        let state = generator
        let thread = Thread { [self] in
            var generator = state
            for draw in draws {
                condition.lock()
                while readyBits >= Self.aheadBits && !stopped { condition.wait() }
                let stop = stopped
                condition.unlock()
                if stop { return }
                let mask = Self.mask(&generator, draw)
                condition.lock()
                ready.append(mask)
                readyBits += draw.count
                condition.broadcast()
                condition.unlock()
            }
        }
        thread.name = "mixmerge-rng"
        thread.start()
    }

    /// Ends run-ahead (the merge finished or failed): a waiting producer exits.
    public func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    /// The next Bernoulli mask of `count` draws with `threshold`.
    public func bernoulli(count: Int, threshold: UInt32) -> Bitmask {
        let draw = BernoulliDraw(count: count, threshold: threshold)
        guard !schedule.isEmpty else { return Self.mask(&generator, draw) }
        precondition(taken < schedule.count && schedule[taken] == draw, "random draws out of the announced order")
        taken += 1
        condition.lock()
        while ready.isEmpty { condition.wait() }
        let mask = ready.removeFirst()
        readyBits -= count
        condition.broadcast()
        condition.unlock()
        return mask
    }

    /// One word per element, in order: keep iff (word & 0xFFFFFF)·2⁻²⁴ < p.
    static func mask(_ generator: inout MT19937, _ draw: BernoulliDraw) -> Bitmask {
        let keep = Bitmask(count: draw.count)
        let chunk = 4096
        let words = UnsafeMutablePointer<UInt32>.allocate(capacity: chunk)
        defer { words.deallocate() }
        var start = 0
        while start < draw.count {
            let c = min(chunk, draw.count - start)
            generator.fill(words, count: c)
            keep.setBernoulli(words, count: c, threshold: draw.threshold, start: start)
            start += c
        }
        return keep
    }
}

/// Per-worker buffers, allocated once per merge.
final class Scratch {
    /// Raw bytes of one work item per input (pread mode).
    let raw: [UnsafeMutableRawPointer]
    let inputs: [UnsafeMutablePointer<Float>]
    let out: UnsafeMutablePointer<Float>
    let tmp0: UnsafeMutablePointer<Float>
    let tmp1: UnsafeMutablePointer<Float>
    let staging: UnsafeMutableRawPointer

    init(maxInputs: Int) {
        raw = (0..<max(1, maxInputs)).map { _ in .allocate(byteCount: TensorIO.itemSize * 4, alignment: 64) }
        inputs = (0..<max(1, maxInputs)).map { _ in .allocate(capacity: TensorIO.blockSize) }
        out = .allocate(capacity: TensorIO.blockSize)
        tmp0 = .allocate(capacity: TensorIO.blockSize)
        tmp1 = .allocate(capacity: TensorIO.blockSize)
        staging = .allocate(byteCount: TensorIO.itemSize * 4, alignment: 64)
    }

    deinit {
        for p in raw { p.deallocate() }
        for p in inputs { p.deallocate() }
        out.deallocate()
        tmp0.deallocate()
        tmp1.deallocate()
        staging.deallocate()
    }
}

/// One `Scratch` per worker; worker `w` only ever touches `scratch(w)`.
final class ScratchPool: @unchecked Sendable {
    private let items: [Scratch]
    /// Output staging of sweep variants after the first (which uses the scratch's), per worker.
    private var extraStaging: [[UnsafeMutableRawPointer]]

    init(workers: Int, maxInputs: Int) {
        items = (0..<max(1, workers)).map { _ in Scratch(maxInputs: maxInputs) }
        extraStaging = items.map { _ in [] }
    }
    deinit { for list in extraStaging { for p in list { p.deallocate() } } }
    func scratch(_ worker: Int) -> Scratch { items[worker] }

    /// Makes `staging(_:variant:)` valid for `variants` variants (called between passes only).
    func reserveStaging(variants: Int) {
        for w in extraStaging.indices {
            while extraStaging[w].count < variants - 1 {
                extraStaging[w].append(.allocate(byteCount: TensorIO.itemSize * 4, alignment: 64))
            }
        }
    }

    /// A work item's output staging for sweep variant `variant` on worker `worker`.
    func staging(_ worker: Int, variant: Int) -> UnsafeMutableRawPointer {
        variant == 0 ? items[worker].staging : extraStaging[worker][variant - 1]
    }
}

/// One result slot per work item, written by the item's worker, read after the pass.
final class ItemSlots<T>: @unchecked Sendable {
    // Sendable: each slot is written by exactly one worker and read only after ParallelFor returns;
    // raw storage, so concurrent writes to different slots are not exclusive accesses to one array.
    private let slots: UnsafeMutablePointer<T?>
    private let count: Int
    init(count: Int) {
        self.count = count
        slots = .allocate(capacity: max(1, count))
        slots.initialize(repeating: nil, count: max(1, count))
    }
    deinit {
        slots.deinitialize(count: max(1, count))
        slots.deallocate()
    }
    func set(_ item: Int, _ value: T) { slots[item] = value }
    /// The filled slots in item order.
    var values: [T] { (0..<count).compactMap { slots[$0] } }
}
