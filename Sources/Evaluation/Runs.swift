import Crypto
import Datasets
import Foundation
import Judging

/// Reports progress of a run (done, total); called from many tasks.
public protocol RunProgress: Sendable {
    func update(done: Int, total: Int)
}

public struct RunSummary: Sendable, Codable {
    public var requested = 0
    public var skipped = 0
    public var succeeded = 0
    public var failed = 0
    public var cached = 0
    public var unparsable = 0
    public var retries = 0
    public var seconds = 0.0
    public var failures: [String] = []
}

/// Prompt sets, generation and judging runs over a `RunStore`.
public enum Runs {
    // MARK: prompts

    /// Reads a prompt set with the readers of `mixmerge mix` (Aya Red-teaming, Aya evaluation suite,
    /// generic JSONL/JSON/CSV) into the store. A prompt's id is `set:line` (or the record's `id`);
    /// its cluster is its `source_id` (translations of one source prompt), else its id.
    public static func loadPrompts(
        store: RunStore, path: String, reader: RecordReader, set: String, languages: Set<String>?, limit: Int?
    ) throws -> (added: Int, total: Int) {
        let file: RecordFile
        do { file = try RecordFile(source: path) } catch { throw EvaluationError("\(error)") }
        var prompts: [StoredPrompt] = []
        var tape = JSONTape()
        for i in file.spans.indices {
            if let limit, prompts.count >= limit { break }
            let record: Record
            do {
                try file.parse(i, into: &tape)
                record = try reader.read(tape)
            } catch let e as RecordError {
                throw EvaluationError("\(file.location(i)): \(e.message)")
            } catch { throw EvaluationError("\(error)") }
            let language = record.language ?? "und"
            if let languages, !languages.contains(language) { continue }
            // Lines number each shard of a multi-file set from 1: such ids carry the shard's name.
            let line = file.origins.count > 1 ? "\(URL(fileURLWithPath: file.origin(i).name).lastPathComponent):\(file.spans[i].line)"
                : "\(file.spans[i].line)"
            let id = record.id.map { "\(set):\($0)" } ?? "\(set):\(line)"
            let messages = record.prompt.map { ["role": $0.role, "content": $0.content] }
            let messagesJSON = String(decoding: try JSONSerialization.data(withJSONObject: messages, options: [.sortedKeys]), as: UTF8.self)
            let harm = String(decoding: try JSONSerialization.data(withJSONObject: record.harmCategories), as: UTF8.self)
            prompts.append(StoredPrompt(
                id: id, promptSet: set, cluster: record.sourceID.map { "\(set):\($0)" } ?? id, language: language,
                harmCategoriesJSON: harm, globalOrLocal: record.globalOrLocal, messagesJSON: messagesJSON))
        }
        guard !prompts.isEmpty else { throw EvaluationError("\(path): no prompts (after the language filter)") }
        let added = try store.addPrompts(prompts)
        return (added, prompts.count)
    }

    static func messages(_ p: StoredPrompt) -> [(role: String, content: String)] {
        let list = (try? JSONSerialization.jsonObject(with: Data(p.messagesJSON.utf8)) as? [[String: String]]) ?? []
        return list.map { ($0["role"] ?? "user", $0["content"] ?? "") }
    }

    /// The prompt as the judge sees it: the user turns.
    static func promptText(_ p: StoredPrompt) -> String {
        messages(p).filter { $0.role == "user" }.map(\.content).joined(separator: "\n\n")
    }

    // MARK: bounded concurrency

    /// Runs `work` for every item with at most `concurrency` in flight. A thrown error stops the
    /// run (after the requests in flight finish) and is rethrown.
    static func forEach<T: Sendable>(
        _ items: [T], concurrency: Int, _ work: @escaping @Sendable (T) async throws -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            while next < items.count && next < concurrency {
                let item = items[next]
                group.addTask { try await work(item) }
                next += 1
            }
            while try await group.next() != nil {
                if next < items.count {
                    let item = items[next]
                    group.addTask { try await work(item) }
                    next += 1
                }
            }
        }
    }

    final class Tally: @unchecked Sendable {
        private let lock = NSLock()
        private var summary = RunSummary()
        private var done = 0
        let total: Int
        let progress: (any RunProgress)?

        init(total: Int, progress: (any RunProgress)?) {
            self.total = total
            self.progress = progress
        }

        func record(_ update: (inout RunSummary) -> Void) {
            let d: Int = lock.withLock {
                update(&summary)
                done += 1
                return done
            }
            progress?.update(done: d, total: total)
        }

        var result: RunSummary { lock.withLock { summary } }
    }

    // MARK: generate

    /// Generates an answer from every candidate for every prompt of `set` (all sets when nil)
    /// that has none yet.
    public static func generate(
        store: RunStore, candidates: [(name: String, endpoint: Endpoint)], client: ChatClient, concurrency: Int,
        set: String? = nil, progress: (any RunProgress)? = nil
    ) async throws -> RunSummary {
        let start = Date()
        let prompts = try store.prompts(set: set)
        guard !prompts.isEmpty else {
            if let set {
                let known = try store.promptSets()
                throw EvaluationError("\(store.path): no prompt set '\(set)' (sets: \(known.isEmpty ? "none" : known.joined(separator: ", ")); "
                    + "give --prompts FILE)")
            }
            throw EvaluationError("\(store.path): no prompts yet (give --prompts FILE)")
        }
        var work: [(StoredPrompt, String, Endpoint)] = []
        var skipped = 0
        try store.setMeta("tool", "mixmerge 0.1.0")
        for c in candidates {
            try store.setCandidate(c.endpoint, name: c.name)
            let done = try store.generated(candidate: c.name)
            for p in prompts {
                if done.contains(p.id) { skipped += 1 } else { work.append((p, c.name, c.endpoint)) }
            }
        }
        let tally = Tally(total: work.count, progress: progress)
        let items = work.map { UncheckedItem(value: $0) }
        try await forEach(items, concurrency: concurrency) { item in
            let (prompt, name, endpoint) = item.value
            do {
                let r = try await client.complete(endpoint, messages: messages(prompt))
                try store.saveGeneration(Generation(promptID: prompt.id, candidate: name, response: r.text, finishReason: r.finishReason,
                                                    error: nil, attempts: r.attempts, latencyMs: r.latencyMs))
                tally.record { $0.succeeded += 1; $0.retries += r.attempts - 1 }
            } catch let failure as RequestFailure {
                if failure.kind == .unreachable || failure.kind == .rejected {
                    throw EvaluationError("candidate '\(name)': \(failure.message)")
                }
                try store.saveGeneration(Generation(promptID: prompt.id, candidate: name, response: nil, finishReason: nil,
                                                    error: failure.message, attempts: failure.attempts, latencyMs: 0))
                tally.record {
                    $0.failed += 1
                    $0.retries += failure.attempts - 1
                    if $0.failures.count < 10 { $0.failures.append("\(prompt.id) × \(name): \(failure.message)") }
                }
            }
        }
        var summary = tally.result
        summary.requested = work.count
        summary.skipped = skipped
        summary.seconds = Date().timeIntervalSince(start)
        return summary
    }

    // MARK: judge

    public enum JudgeKind: String, Sendable { case harm, pairwise }

    /// Judges every (prompt, candidate) generation of the prompt set `set` (every set when nil)
    /// for harm, or every (prompt, candidate, reference) pair in both orders. Judgments already in
    /// the store are skipped; a judge call whose content hash is in the cache is answered from it;
    /// an unparsable verdict is asked again (`parseRetries` times) and then stored as `unparsable`.
    /// Judgments are stored under the judge's identity (`cache_key` or model), not its URL.
    public static func judge(
        _ kind: JudgeKind, store: RunStore, judge: Endpoint, template: JudgeTemplate, candidates: [String], reference: String?,
        client: ChatClient, concurrency: Int, parseRetries: Int = 2, set: String? = nil, progress: (any RunProgress)? = nil
    ) async throws -> RunSummary {
        let start = Date()
        let judgeName = judge.identity
        try store.setMeta("judge \(kind.rawValue)", "{\"url\":\"\(judge.baseURL)\",\"model\":\"\(judge.model)\",\"settings\":\(judge.settingsJSON),"
            + "\"key_env\":\(judge.keyEnv.map { "\"\($0)\"" } ?? "null"),\"template\":\"\(template.version)\",\"reference\":\(reference.map { "\"\($0)\"" } ?? "null")}")
        let inSet = try store.prompts(set: set)
        if let set, inSet.isEmpty {
            let known = try store.promptSets()
            throw EvaluationError("\(store.path): no prompt set '\(set)' (sets: \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
        }
        let prompts = Dictionary(uniqueKeysWithValues: inSet.map { ($0.id, $0) })
        var responses: [String: [String: String]] = [:]  // candidate → prompt → response
        for g in try store.generations() where g.response != nil { responses[g.candidate, default: [:]][g.promptID] = g.response }
        let done = try store.judgmentKeys(kind: kind.rawValue, judge: judgeName)
        struct Task: Sendable { var prompt: StoredPrompt; var candidate: String; var reference: String; var position: String; var values: [String: String] }
        var tasks: [Task] = []
        var skipped = 0
        for c in candidates {
            let setText = set.map { " for prompt set '\($0)'" } ?? ""
            guard let mine = responses[c]?.filter({ prompts[$0.key] != nil }), !mine.isEmpty else {
                throw EvaluationError("candidate '\(c)' has no generations\(setText) in \(store.path)")
            }
            let theirs = reference.flatMap { responses[$0]?.filter { prompts[$0.key] != nil } }
            if kind == .pairwise && (theirs ?? [:]).isEmpty {
                throw EvaluationError("reference '\(reference ?? "")' has no generations\(setText) in \(store.path)")
            }
            for (id, response) in mine.sorted(by: { $0.key < $1.key }) {
                guard let p = prompts[id] else { continue }
                let base = ["language": Languages.name(p.language), "prompt": promptText(p)]
                switch kind {
                case .harm:
                    let key = "\(id)\u{1}\(c)\u{1}\u{1}"
                    if done.contains(key) { skipped += 1; continue }
                    tasks.append(Task(prompt: p, candidate: c, reference: "", position: "", values: base.merging(["response": response]) { a, _ in a }))
                case .pairwise:
                    guard let ref = reference, let other = theirs?[id] else { continue }
                    for (position, a, b) in [("AB", response, other), ("BA", other, response)] {
                        let key = "\(id)\u{1}\(c)\u{1}\(ref)\u{1}\(position)"
                        if done.contains(key) { skipped += 1; continue }
                        tasks.append(Task(prompt: p, candidate: c, reference: ref, position: position,
                                          values: base.merging(["response_a": a, "response_b": b]) { x, _ in x }))
                    }
                }
            }
        }
        let tally = Tally(total: tasks.count, progress: progress)
        try await forEach(tasks, concurrency: concurrency) { t in
            let (system, user) = template.render(t.values)
            let key = cacheKey(judge: judge, template: template, system: system, user: user)
            var verdict = "unparsable"
            var output: String
            var pA: Double?
            var fromCache = false
            var retries = 0
            if let hit = try store.cached(key) {
                (output, verdict, pA) = (hit.output, hit.verdict, hit.pA)
                fromCache = true
            } else {
                var attempts = 0
                repeat {
                    let r: ChatResult
                    do {
                        r = try await client.complete(judge, messages: [("system", system), ("user", user)])
                    } catch let failure as RequestFailure {
                        if failure.kind == .unreachable || failure.kind == .rejected { throw EvaluationError("judge: \(failure.message)") }
                        try store.saveJudgment(Judgment(kind: kind.rawValue, promptID: t.prompt.id, candidate: t.candidate, reference: t.reference,
                                                        position: t.position, judge: judgeName, template: template.version, cacheKey: key,
                                                        verdict: "error", pA: nil, error: failure.message), cache: nil)
                        tally.record { $0.failed += 1; if $0.failures.count < 10 { $0.failures.append(failure.message) } }
                        return
                    }
                    retries += r.attempts - 1
                    output = r.text
                    pA = r.pA
                    verdict = kind == .harm ? HarmVerdict.parse(r.text).rawValue : PairVerdict.parse(r.text).rawValue
                    attempts += 1
                } while verdict == "unparsable" && attempts <= parseRetries
            }
            let cache = fromCache ? nil : CachedJudgment(output: output, verdict: verdict, pA: pA)
            try store.saveJudgment(Judgment(kind: kind.rawValue, promptID: t.prompt.id, candidate: t.candidate, reference: t.reference,
                                            position: t.position, judge: judgeName, template: template.version, cacheKey: key,
                                            verdict: verdict, pA: pA, error: nil), cache: cache)
            if fromCache { tally.record { $0.cached += 1; $0.succeeded += 1; if verdict == "unparsable" { $0.unparsable += 1 } } }
            else if verdict == "unparsable" { tally.record { $0.unparsable += 1; $0.succeeded += 1; $0.retries += retries } }
            else { tally.record { $0.succeeded += 1; $0.retries += retries } }
        }
        var summary = tally.result
        summary.requested = tasks.count
        summary.skipped = skipped
        summary.seconds = Date().timeIntervalSince(start)
        return summary
    }

    /// SHA-256 of what determines a judge's answer: the judge's identity (`cache_key`, else the
    /// model name), its sampling settings, the template version and the rendered messages. Not the
    /// URL: the same model restarted on another port, or reached as `localhost` instead of
    /// `127.0.0.1`, is answered from the cache.
    public static func cacheKey(judge: Endpoint, template: JudgeTemplate, system: String, user: String) -> String {
        var h = SHA256()
        for part in [judge.identity, judge.settingsJSON, template.version, system, user] {
            h.update(data: Data(part.utf8))
            h.update(data: Data([0]))
        }
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

struct UncheckedItem<T>: @unchecked Sendable { let value: T }
