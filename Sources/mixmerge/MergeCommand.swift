import ArgumentParser
import Checkpoints
import Foundation
import Merging
import Tensors

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge models as a mergekit YAML config says.",
        discussion: """
            CONFIG is a mergekit YAML file, used as-is. Relative model paths are looked up in the working
            directory, then next to CONFIG. The output folder is built under a temporary name and renamed
            when complete.
            """)

    @Argument(help: "The mergekit YAML config.") var config: String
    @Argument(help: "The output model folder.") var output: String?
    @Option(help: "Random seed (for methods that sample; recorded in the summary).") var seed: UInt64?
    @Option(help: "Worker threads (default: all cores).") var threads: Int?
    @Option(help: "Maximum shard size: bytes with an optional K/M/B (10^3/10^6/10^9) or KB/MB/GB/KiB/MiB/GiB suffix; 0 = one file.")
    var outShardSize: String = "5B"
    @Flag(help: "Print the plan (every tensor's inputs and parameters, and the memory needed) and exit.") var dryRun = false
    @Flag(help: "Replace an existing, non-empty output folder.") var overwrite = false
    @Flag(help: "No progress bar or warnings.") var quiet = false
    @Flag(help: "Print a JSON summary on stdout.") var json = false
    @Flag(help: "Do not write README.md and mergekit_config.yml.") var noModelCard = false
    @Flag(help: "Do not copy tokenizer files.") var noCopyTokenizer = false
    @Option(help: "The dtype a base+adapter model is merged in (PEFT's merge_and_unload), as mergekit's option; default: the base's dtype in its config.json.")
    var loraMergeDtype: String?
    @Option(help: "Accepted for mergekit command lines and ignored: base+adapter inputs are merged while streaming, nothing is cached.")
    var loraMergeCache: String?

    func run() throws {
        do {
            try execute()
        } catch let code as ExitCode {
            throw code
        } catch let e as MergeError where e.code == .interrupted {
            FileHandle.standardError.write(Data("\nerror: \(e.message)\n".utf8))
            throw ExitCode(130)
        } catch {
            throw fail(error)
        }
    }

    func execute() throws {
        guard let shardSize = parseByteSize(outShardSize) else {
            throw MergeError.config("--out-shard-size: '\(outShardSize)' is not a size such as 5GB, 500MB or 2B")
        }
        if let threads, threads < 1 { throw MergeError.config("--threads must be at least 1") }
        let configURL = URL(fileURLWithPath: config)
        let text: String
        do { text = try String(contentsOf: configURL, encoding: .utf8) } catch {
            throw MergeError.config("\(config): cannot read the config (\(FileManager.default.fileExists(atPath: config) ? "not UTF-8 text" : "no such file"))")
        }
        let parsed = try ConfigParser(fileName: config).parse(text)
        var loraDType: DType?
        if let name = loraMergeDtype {
            guard let d = DType(mergekitName: name), d.isComputed else {
                throw MergeError.config("--lora-merge-dtype: '\(name)' is not bfloat16, float16 or float32")
            }
            loraDType = d
        }
        let planner = Planner(searchDirectories: [configURL.deletingLastPathComponent()], loraMergeDType: loraDType)
        let variants = try parsed.variants.map { (name: $0.name, plan: try planner.plan(parsed.applying($0))) }
        let plan = try variants.first?.plan ?? planner.plan(parsed)
        let threadCount = threads ?? ParallelFor.defaultThreads
        if !quiet && !json { for w in plan.warnings { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) } }
        if dryRun {
            if variants.isEmpty {
                print(PlanPrinter.describe(plan, threads: threadCount, shardSize: shardSize), terminator: "")
            } else {
                for v in variants {
                    print("== variant \(v.name) → \(output.map { $0 + "/" } ?? "")\(v.name)")
                    print(PlanPrinter.describe(v.plan, threads: threadCount, shardSize: shardSize), terminator: "")
                }
            }
            return
        }
        guard let output else { throw MergeError.config("missing OUT: the output folder (or use --dry-run)") }
        let options = MergeOptions(
            threads: threadCount, outShardSize: shardSize, overwrite: overwrite, seed: seed,
            writeModelCard: !noModelCard, copyTokenizer: !noCopyTokenizer)
        let cleanup = InterruptCleanup()
        defer { cleanup.cancel() }
        let bar = ProgressBar(enabled: !quiet && !json && isatty(2) == 1)
        let summary = variants.isEmpty
            ? try Merger.run(plan, output: URL(fileURLWithPath: output), options: options, progress: bar)
            : try Merger.runSweep(variants, output: URL(fileURLWithPath: output), options: options, progress: bar)
        bar.finish()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
        } else if !quiet {
            let gb = Double(summary.inputBytes + summary.outputBytes) / 1e9
            print(String(format: "merged %d tensors (%@ parameters) with %@ into %@ in %.2f s (%.2f GB/s read+write)",
                summary.tensors, formatCount(summary.parameters), summary.method, summary.output, summary.seconds,
                gb / max(summary.seconds, 1e-9)))
            if let v = summary.variants { print("variants: " + v.map { "\(summary.output)/\($0)" }.joined(separator: ", ")) }
        }
    }
}

func formatCount(_ n: Int) -> String {
    switch n {
    case 1_000_000_000...: String(format: "%.2fB", Double(n) / 1e9)
    case 1_000_000...: String(format: "%.1fM", Double(n) / 1e6)
    case 1_000...: String(format: "%.1fK", Double(n) / 1e3)
    default: String(n)
    }
}

func formatBytes(_ n: Int) -> String {
    switch n {
    case 1_073_741_824...: String(format: "%.2f GiB", Double(n) / 1_073_741_824)
    case 1_048_576...: String(format: "%.1f MiB", Double(n) / 1_048_576)
    case 1024...: String(format: "%.1f KiB", Double(n) / 1024)
    default: "\(n) B"
    }
}

/// A one-line progress bar on stderr: tensors, bytes, ETA.
final class ProgressBar: MergeProgress {
    let enabled: Bool
    let start = Date()
    var last = Date.distantPast
    var drawn = false

    init(enabled: Bool) { self.enabled = enabled }

    func merge(finished task: TensorTask, index: Int, of total: Int, bytesWritten: Int, totalBytes: Int) {
        guard enabled else { return }
        let now = Date()
        guard now.timeIntervalSince(last) > 0.1 || index + 1 == total else { return }
        last = now
        let fraction = Double(bytesWritten) / Double(max(1, totalBytes))
        let elapsed = now.timeIntervalSince(start)
        let eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = String(format: "\r%@ %d/%d tensors  %@/%@  ETA %.0fs ", bar, index + 1, total,
            formatBytes(bytesWritten), formatBytes(totalBytes), eta)
        FileHandle.standardError.write(Data(line.utf8))
        drawn = true
    }

    func finish() {
        if drawn { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

/// The `--dry-run` listing.
enum PlanPrinter {
    static func describe(_ plan: MergePlan, threads: Int, shardSize: Int64) -> String {
        var s = "merge_method: \(plan.method.name)\n"
        s += "inputs:\n"
        for (i, m) in plan.models.enumerated() {
            s += "  [\(i)] \(m.reference)  (\(m.layerCount) layers, \(m.checkpoint.files.count) file\(m.checkpoint.files.count == 1 ? "" : "s"), \(formatBytes(m.checkpoint.dataBytes)))\(i == plan.donor ? "  ← config donor" : "")\n"
        }
        s += "tensors (in write order):\n"
        for task in plan.tasks {
            let inputs = task.inputs.enumerated().map { j, inp -> String in
                var params = task.modelParameters[j].sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                if j == task.baseIndex { params.insert("base", at: 0) }
                return "[\(inp.model)]\(inp.tensorName == task.outputName ? "" : " " + inp.tensorName) \(inp.dtype.rawValue)"
                    + (params.isEmpty ? "" : " {" + params.joined(separator: ", ") + "}")
            }
            let globals = task.globalParameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            s += "  \(task.outputName) \(task.shape) \(task.computeDType.rawValue)→\(task.outDType.rawValue) t=\(String(format: "%.3f", task.t))"
            s += globals.isEmpty ? "" : " {" + globals.joined(separator: ", ") + "}"
            s += "\n      ← " + inputs.joined(separator: "; ") + "\n"
        }
        let maxInputs = plan.tasks.map(\.inputs.count).max() ?? 1
        let perWorker = 4 * (1 << 20) * (1 + maxInputs) + (maxInputs + 3) * 8192 * 4
        s += "output: \(plan.tasks.count) tensors, \(formatCount(plan.parameterCount)) parameters, \(formatBytes(plan.outputBytes))"
        s += shardSize > 0 ? ", shards of at most \(shardSize) bytes\n" : ", one file\n"
        if plan.method.tensorBuffers > 0 {
            let largest = plan.tasks.map { $0.count * $0.computeDType.size }.max() ?? 0, buffers = plan.method.tensorBuffers
            s += "memory: about \(formatBytes(threads * perWorker + buffers * largest)) — \(plan.method.name) holds \(buffers) "
            s += "buffer\(buffers == 1 ? "" : "s") the size of the largest tensor in the compute dtype (\(formatBytes(largest))); inputs stream\n"
        } else {
            s += "memory: about \(formatBytes(threads * perWorker)) of working buffers for \(threads) thread\(threads == 1 ? "" : "s") "
            s += "(inputs are memory-mapped and released as they are consumed; no tensor is held whole)\n"
        }
        for w in plan.warnings { s += "warning: \(w)\n" }
        return s
    }
}
