/// The shapes of record mixmerge reads. `auto` picks one per record from the fields present.
public enum RecordFormat: String, CaseIterable, Sendable {
    case auto
    /// Aya Red-teaming: `prompt`, `language` (full name), `harm_category` (a JSON list inside a
    /// string), `global_or_local`. Prompts only.
    case ayaRedteaming = "aya_redteaming"
    /// Aya evaluation suite: `inputs`, `targets`, `language` (ISO 639-3), `script`, `source_id`, `id`.
    case ayaEvaluation = "aya_evaluation"
    /// UltraFeedback Binarized: `prompt`, `prompt_id`, `chosen`/`rejected` (full conversations), `messages`.
    case ultrafeedback
    /// `messages`: a conversation; trailing assistant turns are the response.
    case messages
    /// `prompt` and `completion` (strings or message lists).
    case promptCompletion = "prompt_completion"
    /// `prompt`, `chosen`, `rejected` (strings, message lists, or full conversations).
    case preference
    /// `instruction`, `input`, `output` (Alpaca).
    case alpaca
    /// Prompts only: `prompt` (what a red-teaming or evaluation prompt set needs).
    case prompts
}

/// The fields a record can carry; a source's field map renames them (`fields: {prompt: question}`).
public enum RecordField: String, CaseIterable, Sendable {
    case prompt, completion, chosen, rejected, messages, system, input
    case language
    case sourceID = "source_id"
    case harmCategory = "harm_category"
    case globalOrLocal = "global_or_local"
    case id
}

/// Turns one parsed JSON object into a `Record` following a format and a field map.
public struct RecordReader: Sendable {
    public var format: RecordFormat
    /// Field renames: the record's own key for each field.
    public var fieldMap: [RecordField: String]
    /// Language of records that carry none (canonical code).
    public var defaultLanguage: String?
    /// Extra language spellings → canonical codes, tried before the built-in table.
    public var languageMap: [String: String]

    public init(
        format: RecordFormat = .auto, fieldMap: [RecordField: String] = [:], defaultLanguage: String? = nil,
        languageMap: [String: String] = [:]
    ) {
        self.format = format
        self.fieldMap = fieldMap
        self.defaultLanguage = defaultLanguage
        self.languageMap = languageMap
    }

    /// Keys looked up for a field when the field map does not name one, in order.
    static func defaultKeys(_ field: RecordField, _ format: RecordFormat) -> [String] {
        switch (field, format) {
        case (.prompt, .ayaEvaluation): ["inputs"]
        case (.prompt, .alpaca): ["instruction"]
        case (.prompt, .auto): ["prompt", "inputs", "instruction", "question"]
        case (.prompt, _): ["prompt"]
        case (.completion, .ayaEvaluation): ["targets"]
        case (.completion, .alpaca): ["output"]
        case (.completion, .auto): ["completion", "response", "output", "targets", "answer"]
        case (.completion, .ayaRedteaming), (.completion, .prompts), (.completion, .ultrafeedback), (.completion, .preference): []
        case (.completion, _): ["completion"]
        case (.input, .alpaca), (.input, .auto): ["input"]
        case (.input, _): []
        case (.chosen, .ayaRedteaming), (.chosen, .ayaEvaluation), (.chosen, .alpaca), (.chosen, .prompts): []
        case (.rejected, .ayaRedteaming), (.rejected, .ayaEvaluation), (.rejected, .alpaca), (.rejected, .prompts): []
        case (.chosen, _): ["chosen"]
        case (.rejected, _): ["rejected"]
        case (.messages, .messages), (.messages, .ultrafeedback), (.messages, .auto): ["messages", "conversations"]
        case (.messages, _): []
        case (.system, _): ["system"]
        case (.language, _): ["language", "lang"]
        case (.sourceID, .ayaEvaluation): ["source_id"]
        case (.sourceID, .ultrafeedback): ["prompt_id"]
        case (.sourceID, _): ["source_id", "prompt_id", "seed_prompt_id"]
        case (.harmCategory, _): ["harm_category"]
        case (.globalOrLocal, _): ["global_or_local"]
        case (.id, _): ["id"]
        }
    }

    /// Fields a record of the format must have (by their canonical names).
    static func required(_ format: RecordFormat) -> [RecordField] {
        switch format {
        case .auto: []
        case .ayaRedteaming, .prompts: [.prompt]
        case .ayaEvaluation: [.prompt]
        case .ultrafeedback: [.chosen, .rejected]
        case .messages: [.messages]
        case .promptCompletion: [.prompt, .completion]
        case .preference: [.chosen, .rejected]
        case .alpaca: [.prompt, .completion]
        }
    }

    public func read(_ node: JSONNode, _ bytes: JSONBytes) throws(RecordError) -> Record {
        guard case .object = node else { throw RecordError("expected a JSON object, found \(node.kindName)") }
        func keyName(_ f: RecordField) -> String { fieldMap[f] ?? Self.defaultKeys(f, format).first ?? f.rawValue }
        func value(_ f: RecordField) -> JSONNode? {
            if let mapped = fieldMap[f] { return node.member(mapped, in: bytes) }
            for k in Self.defaultKeys(f, format) {
                if let v = node.member(k, in: bytes), !(isNull(v)) { return v }
            }
            return nil
        }
        for f in Self.required(format) where value(f) == nil {
            throw RecordError("missing field '\(keyName(f))' (format \(format.rawValue))")
        }
        if let mapped = fieldMapMissing(node, bytes) { throw RecordError("missing field '\(mapped)' (named in the field map)") }

        var prompt: [Message] = []
        var completion: [Message]?
        if let m = value(.messages), value(.prompt) == nil {
            let turns = try messages(m, keyName(.messages), bytes)
            let (prefix, response) = Self.splitResponse(turns)
            prompt = prefix
            completion = response.isEmpty ? nil : response
        } else if let p = value(.prompt) {
            prompt = try turns(p, keyName(.prompt), bytes, defaultRole: "user")
            if let input = value(.input) {
                let extra = try text(input, keyName(.input), bytes)
                if !extra.isEmpty, let last = prompt.indices.last { prompt[last].content += "\n\n" + extra }
            }
        }
        if let c = value(.completion) { completion = try turns(c, keyName(.completion), bytes, defaultRole: "assistant") }
        if let s = value(.system) {
            let system = try text(s, keyName(.system), bytes)
            if !system.isEmpty && prompt.first?.role != "system" { prompt.insert(Message(role: "system", content: system), at: 0) }
        }

        var chosen: [Message]?
        var rejected: [Message]?
        if let c = value(.chosen), let r = value(.rejected) {
            let (cPrefix, cResponse) = Self.splitResponse(try turns(c, keyName(.chosen), bytes, defaultRole: "assistant"))
            let (rPrefix, rResponse) = Self.splitResponse(try turns(r, keyName(.rejected), bytes, defaultRole: "assistant"))
            guard !cResponse.isEmpty else { throw RecordError("'\(keyName(.chosen))' has no assistant turn") }
            guard !rResponse.isEmpty else { throw RecordError("'\(keyName(.rejected))' has no assistant turn") }
            guard cPrefix == rPrefix else { throw RecordError("'\(keyName(.chosen))' and '\(keyName(.rejected))' start with different prompt turns") }
            if prompt.isEmpty {
                prompt = cPrefix
            } else if !cPrefix.isEmpty && cPrefix.map(\.content) != prompt.filter({ $0.role != "system" }).map(\.content)
                        && cPrefix != prompt {
                throw RecordError("the prompt turns inside '\(keyName(.chosen))' differ from '\(keyName(.prompt))'")
            }
            chosen = cResponse
            rejected = rResponse
        } else if let only = value(.chosen) ?? value(.rejected) {
            _ = only
            throw RecordError("a preference pair needs both '\(keyName(.chosen))' and '\(keyName(.rejected))'")
        }
        guard !prompt.isEmpty else {
            throw RecordError("no prompt: expected '\(keyName(.prompt))' or '\(keyName(.messages))'")
        }
        guard prompt.contains(where: { $0.role == "user" }) else { throw RecordError("the prompt has no user turn") }

        var record = Record(prompt: prompt, completion: completion, chosen: chosen, rejected: rejected)
        if let l = value(.language) {
            let raw = try text(l, keyName(.language), bytes)
            guard let code = languageMap[raw] ?? Languages.canonical(raw) else {
                throw RecordError("unknown language '\(raw)' (add it to the source's language_map: {\"\(raw)\": CODE})")
            }
            record.language = code
        } else {
            record.language = defaultLanguage
        }
        if let h = value(.harmCategory) { record.harmCategories = try harmCategories(h, keyName(.harmCategory), bytes) }
        if let g = value(.globalOrLocal) { record.globalOrLocal = try text(g, keyName(.globalOrLocal), bytes) }
        if let s = value(.sourceID) { record.sourceID = try scalarText(s, keyName(.sourceID), bytes) }
        if let i = value(.id) { record.id = try scalarText(i, keyName(.id), bytes) }
        return record
    }

    private func fieldMapMissing(_ node: JSONNode, _ bytes: JSONBytes) -> String? {
        for (field, key) in fieldMap.sorted(by: { $0.key.rawValue < $1.key.rawValue })
        where field != .system && field != .input && node.member(key, in: bytes) == nil {
            return key
        }
        return nil
    }

    /// Splits a conversation into its prompt turns and its trailing assistant turns.
    static func splitResponse(_ turns: [Message]) -> (prefix: [Message], response: [Message]) {
        var cut = turns.count
        while cut > 0 && turns[cut - 1].role == "assistant" { cut -= 1 }
        return (Array(turns[..<cut]), Array(turns[cut...]))
    }

    private func isNull(_ node: JSONNode) -> Bool { if case .null = node { true } else { false } }

    private func text(_ node: JSONNode, _ key: String, _ bytes: JSONBytes) throws(RecordError) -> String {
        guard case .string(let s) = node else { throw RecordError("field '\(key)' should be a string, found \(node.kindName)") }
        return bytes.string(s)
    }

    private func scalarText(_ node: JSONNode, _ key: String, _ bytes: JSONBytes) throws(RecordError) -> String {
        switch node {
        case .string(let s): return bytes.string(s)
        case .number(let r): return bytes.text(r)
        default: throw RecordError("field '\(key)' should be a string or a number, found \(node.kindName)")
        }
    }

    /// A string (one turn with `defaultRole`) or a list of messages.
    private func turns(_ node: JSONNode, _ key: String, _ bytes: JSONBytes, defaultRole: String) throws(RecordError) -> [Message] {
        if case .string(let s) = node { return [Message(role: defaultRole, content: bytes.string(s))] }
        return try messages(node, key, bytes)
    }

    static let shareGPTRoles = ["human": "user", "gpt": "assistant", "system": "system", "user": "user", "assistant": "assistant"]

    /// A list of `{role, content}` (or ShareGPT `{from, value}`) objects.
    private func messages(_ node: JSONNode, _ key: String, _ bytes: JSONBytes) throws(RecordError) -> [Message] {
        guard case .array(let items) = node else { throw RecordError("field '\(key)' should be a list of messages, found \(node.kindName)") }
        var out: [Message] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard case .object = item else { throw RecordError("\(key)[\(i)] should be an object with role and content") }
            if let r = item.member("role", in: bytes), let c = item.member("content", in: bytes) {
                let role = try text(r, "\(key)[\(i)].role", bytes)
                guard ["system", "user", "assistant", "tool"].contains(role) else {
                    throw RecordError("\(key)[\(i)].role: unknown role '\(role)' (expected system, user or assistant)")
                }
                out.append(Message(role: role, content: try text(c, "\(key)[\(i)].content", bytes)))
            } else if let f = item.member("from", in: bytes), let v = item.member("value", in: bytes) {
                let from = try text(f, "\(key)[\(i)].from", bytes)
                guard let role = Self.shareGPTRoles[from] else { throw RecordError("\(key)[\(i)].from: unknown speaker '\(from)'") }
                out.append(Message(role: role, content: try text(v, "\(key)[\(i)].value", bytes)))
            } else {
                throw RecordError("\(key)[\(i)] should have 'role' and 'content'")
            }
        }
        return out
    }

    /// A JSON list, a string holding a JSON list (Aya Red-teaming), or one category as a string.
    private func harmCategories(_ node: JSONNode, _ key: String, _ bytes: JSONBytes) throws(RecordError) -> [String] {
        switch node {
        case .array(let items):
            var out: [String] = []
            for item in items { out.append(HarmCategories.normalized(try text(item, key, bytes))) }
            return out
        case .string(let s):
            let raw = bytes.string(s)
            let trimmed = raw.trimmingSpaces()
            guard trimmed.hasPrefix("[") else { return trimmed.isEmpty ? [] : [HarmCategories.normalized(trimmed)] }
            var inner = Array(trimmed.utf8)
            return try inner.withUnsafeMutableBufferPointer { buffer throws(RecordError) -> [String] in
                let b = JSONBytes(base: UnsafePointer(buffer.baseAddress!), count: buffer.count)
                let parsed: JSONNode
                do { parsed = try JSONParser.parse(b, 0..<buffer.count) } catch {
                    throw RecordError("field '\(key)' holds a malformed JSON list (\(error))")
                }
                guard case .array(let items) = parsed else { throw RecordError("field '\(key)' should hold a list") }
                var out: [String] = []
                for item in items { out.append(HarmCategories.normalized(try text(item, key, b))) }
                return out
            }
        case .null: return []
        default: throw RecordError("field '\(key)' should be a list of categories, found \(node.kindName)")
        }
    }
}
