import Datasets
import Evaluation
import Foundation
import Judging
import Serving

/// A sweep's pick on the validation prompts, stored as `select-….json`.
public struct Selection: Codable, Sendable {
    public struct Score: Codable, Sendable {
        public var member: String
        public var w: Double
        /// Harmful rate (%) and win-rate vs the reference (%, ties ½), pooled over the validation sets.
        public var harm: Double?
        public var win: Double?
        public var score: Double?
    }
    public var sweep: String
    public var selected: String
    public var w: Double
    public var on: String
    public var score: String
    public var scores: [Score]

    static func read(_ url: URL) throws -> Selection {
        guard let data = try? Data(contentsOf: url) else { throw StudyError("\(url.path): the sweep has not been selected yet") }
        do { return try JSONDecoder().decode(Selection.self, from: data) } catch { throw StudyError("\(url.path): \(error)") }
    }
}

extension StudyRunner {
    var evaluation: StudyFile.EvaluationSpec { plan.file.evaluation ?? StudyFile.EvaluationSpec() }

    static func setName(_ s: StudyFile.PromptSet, _ split: Step.Split) -> String { "\(s.name)-\(split.rawValue)" }

    /// Opens a split's store and loads its prompt sets (idempotent).
    func openStore(_ split: Step.Split) throws -> RunStore {
        let url = try store(split)
        let run = try RunStore(path: url.path)
        for s in evaluation.sets {
            guard let file = s.file(split) else { continue }
            guard let format = RecordFormat(rawValue: s.format) else { throw StudyError("evaluate.prompts.\(s.name).format: unknown reader '\(s.format)'") }
            _ = try Runs.loadPrompts(store: run, path: file.path, reader: RecordReader(format: format), set: Self.setName(s, split),
                                     languages: nil, limit: nil, perLanguage: evaluation.perLanguage)
        }
        return run
    }

    func runGenerate(_ s: Step, candidate c: String, split: Step.Split) async throws {
        let run = try openStore(split)
        // A candidate whose model (or settings) changed starts afresh; the same one resumes.
        let key = "study-step:\(c)"
        if try run.meta(key) != s.hash {
            try run.removeCandidate(c)
            try run.setMeta(key, s.hash)
        }
        let sampling = evaluation.sampling.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
        let concurrency = evaluation.concurrency
        var server: Process?
        let local = LocalCandidates()
        defer {
            local.stop()
            if let server {
                if server.isRunning {
                    kill(-server.processIdentifier, SIGTERM)  // its process group (Foundation makes each child a leader)
                    server.waitUntilExit()
                }
                try? FileManager.default.removeItem(at: groupsFolder.appendingPathComponent(Self.safe(s.id) + ".pgid"))
            }
        }
        var spec: String
        switch plan.sources[c] {
        case .endpoint(let url, let model, let keyEnv)?:
            spec = "name=\(c),url=\(url),model=\(model)" + (keyEnv.map { ",key_env=\($0)" } ?? "")
        default:
            let folder = try path(of: c)
            switch evaluation.generation {
            case .local:
                spec = try local.rewrite(["name=\(c),model=\(folder.path)"], maxBatch: concurrency)[0]
            case .serve(let command, let startup):
                let port = try Self.freePort()
                let p = try startServer(s, command: Self.fill(command, ["model": folder.path, "port": String(port), "name": c,
                                                                         "mixmerge": executable.path]))
                server = p
                let url = "http://127.0.0.1:\(port)/v1"
                try await waitFor(url, p, s, seconds: startup)
                spec = "name=\(c),url=\(url),model=\(c)"
            }
        }
        let (_, endpoint) = try Endpoint.parse(spec + "," + sampling)
        let client = ChatClient(timeoutSeconds: 600, maxAttempts: 3, backoffMs: 200, connections: concurrency)
        let summary: RunSummary
        do {
            summary = try await Runs.generate(store: run, candidates: [(c, endpoint)], client: client, concurrency: concurrency)
        } catch {
            await client.shutdown()
            throw error
        }
        await client.shutdown()
        try appendLog(s, "generate \(c) (\(split.rawValue)): \(summary.succeeded) generated, \(summary.skipped) already done, "
            + "\(summary.failed) failed, \(String(format: "%.1f", summary.seconds)) s\n" + summary.failures.map { "  \($0)\n" }.joined())
        if summary.failed > 0 {
            throw StudyError("\(summary.failed) generations failed (first: \(summary.failures.first ?? "?")); rerun to retry them")
        }
    }

    func appendLog(_ s: Step, _ text: String) throws {
        let url = log(s)
        if !FileManager.default.fileExists(atPath: url.path) { FileManager.default.createFile(atPath: url.path, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: url.path) else { return }
        defer { try? h.close() }
        h.seekToEndOfFile()
        h.write(Data(text.utf8))
    }

    /// A serve-command server, started through the shell with `exec` (so terminating it stops the server).
    func startServer(_ s: Step, command: String) throws -> Process {
        let url = log(s)
        FileManager.default.createFile(atPath: url.path, contents: Data("$ \(command)\n".utf8))
        guard let h = FileHandle(forWritingAtPath: url.path) else { throw StudyError("\(url.path): cannot write the log") }
        h.seekToEndOfFile()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "exec " + command]
        // Not MIXMERGE_DIE_WITH_PARENT: the death signal follows the thread that started the child, and
        // this one goes back to the pool. The server is its own process group, recorded, stopped after use
        // (and by the next run if this one is killed).
        var env = ProcessInfo.processInfo.environment
        env["MIXMERGE_DIE_WITH_PARENT"] = nil
        p.environment = env
        p.standardOutput = h
        p.standardError = h
        do { try p.run() } catch { throw StudyError("cannot start the serve command: \(error.localizedDescription)") }
        _ = try recordGroup(p.processIdentifier, s)
        return p
    }

    /// Waits until the server accepts connections; a server that exits first is an error with its log's last line.
    func waitFor(_ url: String, _ p: Process, _ s: Step, seconds: Double) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if case .reachable = Reachability.probe(url, timeoutSeconds: 1) { return }
            if !p.isRunning {
                let text = (try? String(contentsOf: log(s), encoding: .utf8)) ?? ""
                let last = text.split(separator: "\n").last.map(String.init) ?? ""
                throw StudyError("the serve command exited (\(p.terminationStatus)) before answering: \(last) (log: \(log(s).path))")
            }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        throw StudyError("the serve command did not answer at \(url) within \(Int(seconds)) s (log: \(log(s).path))")
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StudyError("cannot open a socket to find a free port") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw StudyError("cannot find a free loopback port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    var judgeBackend: Runs.JudgeBackend {
        get throws {
            switch evaluation.judge {
            case .rules: return .rules
            case .endpoint(let spec, _):
                var (_, e) = try Endpoint.parse(spec)
                if e.temperature == nil { e.temperature = 0 }
                return .endpoint(e)
            }
        }
    }

    func runJudge(_ s: Step, candidate c: String, split: Step.Split) async throws {
        let run = try openStore(split)
        let backend = try judgeBackend
        if try run.meta("study-judge") != backend.identity {
            try run.removeJudgments()
            try run.setMeta("study-judge", backend.identity)
        }
        if case .endpoint(let e) = backend {
            do { try await Reachability.require(e.baseURL, waitSeconds: 0) } catch { throw StudyError("judge: \(error.message)") }
        }
        let client = ChatClient(timeoutSeconds: 600, maxAttempts: 5, backoffMs: 500, connections: evaluation.concurrency)
        var lines: [String] = []
        do {
            for set in evaluation.sets where set.file(split) != nil {
                let name = Self.setName(set, split)
                let summary: RunSummary
                switch set.kind {
                case .harm:
                    summary = try await Runs.judge(.harm, store: run, judge: backend, template: .harm, candidates: [c], reference: nil,
                                                   client: client, concurrency: evaluation.concurrency, set: name)
                case .general:
                    guard c != evaluation.reference else { continue }
                    summary = try await Runs.judge(.pairwise, store: run, judge: backend, template: .pairwise, candidates: [c],
                                                   reference: evaluation.reference, client: client, concurrency: evaluation.concurrency, set: name)
                }
                lines.append("judge \(set.kind == .harm ? "harm" : "pairwise") \(c) on \(name): \(summary.succeeded) judged, "
                    + "\(summary.skipped) already done, \(summary.failed) failed, \(summary.unparsable) unparsable")
                if summary.failed > 0 { throw StudyError("\(summary.failed) judge calls failed on \(name); rerun to retry them") }
            }
        } catch {
            await client.shutdown()
            try? appendLog(s, lines.joined(separator: "\n") + "\n")
            throw error
        }
        await client.shutdown()
        try appendLog(s, lines.joined(separator: "\n") + "\n")
    }

    /// Pooled harmful rate and win-rate (%) of candidates over a split's sets.
    func rates(_ run: RunStore, split: Step.Split, candidates: [String]) throws -> [String: (harm: Double?, win: Double?)] {
        var harmful: [String: (Int, Int)] = [:], wins: [String: (Double, Int)] = [:]
        for set in evaluation.sets where set.file(split) != nil {
            let a = try Analysis.make(store: run, reference: evaluation.reference, replicates: 20, seed: plan.file.seed, set: Self.setName(set, split))
            for r in a.harm where r.group == "all" && candidates.contains(r.candidate) {
                let old = harmful[r.candidate] ?? (0, 0)
                harmful[r.candidate] = (old.0 + r.harmful, old.1 + r.harmful + r.notHarmful)
            }
            for r in a.wins where r.language == "all" && candidates.contains(r.candidate) {
                let old = wins[r.candidate] ?? (0, 0)
                wins[r.candidate] = (old.0 + Double(r.wins) + 0.5 * Double(r.ties), old.1 + r.wins + r.ties + r.losses)
            }
        }
        var out: [String: (harm: Double?, win: Double?)] = [:]
        for c in candidates {
            let h = harmful[c].flatMap { $0.1 > 0 ? 100 * Double($0.0) / Double($0.1) : nil }
            let w = wins[c].flatMap { $0.1 > 0 ? 100 * $0.0 / Double($0.1) : nil }
            out[c] = (h, w)
        }
        return out
    }

    func runSelect(_ s: Step, _ m: StudyFile.MergeSpec) throws {
        let run = try openStore(.validation)
        let members = m.members
        let r = try rates(run, split: .validation, candidates: members)
        var scores: [Selection.Score] = []
        for (w, member) in zip(m.sweep ?? [], members) {
            let (h, win) = r[member] ?? (nil, nil)
            var score: Double?
            switch evaluation.score {
            case .winMinusHarm: if let h, let win { score = win - h }
            case .win: score = win
            case .harm: score = h.map { -$0 }
            }
            scores.append(.init(member: member, w: w, harm: h, win: win, score: score))
        }
        guard let best = scores.filter({ $0.score != nil }).max(by: { ($0.score ?? 0) < ($1.score ?? 0) }) else {
            throw StudyError("merge.\(m.name): no member has validation judgments to select on")
        }
        // max(by:) keeps the last of equal maxima; prefer the first in sweep order.
        let first = scores.first { $0.score == best.score } ?? best
        let sel = Selection(sweep: m.name, selected: first.member, w: first.w, on: "validation", score: evaluation.score.rawValue, scores: scores)
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try Self.writeAtomically(try e.encode(sel), to: folder(s).appendingPathExtension("json"))
        try appendLog(s, "select \(m.name) on validation (\(evaluation.score.rawValue)): "
            + scores.map { "\($0.member) \($0.score.map { String(format: "%.1f", $0) } ?? "–")" }.joined(separator: ", ") + " → \(first.member)\n")
    }
}
