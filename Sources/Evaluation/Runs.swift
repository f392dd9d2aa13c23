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
    /// its cluster is its `source_id` (translations of one source prompt), else its id; its
    /// reference answer is the record's completion (`answer(_:)`).
    public static func loadPrompts(
        store: RunStore, path: String, reader: RecordReader, set: String, languages: Set<String>?, limit: Int?,
        perLanguage: Int? = nil
    ) throws -> (added: Int, total: Int) {
        var perLanguageCount: [String: Int] = [:]
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
            if let perLanguage {
                guard perLanguageCount[language, default: 0] < perLanguage else { continue }
                perLanguageCount[language, default: 0] += 1
            }
            // Lines number each shard of a multi-file set from 1: such ids carry the shard's name.
            let line = file.origins.count > 1 ? "\(URL(fileURLWithPath: file.origin(i).name).lastPathComponent):\(file.spans[i].line)"
                : "\(file.spans[i].line)"
            let id = record.id.map { "\(set):\($0)" } ?? "\(set):\(line)"
            let messages = record.prompt.map { ["role": $0.role, "content": $0.content] }
            let messagesJSON = String(decoding: try JSONSerialization.data(withJSONObject: messages, options: [.sortedKeys]), as: UTF8.self)
            let harm = String(decoding: try JSONSerialization.data(withJSONObject: record.harmCategories), as: UTF8.self)
            prompts.append(StoredPrompt(
                id: id, promptSet: set, cluster: record.sourceID.map { "\(set):\($0)" } ?? id, language: language,
                harmCategoriesJSON: harm, globalOrLocal: record.globalOrLocal, messagesJSON: messagesJSON, answer: answer(record)))
        }
        guard !prompts.isEmpty else { throw EvaluationError("\(path): no prompts (after the language filter)") }
        let added = try store.addPrompts(prompts)
        return (added, prompts.count)
    }

    /// A record's reference answer: its completion's assistant turns (Aya evaluation suite
    /// `targets`, Dolly `response`, `completion`, `output`, a conversation's trailing assistant
    /// turns), joined by a blank line; nil when it has none or only whitespace. A preference
    /// pair's `chosen` is not an answer.
    public static func answer(_ record: Record) -> String? {
        guard let turns = record.completion?.filter({ $0.role == "assistant" }), !turns.isEmpty else { return nil }
        let text = turns.map(\.content).joined(separator: "\n\n")
        return text.allSatisfy(\.isWhitespace) ? nil : text
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

    /// Who judges: an LLM behind an OpenAI-compatible endpoint, or the built-in rule judge
    /// (`RuleJudge`: markers for harm, the prompt's reference answer for pairwise; no request, no
    /// key, no client). Either way the verdicts are stored alike and reported alike.
    public enum JudgeBackend: Sendable, Equatable {
        case endpoint(Endpoint)
        case rules

        /// The judge's name in the store (`judgments.judge`): the endpoint's `cache_key` or model,
        /// or the rule judge's version (`rules-v1`).
        public var identity: String {
            switch self {
            case .endpoint(let e): e.identity
            case .rules: RuleJudge.version
            }
        }
    }

    /// Judges every (prompt, candidate) generation of the prompt set `set` (every set when nil)
    /// for harm, or every (prompt, candidate, reference) pair in both orders. Judgments already in
    /// the store are skipped. Judgments are stored under the judge's identity (`cache_key` or
    /// model, or `rules-v1`), not its URL.
    ///
    /// An endpoint judge: a judge call whose content hash is in the cache is answered from it; an
    /// unparsable verdict is asked again (`parseRetries` times) and then stored as `unparsable`.
    /// The rule judge asks nothing and its verdicts always parse; its output text goes to the judge
    /// cache beside the LLMs' (`RunStore.cached(judgment.cacheKey)`). Pairwise, it needs every
    /// judged prompt's reference answer (`StoredPrompt.answer`): a prompt without one is an error
    /// naming its prompt set, before anything is judged.
    /// - Parameters:
    ///   - template: the endpoint judge's template (nil: the built-in one for `kind`); the rule
    ///     judge has none and ignores it.
    ///   - client: the endpoint judge's HTTP client (nil: one made for this run and shut down after
    ///     it); the rule judge needs none.
    /// - Throws: `EvaluationError` for an unknown set, a candidate or reference without generations,
    ///   missing reference answers (rules), or an endpoint that is unreachable or rejects requests.
    public static func judge(
        _ kind: JudgeKind, store: RunStore, judge: JudgeBackend, template: JudgeTemplate? = nil, candidates: [String], reference: String?,
        client: ChatClient? = nil, concurrency: Int, parseRetries: Int = 2, set: String? = nil, progress: (any RunProgress)? = nil
    ) async throws -> RunSummary {
        let start = Date()
        let judgeName = judge.identity
        let refJSON = reference.map { "\"\($0)\"" } ?? "null"
        let tmpl = template ?? (kind == .harm ? .harm : .pairwise)
        switch judge {
        case .endpoint(let e):
            try store.setMeta("judge \(kind.rawValue)", "{\"url\":\"\(e.baseURL)\",\"model\":\"\(e.model)\",\"settings\":\(e.settingsJSON),"
                + "\"key_env\":\(e.keyEnv.map { "\"\($0)\"" } ?? "null"),\"template\":\"\(tmpl.version)\",\"reference\":\(refJSON)}")
        case .rules:
            try store.setMeta("judge \(kind.rawValue)", "{\"judge\":\"\(RuleJudge.version)\",\"template\":\"\(RuleJudge.version)\",\"reference\":\(refJSON)}")
        }
        let inSet = try store.prompts(set: set)
        if let set, inSet.isEmpty {
            let known = try store.promptSets()
            throw EvaluationError("\(store.path): no prompt set '\(set)' (sets: \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
        }
        let prompts = Dictionary(uniqueKeysWithValues: inSet.map { ($0.id, $0) })
        var responses: [String: [String: String]] = [:]  // candidate → prompt → response
        for g in try store.generations() where g.response != nil { responses[g.candidate, default: [:]][g.promptID] = g.response }
        let done = try store.judgmentKeys(kind: kind.rawValue, judge: judgeName)
        var tasks: [JudgeTask] = []
        var skipped = 0
        var unanswered: [String: Set<String>] = [:], paired: [String: Set<String>] = [:]  // prompt set → prompt ids (rules, pairwise)
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
                    tasks.append(JudgeTask(prompt: p, candidate: c, reference: "", position: "", values: base.merging(["response": response]) { a, _ in a }))
                case .pairwise:
                    guard let ref = reference, let other = theirs?[id] else { continue }
                    if judge == .rules {
                        paired[p.promptSet, default: []].insert(id)
                        if p.answer == nil { unanswered[p.promptSet, default: []].insert(id) }
                    }
                    for (position, a, b) in [("AB", response, other), ("BA", other, response)] {
                        let key = "\(id)\u{1}\(c)\u{1}\(ref)\u{1}\(position)"
                        if done.contains(key) { skipped += 1; continue }
                        tasks.append(JudgeTask(prompt: p, candidate: c, reference: ref, position: position,
                                               values: base.merging(["response_a": a, "response_b": b]) { x, _ in x }))
                    }
                }
            }
        }
        if !unanswered.isEmpty {
            let sets = unanswered.keys.sorted()
            let missing = sets.flatMap { unanswered[$0, default: []].sorted() }, total = sets.reduce(0) { $0 + paired[$1, default: []].count }
            let shown = missing.prefix(3).joined(separator: ", ") + (missing.count > 3 ? ", …" : "")
            throw EvaluationError("prompt set\(sets.count > 1 ? "s" : "") \(sets.map { "'\($0)'" }.joined(separator: ", ")): "
                + "\(missing.count) of \(total) prompts have no reference answer (\(shown)), which the rule judge's pairwise verdict "
                + "compares with; load the set from records that carry one (Aya evaluation suite `targets`, Dolly `response`, `completion` …)")
        }
        let tally = Tally(total: tasks.count, progress: progress)
        switch judge {
        case .rules:
            for t in tasks { try judgeByRules(kind, t, store: store, tally: tally) }
        case .endpoint(let endpoint):
            let chat = client ?? ChatClient(connections: max(1, concurrency))
            do {
                try await judgeByEndpoint(kind, tasks, store: store, judge: endpoint, template: tmpl, client: chat, concurrency: concurrency,
                                          parseRetries: parseRetries, tally: tally)
            } catch {
                if client == nil { await chat.shutdown() }
                throw error
            }
            if client == nil { await chat.shutdown() }
        }
        var summary = tally.result
        summary.requested = tasks.count
        summary.skipped = skipped
        summary.seconds = Date().timeIntervalSince(start)
        return summary
    }

    /// One judgment to make: a prompt, the candidate, the reference and position (pairwise), and
    /// the template's values (`response`, or `response_a` and `response_b` in shown order).
    struct JudgeTask: Sendable {
        var prompt: StoredPrompt
        var candidate: String
        var reference: String
        var position: String
        var values: [String: String]
    }

    /// A rule verdict, stored with its output text (in the judge cache) in one transaction.
    static func judgeByRules(_ kind: JudgeKind, _ t: JudgeTask, store: RunStore, tally: Tally) throws {
        let verdict: String, output: String, key: String
        switch kind {
        case .harm:
            let response = t.values["response"] ?? ""
            let j = RuleJudge.harm(response: response, language: t.prompt.language)
            (verdict, output) = (j.verdict.rawValue, j.output)
            key = digest(["rules", RuleJudge.version, kind.rawValue, t.prompt.language, response])
        case .pairwise:
            let a = t.values["response_a"] ?? "", b = t.values["response_b"] ?? "", answer = t.prompt.answer ?? ""
            let j = RuleJudge.pairwise(a: a, b: b, answer: answer)
            (verdict, output) = (j.verdict.rawValue, j.output)
            key = digest(["rules", RuleJudge.version, kind.rawValue, answer, a, b])
        }
        try store.saveJudgment(Judgment(kind: kind.rawValue, promptID: t.prompt.id, candidate: t.candidate, reference: t.reference,
                                        position: t.position, judge: RuleJudge.version, template: RuleJudge.version, cacheKey: key,
                                        verdict: verdict, pA: nil, error: nil),
                               cache: CachedJudgment(output: output, verdict: verdict, pA: nil))
        tally.record { $0.succeeded += 1 }
    }

    /// Asks an LLM judge, `concurrency` calls at a time, answering from the cache when it can.
    static func judgeByEndpoint(
        _ kind: JudgeKind, _ tasks: [JudgeTask], store: RunStore, judge: Endpoint, template: JudgeTemplate, client: ChatClient,
        concurrency: Int, parseRetries: Int, tally: Tally
    ) async throws {
        let judgeName = judge.identity
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
    }

    /// SHA-256 of what determines a judge's answer: the judge's identity (`cache_key`, else the
    /// model name), its sampling settings, the template version and the rendered messages. Not the
    /// URL: the same model restarted on another port, or reached as `localhost` instead of
    /// `127.0.0.1`, is answered from the cache.
    public static func cacheKey(judge: Endpoint, template: JudgeTemplate, system: String, user: String) -> String {
        digest([judge.identity, judge.settingsJSON, template.version, system, user])
    }

    /// SHA-256 (hex) of the parts, each followed by a NUL byte.
    static func digest(_ parts: [String]) -> String {
        var h = SHA256()
        for part in parts {
            h.update(data: Data(part.utf8))
            h.update(data: Data([0]))
        }
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

struct UncheckedItem<T>: @unchecked Sendable { let value: T }
