import Checkpoints
import Foundation
import Tensors

/// How to run a merge.
public struct MergeOptions: Sendable {
    public var threads: Int
    /// Maximum bytes per output shard (≤ 0: one shard).
    public var outShardSize: Int64
    public var overwrite: Bool
    public var seed: UInt64?
    public var writeModelCard: Bool
    public var copyTokenizer: Bool

    public init(
        threads: Int = ParallelFor.defaultThreads, outShardSize: Int64 = 5_000_000_000, overwrite: Bool = false,
        seed: UInt64? = nil, writeModelCard: Bool = true, copyTokenizer: Bool = true
    ) {
        self.threads = threads
        self.outShardSize = outShardSize
        self.overwrite = overwrite
        self.seed = seed
        self.writeModelCard = writeModelCard
        self.copyTokenizer = copyTokenizer
    }
}

/// Told about progress as tensors are finished.
public protocol MergeProgress: AnyObject {
    func merge(finished task: TensorTask, index: Int, of total: Int, bytesWritten: Int, totalBytes: Int)
}

/// What a finished merge did (also the `--json` summary).
public struct MergeSummary: Codable, Sendable {
    public var method: String
    public var output: String
    public var tensors: Int
    public var parameters: Int
    public var inputBytes: Int
    public var outputBytes: Int
    public var shards: [String]
    public var seconds: Double
    public var threads: Int
    /// This process's peak resident set so far (VmHWM), in bytes; nil where unknown.
    public var peakRSSBytes: Int?
    public var warnings: [String]
    /// The variants' folder names for a sweep, nil for a plain merge.
    public var variants: [String]?
}

public enum Merger {
    /// Runs `plan` into the folder `output`. The result is built in a temporary sibling folder
    /// and renamed into place only when complete; on any failure the temporary folder is removed
    /// and nothing is left at `output`.
    public static func run(
        _ plan: MergePlan, output: URL, options: MergeOptions, progress: (any MergeProgress)? = nil
    ) throws -> MergeSummary {
        try runAll([(nil, plan)], output: output, options: options, progress: progress)
    }

    /// Runs a sweep: one complete model per variant in `output/<variant name>/`, tensor by tensor
    /// for all variants together, so each input tensor is fetched from disk once while its pages
    /// are hot. Same guarantees as `run` (temporary folder, renamed when all variants are done).
    public static func runSweep(
        _ plans: [(name: String, plan: MergePlan)], output: URL, options: MergeOptions, progress: (any MergeProgress)? = nil
    ) throws -> MergeSummary {
        try runAll(plans.map { ($0.name, $0.plan) }, output: output, options: options, progress: progress)
    }

    static func runAll(
        _ plans: [(String?, MergePlan)], output: URL, options: MergeOptions, progress: (any MergeProgress)?
    ) throws -> MergeSummary {
        let start = Date()
        let fm = FileManager.default
        let output = output.standardizedFileURL
        try checkOutput(output, overwrite: options.overwrite)
        let first = plans[0].1
        for (name, plan) in plans.dropFirst() {
            guard plan.tasks.map(\.outputName) == first.tasks.map(\.outputName) else {
                throw MergeError.config("variant \(name ?? "?") produces different tensors from the first variant")
            }
        }
        let temp: URL
        do { temp = try OutputFolder.begin(output) } catch { throw MergeError.output(error.message) }
        do {
            var folders: [URL] = []
            for (name, _) in plans {
                let folder = name.map { temp.appendingPathComponent($0) } ?? temp
                if name != nil { try fm.createDirectory(at: folder, withIntermediateDirectories: false) }
                folders.append(folder)
            }
            let shards = try write(plans.map(\.1), into: folders, options: options, progress: progress)
            try MergeError.checkInterruption()
            do { try OutputFolder.commit(temp, to: output) } catch { throw MergeError.output(error.message) }
            return MergeSummary(
                method: first.method.name, output: output.path, tensors: first.tasks.count, parameters: first.parameterCount,
                inputBytes: first.inputBytes, outputBytes: first.outputBytes * plans.count,
                shards: plans.count == 1 ? shards[0] : zip(plans, shards).flatMap { p, s in s.map { "\(p.0 ?? "")/\($0)" } },
                seconds: Date().timeIntervalSince(start), threads: options.threads, peakRSSBytes: peakResidentBytes(),
                warnings: first.warnings, variants: plans.count == 1 && plans[0].0 == nil ? nil : plans.map { $0.0 ?? "" })
        } catch {
            try? fm.removeItem(at: temp)
            if let e = error as? MergeError, e.code == .output {
                throw MergeError.output(OutputFolder.naming(e.message, temp: temp, as: output))
            }
            throw error
        }
    }

    /// Where a merge into `output` is built before the final rename (hidden, next to `output`).
    public static func temporaryFolder(for output: URL) -> URL { OutputFolder.temporary(for: output) }

    /// Refuses an output that exists and is not an empty folder, unless `overwrite`.
    public static func checkOutput(_ output: URL, overwrite: Bool) throws {
        do { try OutputFolder.check(output, overwrite: overwrite) } catch { throw MergeError.output(error.message) }
    }

    static func write(
        _ plans: [MergePlan], into folders: [URL], options: MergeOptions, progress: (any MergeProgress)?
    ) throws -> [[String]] {
        var writers: [ShardedWriter] = []
        for (plan, folder) in zip(plans, folders) {
            let planned = plan.tasks.map { PlannedTensor(name: $0.outputName, dtype: $0.outDType, shape: $0.shape) }
            do {
                writers.append(try ShardedWriter(
                    directory: folder, tensors: planned, maxShardSize: options.outShardSize,
                    indexMetadata: [("mixmerge_version", .string(mixmergeVersion))]))
            } catch let e as CheckpointError {
                throw MergeError.output(e.description)
            }
        }
        let threads = max(1, options.threads)
        let first = plans[0]
        let pool = ScratchPool(workers: threads, maxInputs: first.tasks.map(\.inputs.count).max() ?? 1)
        var written = 0
        let totalBytes = plans.reduce(0) { $0 + $1.outputBytes }
        // Each variant draws from its own generator, seeded alike: a variant's bytes equal a plain run's.
        let randoms = plans.map { _ in RandomSource(seed: options.seed ?? 0) }
        defer { for random in randoms { random.stop() } }
        for (v, plan) in plans.enumerated() {
            let draws = plan.tasks.map { $0.computeDType.isComputed ? plan.method.bernoulliDraws($0) : [] }
            if draws.allSatisfy({ $0 != nil }) { randoms[v].runAhead(draws.flatMap { $0! }) }
        }
        for i in first.tasks.indices {
            try MergeError.checkInterruption()
            // `base+adapter` inputs are made now, for this tensor only (shared by the variants).
            var loraTensors: [String: Checkpoint.Location] = [:]
            let tasks = try plans.map { try LoRAInputs.materialised($0.tasks[i], cache: &loraTensors, threads: threads) }
            if plans.count > 1 {
                let ios = plans.indices.map { v in
                    TensorIO(task: tasks[v], writer: writers[v], threads: threads, pool: pool, random: randoms[v])
                }
                let kernels: [StoredKernel]?
                do {
                    kernels = try sharedPassKernels(tasks, plans, ios)
                    if let kernels { try TensorIO.elementwiseStoredVariants(ios, kernels) }
                } catch let e as CheckpointError {
                    throw MergeError.output(e.description)
                }
                if kernels != nil {
                    written += tasks.reduce(0) { $0 + $1.outputBytes }
                    progress?.merge(finished: first.tasks[i], index: i, of: first.tasks.count, bytesWritten: written, totalBytes: totalBytes)
                    continue
                }
            }
            for (v, plan) in plans.enumerated() {
                let task = tasks[v]
                let io = TensorIO(task: task, writer: writers[v], threads: threads, pool: pool, random: randoms[v])
                let inputBytes = task.inputs.reduce(0) { $0 + $1.dtype.size * task.count }
                io.releasesInputs = v == plans.count - 1 || inputBytes > TensorIO.residentLimit
                do {
                    if task.computeDType.isComputed {
                        try plan.method.merge(task, io)
                    } else {
                        try copyUncomputed(task, io, plan)
                    }
                } catch let e as CheckpointError {
                    throw MergeError.output(e.description)
                }
                written += task.outputBytes
            }
            progress?.merge(finished: first.tasks[i], index: i, of: first.tasks.count, bytesWritten: written, totalBytes: totalBytes)
        }
        for (v, writer) in writers.enumerated() {
            do { try writer.finish() } catch let e as CheckpointError { throw MergeError.output(e.description) }
            try writeSideFiles(plans[v], into: folders[v], options: options)
        }
        return writers.map(\.shardNames)
    }

    /// The variants' kernels when every variant of a tensor is one element-wise pass over the same
    /// stored inputs (then they run together); nil otherwise. Methods decide whether they have a
    /// kernel before running any pass, alike for variants with the same dtypes and inputs, so a
    /// nil comes from the first variant and no random draw is made twice.
    static func sharedPassKernels(_ tasks: [TensorTask], _ plans: [MergePlan], _ ios: [TensorIO]) throws -> [StoredKernel]? {
        let first = tasks[0]
        func same(_ a: TaskInput, _ b: TaskInput) -> Bool {
            a.location.file.path == b.location.file.path && a.location.info.byteRange == b.location.info.byteRange && a.dtype == b.dtype
        }
        for task in tasks {
            guard task.computeDType.isComputed, task.computeDType == first.computeDType, task.outDType == first.outDType,
                  task.inputs.count == first.inputs.count, task.count == first.count,
                  zip(task.inputs, first.inputs).allSatisfy(same) else { return nil }
        }
        let cache = PassCache()
        var kernels: [StoredKernel] = []
        for (v, plan) in plans.enumerated() {
            guard let kernel = try plan.method.storedKernel(tasks[v], ios[v], cache) else {
                precondition(v == 0, "\(plan.method.name): a stored kernel for some variants of a tensor but not all")
                return nil
            }
            kernels.append(kernel)
        }
        return kernels
    }

    /// Tensors of a dtype that is not computed (integers, float64) are copied when every input
    /// holds the same bytes, as mergekit 0.1.5 does; different values cannot be merged.
    static func copyUncomputed(_ task: TensorTask, _ io: TensorIO, _ plan: MergePlan) throws {
        let first = task.inputs[0]
        for other in task.inputs.dropFirst() {
            if memcmp(first.location.data, other.location.data, task.outputBytes) != 0 {
                throw MergeError.input("tensor \(task.outputName): \(task.computeDType.rawValue) values differ between \(plan.models[first.model].reference) and \(plan.models[other.model].reference); only float32/float16/bfloat16 tensors can be merged")
            }
        }
        try io.copyRaw(from: first)
    }

    static func writeSideFiles(_ plan: MergePlan, into folder: URL, options: MergeOptions) throws {
        let donor = plan.models[plan.donor]
        if var config = donor.config {
            if let d = plan.config.outDType ?? plan.config.dtype { config.setDType(d.torchName) }
            if let layers = plan.outputLayers { config.setLayers(count: layers.count, sourceLayers: layers.sources) }
            do { try config.write(to: folder.appendingPathComponent("config.json")) } catch let e as CheckpointError {
                throw MergeError.output(e.description)
            }
        }
        do {
            if options.copyTokenizer {
                try ModelFolder.copyTokenizerFiles(from: plan.tokenizerFolder, to: folder)
            }
            if let template = try chatTemplate(plan) {
                try ModelFolder.setChatTemplate(template, in: folder)
            }
            if options.writeModelCard {
                try OutputFolder.write(Data(ModelCard.markdown(plan, name: folder.lastPathComponent).utf8), "README.md", in: folder, of: folder)
                try OutputFolder.write(Data(plan.config.sourceText.utf8), "mergekit_config.yml", in: folder, of: folder)
            }
        } catch let e as CheckpointError {
            throw MergeError.output(e.description)
        } catch let e as OutputFolderError {
            throw MergeError.output(e.message)
        } catch let e as MergeError {
            throw e
        } catch {
            throw MergeError.output("cannot write side files into \(folder.path): \(error.localizedDescription)")
        }
    }

    /// The template `chat_template:` asks for: `auto` → the one most inputs share (first seen on ties).
    static func chatTemplate(_ plan: MergePlan) throws -> String? {
        guard let choice = plan.config.chatTemplate else { return nil }
        if choice == "auto" {
            var counts: [(String, Int)] = []
            for m in plan.models {
                guard let t = ModelFolder.chatTemplate(in: m.directory) else { continue }
                if let i = counts.firstIndex(where: { $0.0 == t }) { counts[i].1 += 1 } else { counts.append((t, 1)) }
            }
            // The first template with the highest count (max(by:) would return the last of equals).
            let best = counts.reduce(nil as (String, Int)?) { acc, c in acc.map { $0.1 >= c.1 ? $0 : c } ?? c }
            guard let best else { throw MergeError.config("chat_template: auto, but no input model has a chat template") }
            return best.0
        }
        return ChatTemplates.builtIn[choice] ?? choice
    }
}

public let mixmergeVersion = "0.1.0"
