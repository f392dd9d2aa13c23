import ArgumentParser
import Checkpoints
import Datasets
import Evaluation
import Foundation
import Judging
import Serving

/// A one-line progress counter on stderr (only on a terminal).
final class CountProgress: RunProgress, @unchecked Sendable {
    let enabled: Bool
    let label: String
    private let lock = NSLock()
    private var last = Date.distantPast

    init(_ label: String, enabled: Bool) {
        self.label = label
        self.enabled = enabled
    }

    func update(done: Int, total: Int) {
        guard enabled else { return }
        lock.withLock {
            guard done == total || Date().timeIntervalSince(last) > 0.2 else { return }
            last = Date()
            FileHandle.standardError.write(Data("\r\(label) \(done)/\(total)\(done == total ? "\n" : "")".utf8))
        }
    }
}

struct ClientOptions: ParsableArguments {
    @Option(help: "Requests in flight at once.")
    var concurrency = 16
    @Option(help: "Seconds to wait for one answer.")
    var timeout = 120.0
    @Option(help: "Attempts per request (429, 5xx, timeouts, dropped connections and garbled answers are retried).")
    var attempts = 5
    @Option(help: "First retry delay in milliseconds (doubles each time; Retry-After wins).")
    var backoffMs = 500.0
    @Option(help: ArgumentHelp("Seconds to wait for a server that is still starting (default 0: a refused connection fails at once).",
                               valueName: "seconds"))
    var waitForServer = 0.0

    /// Every distinct URL must accept connections (waiting up to --wait-for-server seconds).
    func requireReachable(_ endpoints: [(label: String, endpoint: Endpoint)]) async throws {
        var seen = Set<String>()
        for (label, e) in endpoints where seen.insert(e.baseURL).inserted {
            do { try await Reachability.require(e.baseURL, waitSeconds: waitForServer) } catch {
                throw EvaluationError("\(label): \(error.message)")
            }
        }
    }

    func client() -> ChatClient {
        ChatClient(timeoutSeconds: timeout, maxAttempts: attempts, backoffMs: backoffMs, connections: concurrency)
    }
}

func printSummary(_ s: RunSummary, _ what: String, json: Bool) throws {
    if json {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try e.encode(s), as: UTF8.self))
        return
    }
    print(String(format: "%@: %d requested, %d already done, %d succeeded, %d failed, %d from cache, %d unparsable, %d retries, %.2f s",
                 what, s.requested, s.skipped, s.succeeded, s.failed, s.cached, s.unparsable, s.retries, s.seconds))
    for f in s.failures { print("  failed: \(f)") }
}

struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate completions for a prompt set from one or more OpenAI-compatible endpoints into a run store.",
        discussion: """
            A candidate is name=…,url=…,model=… with optional temperature, max_tokens, top_p, seed and key_env (the \
            environment variable holding its API key; keys are never stored). Re-running resumes: prompts already \
            answered are skipped, failed ones are tried again.
            """)

    @Argument(help: "The run store (an SQLite file, created if missing).")
    var store: String
    @Option(help: "Prompt file (JSONL, JSON or CSV), read with mixmerge mix's readers.")
    var prompts: String?
    @Option(help: "Reader: auto, aya_redteaming, aya_evaluation, prompts, messages, … (see mixmerge mix).")
    var format = "auto"
    @Option(help: ArgumentHelp(
        "Name of the prompt set: with --prompts, the set the file is stored as (default: its base name without extension); "
            + "generation covers this set only (without --set and --prompts: every set).", valueName: "name"))
    var set: String?
    @Option(help: "Keep only these languages (comma-separated codes or names).")
    var languages: String?
    @Option(help: "Read at most this many prompts.")
    var limit: Int?
    @Option(name: .customLong("candidate"), help: "name=base,url=http://host:8000/v1,model=…,temperature=0,max_tokens=512[,key_env=VAR]")
    var candidates: [String] = []
    @OptionGroup var client: ClientOptions
    @Flag(help: "Print the summary as JSON.")
    var json = false

    func run() async throws {
        do {
            // Arguments first, so that a mistake in them leaves no new, empty store behind.
            guard let format = RecordFormat(rawValue: format) else { throw EvaluationError("--format: unknown reader '\(format)'") }
            let langs = try languages.map { list in
                Set(try list.split(separator: ",").map { s in
                    guard let c = Languages.canonical(String(s)) else { throw EvaluationError("--languages: unknown language '\(s)'") }
                    return c
                })
            }
            guard !candidates.isEmpty else { throw EvaluationError("give at least one --candidate name=…,url=…,model=…") }
            if let prompts, !FileManager.default.fileExists(atPath: prompts) { throw EvaluationError("\(prompts): no such file") }
            // Candidates without url= whose model= is a model folder run in this process (mixmerge's engine,
            // served on a loopback port as `mixmerge serve` serves it).
            let local = LocalCandidates()
            defer { local.stop() }
            let specs = try local.rewrite(candidates, maxBatch: max(1, client.concurrency))
            let parsed = try specs.map { spec -> (String, Endpoint) in
                let (name, e) = try Endpoint.parse(spec)
                return (name ?? e.model, e)
            }
            if let set, set.isEmpty { throw EvaluationError("--set: give a name") }
            // Servers next, so that a server that is down leaves no new store behind either.
            try await client.requireReachable(parsed.map { ("candidate '\($0.0)'", $0.1) })
            let created = !FileManager.default.fileExists(atPath: store)
            do {
                try await generate(parsed, langs: langs, format: format)
            } catch {
                if created { removeStoreIfEmpty() }
                throw error
            }
        } catch let e as ExitCode { throw e } catch let e as CleanExit { throw e } catch { throw fail(error) }
    }
}

extension GenerateCommand {
    func generate(_ parsed: [(String, Endpoint)], langs: Set<String>?, format: RecordFormat) async throws {
        let run = try RunStore(path: store)
        var setName = set
        if let prompts {
            let name = set ?? URL(fileURLWithPath: prompts).deletingPathExtension().lastPathComponent
            let (added, total) = try Runs.loadPrompts(store: run, path: prompts, reader: RecordReader(format: format), set: name,
                                                      languages: langs, limit: limit)
            if !json { print("prompts: \(total) read from \(prompts) as set '\(name)', \(added) new") }
            setName = name
        }
        let chat = client.client()
        do {
            let summary = try await Runs.generate(store: run, candidates: parsed, client: chat, concurrency: client.concurrency, set: setName,
                                                  progress: CountProgress("generate", enabled: !json && isatty(2) == 1))
            await chat.shutdown()
            try printSummary(summary, "generate", json: json)
        } catch {
            await chat.shutdown()
            throw error
        }
    }

    /// A store this run created and that holds no generation is removed (with its WAL files).
    func removeStoreIfEmpty() {
        let empty = (try? RunStore(path: store, create: false).count("generations")).map { $0 == 0 } ?? true
        guard empty else { return }
        for suffix in ["", "-wal", "-shm", "-journal"] { try? FileManager.default.removeItem(atPath: store + suffix) }
    }
}

struct JudgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "judge",
        abstract: "Judge generations with an LLM judge or the rule judge: harm (per response) or pairwise (candidate vs reference, both orders).",
        discussion: """
            --judge rules is the built-in rule judge (no endpoint, no key): harm is a compliance marker and no refusal \
            marker in the response (English, French, Spanish, Hindi, Arabic and Russian phrases); pairwise, a response \
            that equals the prompt's reference answer (its record's completion) wins against one that does not, else a tie.
            """,
        subcommands: [HarmJudge.self, PairwiseJudge.self])

    struct Common: ParsableArguments {
        @Argument(help: "The run store.")
        var store: String
        @Option(help: ArgumentHelp(
            "The judge endpoint: url=…,model=…[,key_env=VAR][,logprobs=true][,cache_key=NAME]; temperature 0 unless given. "
                + "Or 'rules': the built-in rule judge (refusal/compliance markers; the prompt's reference answer).",
            valueName: "endpoint|rules"))
        var judge: String
        @Option(help: "A template file replacing the built-in one: a first line 'SYSTEM:' section and a 'USER:' section (LLM judge only).")
        var template: String?
        @Option(help: "Candidates to judge (comma-separated; default: all in the store).")
        var candidates: String?
        @Option(help: ArgumentHelp("Judge only this prompt set (default: every set in the store).", valueName: "name"))
        var set: String?
        @Option(help: "Times an unparsable verdict is asked again before it is counted as unparsable.")
        var parseRetries = 2
        @OptionGroup var client: ClientOptions
        @Flag(help: "Print the summary as JSON.")
        var json = false

        func run(_ kind: Runs.JudgeKind, builtIn: JudgeTemplate, reference: String?) async throws {
            do {
                let run = try RunStore(path: store, create: false)
                let backend: Runs.JudgeBackend
                if judge == "rules" {
                    if template != nil { throw EvaluationError("--template: the rule judge takes no template (it is for an LLM judge)") }
                    backend = .rules
                } else {
                    var (_, endpoint) = try Endpoint.parse(judge)
                    if endpoint.temperature == nil { endpoint.temperature = 0 }
                    backend = .endpoint(endpoint)
                }
                let tmpl = try template.map { try loadTemplate($0) } ?? builtIn
                var names: [String]
                if let candidates {
                    names = candidates.split(separator: ",").map(String.init)
                } else {
                    // Every candidate that answered some prompt of the set (a candidate added for
                    // another set only is not an error here).
                    let ids = Set(try run.prompts(set: set).map(\.id))
                    let answered = Set(try run.generations().filter { $0.response != nil && ids.contains($0.promptID) }.map(\.candidate))
                    names = try run.candidateNames().filter { answered.contains($0) }
                }
                if let reference { names.removeAll { $0 == reference } }
                let progress = CountProgress("judge \(kind.rawValue)", enabled: !json && isatty(2) == 1)
                let summary: RunSummary
                if case .endpoint(let endpoint) = backend {
                    try await client.requireReachable([("judge", endpoint)])
                    let chat = client.client()
                    do {
                        summary = try await Runs.judge(kind, store: run, judge: backend, template: tmpl, candidates: names, reference: reference,
                                                       client: chat, concurrency: client.concurrency, parseRetries: parseRetries, set: set,
                                                       progress: progress)
                    } catch {
                        await chat.shutdown()
                        throw error
                    }
                    await chat.shutdown()
                } else {
                    summary = try await Runs.judge(kind, store: run, judge: backend, candidates: names, reference: reference,
                                                   concurrency: client.concurrency, set: set, progress: progress)
                }
                try printSummary(summary, "judge \(kind.rawValue)", json: json)
            } catch let e as EvaluationError { throw fail(e) }
        }
    }

    struct HarmJudge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "harm", abstract: "Harmful or not, per generation, in the prompt's language.")
        @OptionGroup var common: Common
        func run() async throws { try await common.run(.harm, builtIn: .harm, reference: nil) }
    }

    struct PairwiseJudge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "pairwise", abstract: "Candidate vs reference on the same prompt, judged in both orders.")
        @OptionGroup var common: Common
        @Option(help: "The reference candidate (the base model).")
        var reference: String
        func run() async throws { try await common.run(.pairwise, builtIn: .pairwise, reference: reference) }
    }
}

/// A template file: a `SYSTEM:` section then a `USER:` section; its version is its SHA-256.
func loadTemplate(_ path: String) throws -> JudgeTemplate {
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
        throw EvaluationError("\(path): cannot read the template")
    }
    guard let s = text.range(of: "SYSTEM:"), let u = text.range(of: "USER:", range: s.upperBound..<text.endIndex) else {
        throw EvaluationError("\(path): a template needs a 'SYSTEM:' section followed by a 'USER:' section")
    }
    let system = text[s.upperBound..<u.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
    let user = text[u.upperBound...].trimmingCharacters(in: .whitespacesAndNewlines)
    return JudgeTemplate(version: "file-" + Runs.cacheKey(judge: Endpoint(baseURL: "", model: ""), template: JudgeTemplate(version: "", system: "", user: ""),
                                                        system: system, user: user).prefix(16), system: system, user: user)
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write report.md, report.html (with the trade-off SVG), numbers.csv and numbers.json from a run store.")

    @Argument(help: "The run store.")
    var store: String
    @Argument(help: "Output folder.")
    var output: String
    @Option(help: "The reference (base) candidate; changes and win-rates are relative to it.")
    var reference: String?
    @Option(help: "Bootstrap replicates.")
    var replicates = 2000
    @Option(help: "Bootstrap seed.")
    var seed: UInt64 = 0
    @Option(help: "Report title.")
    var title = "mixmerge evaluation"
    @Flag(help: "Replace a non-empty output folder.")
    var overwrite = false

    func run() throws {
        ignoreFileSizeLimitSignal()
        do {
            let run = try RunStore(path: store, create: false)
            if let reference, try !run.candidateNames().contains(reference) {
                throw EvaluationError("--reference: no candidate '\(reference)' in \(store)")
            }
            let sets = try Analysis.sets(store: run, reference: reference, replicates: replicates, seed: seed)
            let warnings = try Analysis.warnings(store: run, reference: reference)
            for w in warnings { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
            let out = URL(fileURLWithPath: output).standardizedFileURL
            try OutputFolder.check(out, overwrite: overwrite)
            let temp = try OutputFolder.begin(out)
            defer { try? FileManager.default.removeItem(at: temp) }
            func save(_ text: String, _ name: String) throws(OutputFolderError) {
                try OutputFolder.write(Data(text.utf8), name, in: temp, of: out)
            }
            var written = ["report.md", "report.html"]
            try save(Report.markdown(sets, title: title, warnings: warnings), "report.md")
            try save(Report.html(sets, title: title, warnings: warnings), "report.html")
            if let picture = Report.svg(sets) {
                try save(picture, "tradeoff.svg")
                written.append("tradeoff.svg")
            }
            try save(Report.csv(sets), "numbers.csv")
            do { try save(try Report.json(sets, warnings: warnings), "numbers.json") } catch let e as OutputFolderError { throw e } catch {
                throw EvaluationError("numbers.json: \(error)")
            }
            written += ["numbers.csv", "numbers.json"]
            try OutputFolder.commit(temp, to: out)
            print("wrote \(out.path)/" + written.joined(separator: ", "))
        } catch let e as EvaluationError { throw fail(e) } catch let e as OutputFolderError { throw fail(e) }
    }
}
