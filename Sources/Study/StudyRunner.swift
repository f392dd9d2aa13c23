import Evaluation
import Foundation
import Judging
import Serving
import Yams

/// Runs a study's steps in dependency order, each once: a step whose hash is recorded as done (and
/// whose output exists) is skipped, so a rerun after an edit redoes only what changed and a run
/// killed at any moment resumes. Training, merging and mixing run as child processes of the
/// `mixmerge` executable (or of the user's command templates), each with its log under `OUT/logs`;
/// generation, judging, selection and the report run in process.
public final class StudyRunner {
    public struct Options: Sendable {
        public var only: [String] = []
        public var dryRun = false
        public var quiet = false
        public var threads: Int?
        public init() {}
    }

    public let plan: StudyPlan
    public let out: URL
    /// The `mixmerge` executable that local steps run.
    public let executable: URL
    let options: Options
    var state: [String: Record] = [:]
    /// Table 1 and the direction sentence, after the report step ran.
    var summaryText: String?

    struct Record: Codable {
        var hash: String
        var seconds: Double
        var finished: String
    }

    let hashes: FileHashes

    public init(plan: StudyPlan, out: URL, executable: URL, options: Options, hashes: FileHashes = FileHashes(cache: nil)) {
        self.hashes = hashes
        self.plan = plan
        self.out = out.standardizedFileURL
        self.executable = executable
        self.options = options
        if let data = try? Data(contentsOf: statePath), let s = try? JSONDecoder().decode([String: Record].self, from: data) { state = s }
    }

    var statePath: URL { out.appendingPathComponent("state.json") }
    var stepsFolder: URL { out.appendingPathComponent("steps") }
    var logsFolder: URL { out.appendingPathComponent("logs") }

    static func safe(_ id: String) -> String {
        String(id.map { $0.isLetter || $0.isNumber || "-_.@".contains($0) ? $0 : "-" })
    }

    /// Where a step's result lives: a folder named by the step and its hash.
    public func folder(_ s: Step) -> URL { stepsFolder.appendingPathComponent("\(Self.safe(s.id))-\(s.hash.prefix(12))") }
    func log(_ s: Step) -> URL { logsFolder.appendingPathComponent(Self.safe(s.id) + ".log") }

    /// The run store of a split (one per prompt files × sampling × engine × judge).
    public func store(_ split: Step.Split) throws -> URL {
        let h = plan.evaluationHashes[split] ?? ""
        return out.appendingPathComponent("eval").appendingPathComponent("\(split.rawValue)-\(h.prefix(12)).sqlite")
    }

    public func isDone(_ s: Step) -> Bool {
        guard state[s.id]?.hash == s.hash else { return false }
        switch s.kind {
        case .mix, .train, .merge, .report:
            return FileManager.default.fileExists(atPath: folder(s).path)
        case .select:
            return FileManager.default.fileExists(atPath: folder(s).appendingPathExtension("json").path)
        case .generate(_, let split), .judge(_, let split):
            return (try? store(split)).map { FileManager.default.fileExists(atPath: $0.path) } ?? false
        }
    }

    func saveState() throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try Self.writeAtomically(try e.encode(state), to: statePath)
    }

    /// Writes a file under a temporary name beside it, then renames it into place: a reader (or a
    /// rerun after a kill) sees the old file or the new one, never half of one.
    static func writeAtomically(_ data: Data, to url: URL) throws {
        let temp = url.deletingLastPathComponent().appendingPathComponent("." + url.lastPathComponent + ".tmp")
        try data.write(to: temp)
        guard rename(temp.path, url.path) == 0 else { throw StudyError("\(url.path): cannot write") }
    }

    // MARK: model paths

    /// The folder of a study model (after the step that makes it has run).
    public func path(of name: String) throws -> URL {
        switch plan.sources[name] {
        case .folder(let url)?: return url
        case .step(let id)?: return folder(plan.step(id)!)
        case .selected(let id)?:
            let s = plan.step(id)!
            let picked = try Selection.read(folder(s).appendingPathExtension("json"))
            return try path(of: picked.selected)
        case .endpoint?: throw StudyError("'\(name)' is an endpoint, not a model folder")
        case nil: throw StudyError("unknown model '\(name)'")
        }
    }

    // MARK: running

    /// Prints the plan (what is cached, what will run, sizes) or runs it.
    public func run() async throws {
        let order = try plan.topologicalOrder()
        let wanted = options.only.isEmpty ? nil : try plan.closure(options.only)
        let steps = order.map { plan.steps[$0] }.filter { wanted?.contains($0.id) ?? true }
        if options.dryRun {
            printPlan(steps)
            return
        }
        for folder in [out, stepsFolder, logsFolder, out.appendingPathComponent("eval")] {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        }
        stopOrphans()
        let total = steps.count
        let start = Date()
        var ran = 0, cached = 0
        for (k, s) in steps.enumerated() {
            let label = "[\(String(repeating: " ", count: String(total).count - String(k + 1).count))\(k + 1)/\(total)] \(s.id)"
            if isDone(s) {
                cached += 1  // counted, not listed (--dry-run lists them)
                continue
            }
            if !options.quiet && isatty(1) == 1 { FileHandle.standardOutput.write(Data("\(label) …\r".utf8)) }
            let t0 = Date()
            try? FileManager.default.removeItem(at: log(s))  // the log of this attempt (children append to it)
            do {
                try await execute(s)
            } catch {
                throw StudyError("step '\(s.id)' failed: \(error)")
            }
            let seconds = Date().timeIntervalSince(t0)
            state[s.id] = Record(hash: s.hash, seconds: seconds, finished: ISO8601DateFormatter().string(from: Date()))
            try saveState()
            ran += 1
            say("\(label) · done in \(String(format: "%.1f", seconds)) s")
        }
        try writeLineage()
        try linkModels()
        // Table 1 at the end, also when the report was already there.
        if summaryText == nil, steps.contains(where: { $0.id == "report" }), let r = plan.step("report") {
            summaryText = try? String(contentsOf: folder(r).appendingPathComponent("summary.txt"), encoding: .utf8)
        }
        if let summaryText, !options.quiet { say("\n" + summaryText.trimmingCharacters(in: .newlines)) }
        say(String(format: "study %@: %d steps run, %d cached, %.1f s; results in %@", plan.file.name, ran, cached,
                   Date().timeIntervalSince(start), out.path))
    }

    func say(_ s: String) {
        guard !options.quiet else { return }
        FileHandle.standardOutput.write(Data((s + (isatty(1) == 1 ? "\u{1B}[K" : "") + "\n").utf8))
    }

    func printPlan(_ steps: [Step]) {
        print("study \(plan.file.name): \(steps.count) steps (\(steps.filter(isDone).count) cached) → \(out.path)")
        for s in steps {
            var size = ""
            switch s.kind {
            case .train, .merge:
                if let bytes = weightBytes(s.subject) { size = String(format: "  ≈ %.1f MB", Double(bytes) / 1e6) }
            default: break
            }
            let deps = s.deps.isEmpty ? "" : "  ← " + s.deps.joined(separator: ", ")
            print("  \(isDone(s) ? "cached" : "run   ")  \(s.id)\(size)\(deps)")
        }
    }

    /// Bytes of a model's weights: those of the outside model it descends from.
    func weightBytes(_ name: String) -> UInt64? {
        var n = name
        var seen = Set<String>()
        while seen.insert(n).inserted {
            if case .folder(let url)? = plan.sources[n] {
                let files = (try? FileManager.default.contentsOfDirectory(at: url, includingPropertiesForKeys: [.fileSizeKey])) ?? []
                let bytes = files.filter { $0.pathExtension == "safetensors" }
                    .reduce(0) { $0 + UInt64((try? $1.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0) }
                return bytes > 0 ? bytes : nil
            }
            if let r = plan.file.runs.first(where: { $0.name == n }) { n = r.from; continue }
            let base = n.split(separator: "@").first.map(String.init) ?? n
            if let m = plan.file.merges.first(where: { $0.name == base }), let first = m.inputs.first { n = first; continue }
            return nil
        }
        return nil
    }

    func execute(_ s: Step) async throws {
        switch s.kind {
        case .mix: try runMix(s)
        case .train(let r): try runTrain(s, r)
        case .merge(let m, let w): try runMerge(s, m, w)
        case .generate(let c, let split): try await runGenerate(s, candidate: c, split: split)
        case .judge(let c, let split): try await runJudge(s, candidate: c, split: split)
        case .select(let m): try runSelect(s, m)
        case .report: try runReport(s)
        }
    }

    // MARK: child processes

    /// Runs a child with its output in the step's log; a failure names the log and its last line.
    func child(_ s: Step, _ arguments: [String], shell: Bool = false, environment extra: [String: String] = [:]) throws {
        let logURL = log(s)
        if !FileManager.default.fileExists(atPath: logURL.path) { _ = FileManager.default.createFile(atPath: logURL.path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: logURL.path) else { throw StudyError("\(logURL.path): cannot write the log") }
        handle.seekToEndOfFile()
        defer { try? handle.close() }
        let p = Process()
        if shell {
            // Foundation starts every child as the leader of its own process group (pgid = pid), so
            // the whole command can be stopped as one group.
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", arguments.joined(separator: " ")]
        } else {
            p.executableURL = executable
            p.arguments = arguments
        }
        var env = ProcessInfo.processInfo.environment
        // Our own children die with the runner; a shell command's do not (their parent is the shell,
        // and the variable would make a mixmerge started by it refuse to run).
        if shell { env["MIXMERGE_DIE_WITH_PARENT"] = nil } else { env["MIXMERGE_DIE_WITH_PARENT"] = String(getpid()) }
        for (k, v) in extra { env[k] = v }
        p.environment = env
        p.standardOutput = handle
        p.standardError = handle
        handle.write(Data("$ \(shell ? arguments.joined(separator: " ") : ([executable.path] + arguments).joined(separator: " "))\n".utf8))
        do { try p.run() } catch { throw StudyError("cannot start \(p.executableURL?.path ?? ""): \(error.localizedDescription)") }
        let marker = shell ? try recordGroup(p.processIdentifier, s) : nil
        p.waitUntilExit()
        if let marker { try? FileManager.default.removeItem(at: marker) }
        guard p.terminationStatus == 0 else {
            let text = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
            let last = text.split(separator: "\n").last(where: { !$0.hasPrefix("$ ") }).map(String.init) ?? ""
            throw StudyError("exit \(p.terminationStatus): \(last.replacingOccurrences(of: "\r", with: "")) (log: \(logURL.path))")
        }
    }

    var groupsFolder: URL { out.appendingPathComponent("running") }

    /// Records an outside command's process group while it runs. A runner killed with kill -9
    /// cannot take such a command with it; the next run stops what is recorded before it starts.
    func recordGroup(_ pid: Int32, _ s: Step) throws -> URL {
        try FileManager.default.createDirectory(at: groupsFolder, withIntermediateDirectories: true)
        let url = groupsFolder.appendingPathComponent(Self.safe(s.id) + ".pgid")
        try Data(String(pid).utf8).write(to: url)
        return url
    }

    /// Stops the outside commands a killed run left behind (their process groups), then forgets them.
    func stopOrphans() {
        let files = (try? FileManager.default.contentsOfDirectory(at: groupsFolder, includingPropertiesForKeys: nil)) ?? []
        for f in files where f.pathExtension == "pgid" {
            if let text = try? String(contentsOf: f, encoding: .utf8), let pgid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pgid > 1 {
                if kill(-pgid, SIGTERM) == 0 {
                    say("stopped the orphaned command of \(f.deletingPathExtension().lastPathComponent) (process group \(pgid))")
                    usleep(500_000)
                    kill(-pgid, SIGKILL)
                }
            }
            try? FileManager.default.removeItem(at: f)
        }
    }

    static func shellQuoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// A command template with `{name}` fields replaced by shell-quoted values.
    static func fill(_ template: String, _ values: [String: String]) -> String {
        var t = template
        for (k, v) in values { t = t.replacingOccurrences(of: "{\(k)}", with: shellQuoted(v)) }
        return t
    }

    var mixFolder: URL? {
        plan.step("mix").map { folder($0) }
    }

    func runMix(_ s: Step) throws {
        var config: String
        switch plan.file.mix {
        case .file(let url)?: config = url.path
        case .inline(let text)?:
            let f = stepsFolder.appendingPathComponent("\(Self.safe(s.id))-\(s.hash.prefix(12)).yml")
            try Data(text.utf8).write(to: f)
            config = f.path
        case nil: return
        }
        try child(s, ["mix", config, folder(s).path, "--overwrite"])
    }

    func dataPath(_ r: StudyFile.TrainRun) throws -> String {
        switch r.data {
        case .file(let url): return url.path
        case .mixture(let name):
            guard let mix = mixFolder else { throw StudyError("no mix step") }
            return mix.appendingPathComponent(name).appendingPathComponent("train.\(r.objective.rawValue).jsonl").path
        }
    }

    func runTrain(_ s: Step, _ r: StudyFile.TrainRun) throws {
        let final = folder(s)
        // The trainer renames its folder into place only when training is complete: a runner killed
        // between that rename and its own bookkeeping finds the result there.
        if FileManager.default.fileExists(atPath: final.appendingPathComponent("config.json").path) { return }
        let model = try path(of: r.from).path
        let data = try dataPath(r)
        let partial = final.deletingLastPathComponent().appendingPathComponent(".\(final.lastPathComponent).partial")
        let target = r.engine == .local ? final : partial
        var settings = r.settings
        if let ref = r.refModel { settings.append(("ref_model", StudyFile.quoted(try path(of: ref).path))) }
        if let t = options.threads, !settings.contains(where: { $0.0 == "threads" }) { settings.append(("threads", String(t))) }
        let yaml = StudyFile.settingsYAML(settings, objective: r.objective, model: model, data: data, out: target.path)
        let configURL = stepsFolder.appendingPathComponent("\(Self.safe(s.id))-\(s.hash.prefix(12)).train.yml")
        try Data(yaml.utf8).write(to: configURL)
        switch r.engine {
        case .local:
            try child(s, ["train", r.objective.rawValue, "--config", configURL.path, "--resume", "--quiet"])
        case .trl(let command):
            let trl = final.deletingLastPathComponent().appendingPathComponent(".\(final.lastPathComponent).trl")
            try? FileManager.default.removeItem(at: trl)
            try? FileManager.default.removeItem(at: partial)
            try child(s, ["train", r.objective.rawValue, "--config", configURL.path, "--emit", "trl", trl.path])
            try child(s, [Self.fill(command, ["trl": trl.path, "out": partial.path, "model": model, "data": data, "mixmerge": executable.path])],
                      shell: true)
            try finish(partial, final)
        case .command(let command):
            try? FileManager.default.removeItem(at: partial)
            let values = ["model": model, "data": data, "out": partial.path, "objective": r.objective.rawValue, "config": configURL.path,
                          "mixmerge": executable.path, "ref_model": (try? r.refModel.map { try path(of: $0).path } ?? "") ?? ""]
            try child(s, [Self.fill(command, values)], shell: true)
            try finish(partial, final)
        }
    }

    /// An outside command's folder becomes the step's result once it holds a model.
    func finish(_ partial: URL, _ final: URL) throws {
        guard FileManager.default.fileExists(atPath: partial.appendingPathComponent("config.json").path) else {
            throw StudyError("the command left no model folder (config.json) at \(partial.path)")
        }
        try? FileManager.default.removeItem(at: final)
        guard rename(partial.path, final.path) == 0 else { throw StudyError("cannot rename \(partial.path) to \(final.path)") }
    }

    /// The mergekit config with `{w}` filled in and study model names replaced by their folders.
    func mergeConfig(_ m: StudyFile.MergeSpec, _ w: Double?) throws -> String {
        func walk(_ n: Node, key: String?) throws -> Node {
            switch n {
            case .scalar(let s):
                if let key, StudyParser.modelKeys.contains(key), plan.sources[s.string] != nil { return Node(try path(of: s.string).path) }
                return n
            case .mapping(var map):
                for (k, v) in map { map[k] = try walk(v, key: k.string) }
                return .mapping(map)
            case .sequence(var seq):
                for i in seq.indices { seq[i] = try walk(seq[i], key: key == "models" || key == "sources" ? nil : key) }
                return .sequence(seq)
            case .alias: return n
            }
        }
        let filled = w.map { StudyParser.substituted(m.config, w: $0) } ?? m.config
        return try Yams.serialize(node: try walk(filled, key: nil))
    }

    func runMerge(_ s: Step, _ m: StudyFile.MergeSpec, _ w: Double?) throws {
        let final = folder(s)
        let configURL = stepsFolder.appendingPathComponent("\(Self.safe(s.id))-\(s.hash.prefix(12)).merge.yml")
        try Data(try mergeConfig(m, w).utf8).write(to: configURL)
        switch m.engine {
        case .local, .trl:
            var args = ["merge", configURL.path, final.path, "--overwrite", "--quiet", "--seed", String(plan.file.seed)]
            if let t = options.threads { args += ["--threads", String(t)] }
            try child(s, args)
        case .command(let command):
            let partial = final.deletingLastPathComponent().appendingPathComponent(".\(final.lastPathComponent).partial")
            try? FileManager.default.removeItem(at: partial)
            try child(s, [Self.fill(command, ["config": configURL.path, "out": partial.path, "mixmerge": executable.path])], shell: true)
            try finish(partial, final)
        }
    }
}
