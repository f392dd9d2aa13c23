import Foundation
import GRDB
import Judging

/// One evaluation run in one SQLite file: its configuration, the prompts, the candidates, every
/// generation and judgment, and the judge cache. Each write is its own transaction (WAL mode), so
/// a run killed at any moment resumes with nothing lost and nothing duplicated: what is in the
/// file is exactly what finished. API keys are never stored (only the names of the environment
/// variables that hold them).
public final class RunStore: Sendable {
    let db: DatabaseQueue
    public let path: String

    /// Opens the run store at `path`; `create` makes a new one when there is none (`generate`),
    /// otherwise a missing store is an error (`judge`, `report`: judging or reporting on an empty
    /// store made by a typo would "succeed" with nothing in it).
    public init(path: String, create: Bool = true) throws {
        self.path = path
        if !create && !FileManager.default.fileExists(atPath: path) {
            throw EvaluationError("\(path): no such run store (`mixmerge generate` makes one)")
        }
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
        }
        do { db = try DatabaseQueue(path: path, configuration: config) } catch {
            throw EvaluationError("\(path): cannot open the run store (\(Self.describe(error)))")
        }
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE prompts (
                    id TEXT PRIMARY KEY, position INTEGER NOT NULL, prompt_set TEXT NOT NULL, cluster TEXT NOT NULL,
                    language TEXT NOT NULL, harm_categories TEXT NOT NULL, global_or_local TEXT, messages TEXT NOT NULL);
                CREATE TABLE candidates (name TEXT PRIMARY KEY, url TEXT NOT NULL, model TEXT NOT NULL, settings TEXT NOT NULL, key_env TEXT);
                CREATE TABLE generations (
                    prompt_id TEXT NOT NULL, candidate TEXT NOT NULL, response TEXT, finish_reason TEXT, error TEXT,
                    attempts INTEGER NOT NULL, latency_ms REAL NOT NULL, PRIMARY KEY (prompt_id, candidate));
                CREATE TABLE judgments (
                    kind TEXT NOT NULL, prompt_id TEXT NOT NULL, candidate TEXT NOT NULL, reference TEXT NOT NULL,
                    position TEXT NOT NULL, judge TEXT NOT NULL, template TEXT NOT NULL, cache_key TEXT NOT NULL,
                    verdict TEXT NOT NULL, p_a REAL, error TEXT,
                    PRIMARY KEY (kind, prompt_id, candidate, reference, position, judge));
                CREATE TABLE judge_cache (key TEXT PRIMARY KEY, output TEXT NOT NULL, verdict TEXT NOT NULL, p_a REAL);
                """)
        }
        // v2: a prompt's reference answer (the record's completion), what the rule judge's pairwise
        // verdict compares with. Stores made before it open with NULL answers.
        migrator.registerMigration("v2") { db in
            try db.execute(sql: "ALTER TABLE prompts ADD COLUMN answer TEXT")
        }
        do { try migrator.migrate(db) } catch {
            throw EvaluationError("\(path): not a mixmerge run store (\(Self.describe(error)))")
        }
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? DatabaseError { return e.message ?? "\(e.resultCode)" }
        return "\(error)"
    }

    // MARK: configuration

    public func setMeta(_ key: String, _ value: String) throws {
        try db.write { try $0.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", arguments: [key, value]) }
    }

    public func meta(_ key: String) throws -> String? {
        try db.read { try String.fetchOne($0, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) }
    }

    /// Adds prompts not yet in the store (in one transaction); returns how many were new. A prompt
    /// already stored without a reference answer takes the one given now (a store made before
    /// answers were kept gets them by reading its prompt file again); nothing else of it changes.
    public func addPrompts(_ prompts: [StoredPrompt]) throws -> Int {
        try db.write { db in
            var added = 0
            let start = try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(position) + 1, 0) FROM prompts") ?? 0
            for (i, p) in prompts.enumerated() {
                try db.execute(sql: """
                    INSERT OR IGNORE INTO prompts (id, position, prompt_set, cluster, language, harm_categories, global_or_local, messages, answer)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [p.id, start + i, p.promptSet, p.cluster, p.language, p.harmCategoriesJSON, p.globalOrLocal, p.messagesJSON,
                                     p.answer])
                if db.changesCount > 0 {
                    added += 1
                } else if let answer = p.answer {
                    try db.execute(sql: "UPDATE prompts SET answer = ? WHERE id = ? AND answer IS NULL", arguments: [answer, p.id])
                }
            }
            return added
        }
    }

    public func prompts(set: String? = nil) throws -> [StoredPrompt] {
        try db.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT id, prompt_set, cluster, language, harm_categories, global_or_local, messages, answer FROM prompts
                \(set == nil ? "" : "WHERE prompt_set = ?") ORDER BY position
                """, arguments: set.map { [$0] } ?? [])
            return rows.map {
                StoredPrompt(id: $0["id"], promptSet: $0["prompt_set"], cluster: $0["cluster"], language: $0["language"],
                             harmCategoriesJSON: $0["harm_categories"], globalOrLocal: $0["global_or_local"], messagesJSON: $0["messages"],
                             answer: $0["answer"])
            }
        }
    }

    /// The prompt sets in the store, in the order they were added.
    public func promptSets() throws -> [String] {
        try db.read { try String.fetchAll($0, sql: "SELECT prompt_set FROM prompts GROUP BY prompt_set ORDER BY MIN(position)") }
    }

    public func setCandidate(_ c: Endpoint, name: String) throws {
        try db.write {
            try $0.execute(sql: "INSERT OR REPLACE INTO candidates (name, url, model, settings, key_env) VALUES (?, ?, ?, ?, ?)",
                           arguments: [name, c.baseURL, c.model, c.settingsJSON, c.keyEnv])
        }
    }

    public func candidateNames() throws -> [String] {
        try db.read { try String.fetchAll($0, sql: "SELECT name FROM candidates ORDER BY name") }
    }

    /// Removes a candidate: its row, its generations, and every judgment where it is the candidate
    /// or the reference, in one transaction (so a candidate whose model changed is generated and
    /// judged afresh, and no verdict on its old answers survives). The judge cache stays: it is
    /// keyed by the texts judged, so the new answers are never answered from it unless identical.
    /// - Returns: whether the store held anything of the candidate.
    /// Removes every judgment (the judge changed: its verdicts must not mix with the new one's);
    /// generations and the judge cache stay.
    public func removeJudgments() throws {
        try db.write { try $0.execute(sql: "DELETE FROM judgments") }
    }

    @discardableResult
    public func removeCandidate(_ name: String) throws -> Bool {
        try db.write { db in
            var removed = 0
            try db.execute(sql: "DELETE FROM candidates WHERE name = ?", arguments: [name])
            removed += db.changesCount
            try db.execute(sql: "DELETE FROM generations WHERE candidate = ?", arguments: [name])
            removed += db.changesCount
            try db.execute(sql: "DELETE FROM judgments WHERE candidate = ? OR reference = ?", arguments: [name, name])
            removed += db.changesCount
            return removed > 0
        }
    }

    // MARK: generations

    /// Prompt ids that already have a successful generation from `candidate`.
    public func generated(candidate: String) throws -> Set<String> {
        try db.read { Set(try String.fetchAll($0, sql: "SELECT prompt_id FROM generations WHERE candidate = ? AND response IS NOT NULL", arguments: [candidate])) }
    }

    public func saveGeneration(_ g: Generation) throws {
        try db.write {
            try $0.execute(sql: """
                INSERT OR REPLACE INTO generations (prompt_id, candidate, response, finish_reason, error, attempts, latency_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [g.promptID, g.candidate, g.response, g.finishReason, g.error, g.attempts, g.latencyMs])
        }
    }

    public func generations(candidate: String? = nil) throws -> [Generation] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM generations \(candidate == nil ? "" : "WHERE candidate = ?")",
                             arguments: candidate.map { [$0] } ?? []).map {
                Generation(promptID: $0["prompt_id"], candidate: $0["candidate"], response: $0["response"], finishReason: $0["finish_reason"],
                           error: $0["error"], attempts: $0["attempts"], latencyMs: $0["latency_ms"])
            }
        }
    }

    // MARK: judgments and the cache

    public func judgmentKeys(kind: String, judge: String) throws -> Set<String> {
        try db.read { db in
            Set(try Row.fetchAll(db, sql: "SELECT prompt_id, candidate, reference, position FROM judgments WHERE kind = ? AND judge = ? AND error IS NULL",
                                 arguments: [kind, judge]).map { "\($0["prompt_id"] as String)\u{1}\($0["candidate"] as String)\u{1}\($0["reference"] as String)\u{1}\($0["position"] as String)" })
        }
    }

    public func cached(_ key: String) throws -> CachedJudgment? {
        try db.read { db in
            try Row.fetchOne(db, sql: "SELECT output, verdict, p_a FROM judge_cache WHERE key = ?", arguments: [key]).map {
                CachedJudgment(output: $0["output"], verdict: $0["verdict"], pA: $0["p_a"])
            }
        }
    }

    /// Stores a judgment and (when it has an output) its cache entry, in one transaction.
    public func saveJudgment(_ j: Judgment, cache: CachedJudgment?) throws {
        try db.write { db in
            if let cache {
                try db.execute(sql: "INSERT OR REPLACE INTO judge_cache (key, output, verdict, p_a) VALUES (?, ?, ?, ?)",
                               arguments: [j.cacheKey, cache.output, cache.verdict, cache.pA])
            }
            try db.execute(sql: """
                INSERT OR REPLACE INTO judgments (kind, prompt_id, candidate, reference, position, judge, template, cache_key, verdict, p_a, error)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [j.kind, j.promptID, j.candidate, j.reference, j.position, j.judge, j.template, j.cacheKey, j.verdict, j.pA, j.error])
        }
    }

    public func judgments(kind: String) throws -> [Judgment] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM judgments WHERE kind = ?", arguments: [kind]).map {
                Judgment(kind: $0["kind"], promptID: $0["prompt_id"], candidate: $0["candidate"], reference: $0["reference"],
                         position: $0["position"], judge: $0["judge"], template: $0["template"], cacheKey: $0["cache_key"],
                         verdict: $0["verdict"], pA: $0["p_a"], error: $0["error"])
            }
        }
    }

    public func count(_ table: String) throws -> Int {
        try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM \(table)") ?? 0 }
    }
}

public struct StoredPrompt: Sendable, Equatable {
    public var id: String
    public var promptSet: String
    /// Source prompt shared by translations (the bootstrap resamples these clusters).
    public var cluster: String
    public var language: String
    public var harmCategoriesJSON: String
    public var globalOrLocal: String?
    public var messagesJSON: String
    /// The reference answer (the record's completion: Aya evaluation suite `targets`, Dolly
    /// `response`, `completion`, trailing assistant turns …), nil when the record has none or the
    /// store predates answers.
    public var answer: String?

    public init(id: String, promptSet: String, cluster: String, language: String, harmCategoriesJSON: String = "[]",
                globalOrLocal: String? = nil, messagesJSON: String, answer: String? = nil) {
        self.id = id
        self.promptSet = promptSet
        self.cluster = cluster
        self.language = language
        self.harmCategoriesJSON = harmCategoriesJSON
        self.globalOrLocal = globalOrLocal
        self.messagesJSON = messagesJSON
        self.answer = answer
    }
}

public struct Generation: Sendable {
    public var promptID: String
    public var candidate: String
    public var response: String?
    public var finishReason: String?
    public var error: String?
    public var attempts: Int
    public var latencyMs: Double

    public init(promptID: String, candidate: String, response: String?, finishReason: String? = nil, error: String? = nil,
                attempts: Int = 1, latencyMs: Double = 0) {
        self.promptID = promptID
        self.candidate = candidate
        self.response = response
        self.finishReason = finishReason
        self.error = error
        self.attempts = attempts
        self.latencyMs = latencyMs
    }
}

public struct Judgment: Sendable {
    public var kind: String
    public var promptID: String
    public var candidate: String
    public var reference: String
    public var position: String
    public var judge: String
    public var template: String
    public var cacheKey: String
    public var verdict: String
    public var pA: Double?
    public var error: String?
}

public struct CachedJudgment: Sendable {
    public var output: String
    public var verdict: String
    public var pA: Double?
}

public struct EvaluationError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
