import ArgumentParser
import Foundation
import Study

struct StudyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study",
        abstract: "Run a whole experiment from one study file: mix → train → merge → generate → judge → report.",
        discussion: """
            The file declares the data mixtures, training runs, merges (with weight sweeps), the evaluation and the \
            report (docs/study.md). The whole file is checked before anything runs. Every step's result is kept under \
            OUT, keyed by a hash of its inputs and settings: a rerun after an edit redoes only what changed, and a run \
            killed at any moment resumes. OUT/report holds Table 1, Table 2, the figures and the lineage of every model.
            """)

    @Argument(help: "The study file (YAML), e.g. examples/miniature/study.yml.")
    var file: String
    @Argument(help: "Output folder (created; reruns reuse what it holds).")
    var output: String
    @Flag(help: "Print the plan (steps, what is cached, sizes) and exit.")
    var dryRun = false
    @Option(help: ArgumentHelp("Run only this step or model (and what it needs); repeatable.", valueName: "name"))
    var only: [String] = []
    @Option(help: "Worker threads for training and merging (default: all cores).")
    var threads: Int?
    @Option(help: ArgumentHelp("Apply a profile of the file's profiles: (fewer steps, a shorter sweep, fewer prompts).", valueName: "name"))
    var profile: String?
    @Flag(help: "The same as --profile quick (what the tests run).")
    var quick = false
    @Flag(help: "No progress lines.")
    var quiet = false

    func run() async throws {
        ignoreFileSizeLimitSignal()
        do {
            let out = URL(fileURLWithPath: output).standardizedFileURL
            let hashes = FileHashes(cache: out.appendingPathComponent("hashes.json"), lenient: dryRun)
            if quick && profile != nil && profile != "quick" { throw StudyError("give --quick or --profile NAME, not both") }
            let file = try StudyParser.parse(URL(fileURLWithPath: self.file), profile: quick ? "quick" : profile, lenient: dryRun)
            let plan = try StudyPlan.make(file, hashes: hashes)
            for w in plan.file.warnings { FileHandle.standardError.write(Data("warning: missing: \(w)\n".utf8)) }
            var options = StudyRunner.Options()
            options.only = only
            options.dryRun = dryRun
            options.quiet = quiet
            options.threads = threads
            let runner = StudyRunner(plan: plan, out: out, executable: Self.executable(), options: options, hashes: hashes)
            try await runner.run()
            if !dryRun { hashes.save() }
        } catch let e as StudyError {
            for p in e.problems { FileHandle.standardError.write(Data("error: \(p)\n".utf8)) }
            throw ExitCode(1)
        } catch let e as ExitCode { throw e } catch { throw fail(error) }
    }

    /// This program's own executable (local steps run it as a child process).
    static func executable() -> URL {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return URL(fileURLWithPath: path) }
        return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
    }
}
