import ArgumentParser
import Foundation
import Checkpoints
import Mixing
import Tensors

struct MixCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mix",
        abstract: "Build every data mixture a mixture file declares (SFT/DPO JSONL, metadata, manifest).",
        discussion: """
            Writes OUT/<mixture>/train.sft.jsonl, train.dpo.jsonl (TRL explicit prompt), train.dpo-implicit.jsonl \
            (full conversations), train.meta.jsonl (line-aligned metadata), the same for held_out when the file \
            asks for a held-out split, and manifest.json. The same file and seed give the same bytes.
            """)

    @Argument(help: "The mixture file (YAML), e.g. examples/mix-paper.yml.")
    var config: String

    @Argument(help: "Output folder (one subfolder per mixture).")
    var output: String

    @Option(help: "Seed for sampling, split and order (overrides the file's seed:).")
    var seed: UInt64?

    @Option(help: "Worker threads (default: all cores); the output does not depend on it.")
    var threads: Int = ParallelFor.defaultThreads

    @Flag(help: "Skip records that cannot be read (counted in the manifest) instead of stopping at the first.")
    var skipInvalid = false

    @Flag(help: "Replace a non-empty output folder.")
    var overwrite = false

    @Flag(help: "Read and draw everything, print the summary, write nothing.")
    var dryRun = false

    @Flag(help: "Print the summary as JSON.")
    var json = false

    @Flag(help: "Print nothing on success.")
    var quiet = false

    func run() throws {
        guard threads > 0 else { throw fail(MixError("--threads must be at least 1")) }
        let outputURL = URL(fileURLWithPath: output)
        let cleanup = InterruptWatcher(removing: OutputFolder.temporary(for: outputURL))
        defer { cleanup.cancel() }
        let summary: MixSummary
        do {
            summary = try Mixer.run(
                configPath: config, output: outputURL,
                options: MixOptions(threads: threads, overwrite: overwrite, skipInvalid: skipInvalid, seed: seed, dryRun: dryRun))
        } catch { throw fail(error) }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
            return
        }
        guard !quiet else { return }
        print("read \(summary.records) records (\(summary.duplicates) duplicates dropped, \(summary.skippedInvalid) invalid skipped)")
        for m in summary.mixtures {
            let shares = m.shares.sorted { $0.key < $1.key }.map { String(format: "%@ %.2f%%", $0.key, $0.value * 100) }.joined(separator: ", ")
            let mode = m.heldOutMode.map { " (\($0))" } ?? ""
            print("  \(m.name): \(m.trainRecords) train, \(m.heldOutRecords) held out\(mode) — \(shares)")
        }
        print(String(format: "%@ %@ in %.2f s", dryRun ? "planned (nothing written)" : "wrote", dryRun ? "" : summary.output, summary.seconds))
    }
}
