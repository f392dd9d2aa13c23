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

    var ordinal: Int {
        switch self {
        case .prompt: 0
        case .completion: 1
        case .chosen: 2
        case .rejected: 3
        case .messages: 4
        case .system: 5
        case .input: 6
        case .language: 7
        case .sourceID: 8
        case .harmCategory: 9
        case .globalOrLocal: 10
        case .id: 11
        }
    }
}

/// Turns one parsed JSON object into a `Record` following a format and a field map.
public struct RecordReader: Sendable {
    public var format: RecordFormat { didSet { resolveKeys() } }
    /// Field renames: the record's own key for each field.
    public var fieldMap: [RecordField: String] { didSet { resolveKeys() } }
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
        resolveKeys()
    }

    /// Per field (by ordinal): the keys to look up and whether the field map named it.
    private var lookup: [(keys: [[UInt8]], mapped: Bool)] = []
    private var requiredFields: [RecordField] = []
    private var mappedKeys: [String] = []

    private mutating func resolveKeys() {
        lookup = RecordField.allCases.map { f in
            if let k = fieldMap[f] { return ([Array(k.utf8)], true) }
            return (Self.defaultKeys(f, format).map { Array($0.utf8) }, false)
        }
        requiredFields = Self.required(format)
        mappedKeys = fieldMap.filter { $0.key != .system && $0.key != .input }.sorted { $0.key.rawValue < $1.key.rawValue }.map(\.value)
    }

    /// Every top-level key this reader can look at (the field map's and the format's defaults): the only
    /// columns of a Parquet source that need decoding.
    public var keysRead: Set<String> {
        Set(lookup.flatMap { $0.keys.map { String(decoding: $0, as: UTF8.self) } })
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

    /// Reads a parsed record into a `Record` (all text decoded).
    public func read(_ tape: JSONTape) throws(RecordError) -> Record {
        let l = try layout(tape)
        func messages(_ turns: [Turn]?) -> [Message]? { turns?.map { Message(role: $0.role.name, content: tape.text($0.text)) } }
        var record = Record(prompt: messages(l.prompt)!, completion: messages(l.completion), chosen: messages(l.chosen),
                            rejected: messages(l.rejected), language: l.language)
        if l.harmCategory >= 0 { record.harmCategories = try harmCategories(tape, Int(l.harmCategory)) }
        if l.globalOrLocal >= 0 { record.globalOrLocal = tape.string(Int(l.globalOrLocal)) }
        if l.sourceID >= 0 { record.sourceID = tape.string(Int(l.sourceID)) }
        if l.id >= 0 { record.id = tape.string(Int(l.id)) }
        return record
    }

    /// Locates a record's parts on its tape and checks them, decoding only the language.
    public func layout(_ tape: JSONTape) throws(RecordError) -> RecordLayout {
        guard tape[0].kind == .object else { throw RecordError("expected a JSON object, found \(tape[0].kindName)") }
        func keyName(_ f: RecordField) -> String { fieldMap[f] ?? Self.defaultKeys(f, format).first ?? f.rawValue }
        func value(_ f: RecordField) -> Int? {
            let l = lookup[f.ordinal]
            if l.mapped { return tape.member(0, utf8: l.keys[0]) }
            for k in l.keys {
                if let v = tape.member(0, utf8: k), tape[v].kind != .null { return v }
            }
            return nil
        }
        for f in requiredFields where value(f) == nil {
            throw RecordError("missing field '\(keyName(f))' (format \(format.rawValue))")
        }
        for key in mappedKeys where tape.member(0, key) == nil {
            throw RecordError("missing field '\(key)' (named in the field map)")
        }

        var out = RecordLayout()
        let promptValue = value(.prompt)
        if let m = value(.messages), promptValue == nil {
            let (prefix, response) = Self.splitResponse(try turns(tape, m, keyName(.messages), defaultRole: .user))
            out.prompt = prefix
            out.completion = response.isEmpty ? nil : response
        } else if let p = promptValue {
            out.prompt = try turns(tape, p, keyName(.prompt), defaultRole: .user)
            if let input = value(.input) {
                try expectString(tape, input, keyName(.input))
                if tape[input].end > tape[input].start, let last = out.prompt.indices.last, out.prompt[last].text.extra < 0 {
                    out.prompt[last].text.extra = Int32(input)
                }
            }
        }
        if let c = value(.completion) { out.completion = try turns(tape, c, keyName(.completion), defaultRole: .assistant) }
        if let s = value(.system) {
            try expectString(tape, s, keyName(.system))
            if tape[s].end > tape[s].start && out.prompt.first?.role != .system {
                out.prompt.insert(Turn(role: .system, text: TextRef(token: Int32(s))), at: 0)
            }
        }
        if let c = value(.chosen), let r = value(.rejected) {
            let (cPrefix, cResponse) = Self.splitResponse(try turns(tape, c, keyName(.chosen), defaultRole: .assistant))
            let (rPrefix, rResponse) = Self.splitResponse(try turns(tape, r, keyName(.rejected), defaultRole: .assistant))
            guard !cResponse.isEmpty else { throw RecordError("'\(keyName(.chosen))' has no assistant turn") }
            guard !rResponse.isEmpty else { throw RecordError("'\(keyName(.rejected))' has no assistant turn") }
            guard tape.same(cPrefix, rPrefix) else {
                throw RecordError("'\(keyName(.chosen))' and '\(keyName(.rejected))' start with different prompt turns")
            }
            if out.prompt.isEmpty {
                out.prompt = cPrefix
            } else if !cPrefix.isEmpty && !tape.same(cPrefix, out.prompt) && !tape.same(cPrefix, out.prompt.filter { $0.role != .system }) {
                throw RecordError("the prompt turns inside '\(keyName(.chosen))' differ from '\(keyName(.prompt))'")
            }
            out.chosen = cResponse
            out.rejected = rResponse
        } else if value(.chosen) != nil || value(.rejected) != nil {
            throw RecordError("a preference pair needs both '\(keyName(.chosen))' and '\(keyName(.rejected))'")
        }
        guard !out.prompt.isEmpty else { throw RecordError("no prompt: expected '\(keyName(.prompt))' or '\(keyName(.messages))'") }
        guard out.prompt.contains(where: { $0.role == .user }) else { throw RecordError("the prompt has no user turn") }

        if let l = value(.language) {
            try expectString(tape, l, keyName(.language))
            let raw = tape.string(l)
            guard let code = (languageMap.isEmpty ? nil : languageMap[raw]) ?? Languages.canonical(raw) else {
                throw RecordError("unknown language '\(raw)' (add it to the source's language_map: {\"\(raw)\": CODE})")
            }
            out.language = code
        } else {
            out.language = defaultLanguage
        }
        if let h = value(.harmCategory) {
            guard [.array, .string, .null].contains(tape[h].kind) else {
                throw RecordError("field '\(keyName(.harmCategory))' should be a list of categories, found \(tape[h].kindName)")
            }
            out.harmCategory = Int32(h)
        }
        if let g = value(.globalOrLocal) { try expectString(tape, g, keyName(.globalOrLocal)); out.globalOrLocal = Int32(g) }
        if let s = value(.sourceID) { try expectScalar(tape, s, keyName(.sourceID)); out.sourceID = Int32(s) }
        if let i = value(.id) { try expectScalar(tape, i, keyName(.id)); out.id = Int32(i) }
        return out
    }

    /// Splits a conversation into its prompt turns and its trailing assistant turns.
    static func splitResponse(_ turns: [Turn]) -> (prefix: [Turn], response: [Turn]) {
        var cut = turns.count
        while cut > 0 && turns[cut - 1].role == .assistant { cut -= 1 }
        return (Array(turns[..<cut]), Array(turns[cut...]))
    }

    private func expectString(_ tape: JSONTape, _ i: Int, _ key: String) throws(RecordError) {
        guard tape[i].kind == .string else { throw RecordError("field '\(key)' should be a string, found \(tape[i].kindName)") }
    }

    private func expectScalar(_ tape: JSONTape, _ i: Int, _ key: String) throws(RecordError) {
        guard tape[i].kind == .string || tape[i].kind == .number else {
            throw RecordError("field '\(key)' should be a string or a number, found \(tape[i].kindName)")
        }
    }

    static let roleKey = Array("role".utf8), contentKey = Array("content".utf8)

    static let roles: [String: Role] = [
        "system": .system, "user": .user, "assistant": .assistant, "tool": .tool,
        "human": .user, "gpt": .assistant,  // ShareGPT's `from`
    ]

    /// A string (one turn with `defaultRole`) or a list of `{role, content}` (or ShareGPT
    /// `{from, value}`) objects.
    private func turns(_ tape: JSONTape, _ i: Int, _ key: String, defaultRole: Role) throws(RecordError) -> [Turn] {
        switch tape[i].kind {
        case .string: return [Turn(role: defaultRole, text: TextRef(token: Int32(i)))]
        case .array: break
        default: throw RecordError("field '\(key)' should be a string or a list of messages, found \(tape[i].kindName)")
        }
        var out: [Turn] = []
        out.reserveCapacity(Int(tape[i].count))
        for (n, item) in tape.elements(i).enumerated() {
            guard tape[item].kind == .object else { throw RecordError("\(key)[\(n)] should be an object with role and content") }
            var roleKey = "role", contentKey = "content"
            var r = tape.member(item, utf8: Self.roleKey), c = tape.member(item, utf8: Self.contentKey)
            if r == nil {
                (roleKey, contentKey) = ("from", "value")
                (r, c) = (tape.member(item, "from"), tape.member(item, "value"))
            }
            guard let r, let c else {
                throw RecordError("\(key)[\(n)] should have 'role' and 'content'")
            }
            guard tape[r].kind == .string, let role = Self.role(tape, r, shareGPT: roleKey == "from") else {
                throw RecordError("\(key)[\(n)].\(roleKey): unknown role \(tape[r].kind == .string ? "'\(tape.string(r))'" : tape[r].kindName) (expected system, user or assistant)")
            }
            guard tape[c].kind == .string else { throw RecordError("\(key)[\(n)].\(contentKey) should be a string, found \(tape[c].kindName)") }
            out.append(Turn(role: role, text: TextRef(token: Int32(c))))
        }
        return out
    }

    /// The role named by string token `r` (`human`/`gpt` only under ShareGPT's `from`).
    static func role(_ tape: JSONTape, _ r: Int, shareGPT: Bool) -> Role? {
        let range = tape.range(r)
        let b = UnsafeBufferPointer(start: tape.bytes.base + range.lowerBound, count: range.count)
        if !tape[r].escaped {
            if b.elementsEqual("user".utf8) { return .user }
            if b.elementsEqual("assistant".utf8) { return .assistant }
            if b.elementsEqual("system".utf8) { return .system }
        }
        let name = tape.string(r)
        if !shareGPT && (name == "human" || name == "gpt") { return nil }
        return roles[name]
    }

    /// A JSON list, a string holding a JSON list (Aya Red-teaming), or one category as a string.
    public func harmCategories(_ tape: JSONTape, _ i: Int) throws(RecordError) -> [String] {
        let key = fieldMap[.harmCategory] ?? "harm_category"
        switch tape[i].kind {
        case .array:
            var out: [String] = []
            for item in tape.elements(i) {
                guard tape[item].kind == .string else { throw RecordError("field '\(key)' should list strings") }
                out.append(HarmCategories.normalized(tape.string(item)))
            }
            return out
        case .string:
            let trimmed = tape.string(i).trimmingSpaces()
            guard trimmed.hasPrefix("[") else { return trimmed.isEmpty ? [] : [HarmCategories.normalized(trimmed)] }
            var inner = Array(trimmed.utf8)
            return try inner.withUnsafeMutableBufferPointer { buffer throws(RecordError) -> [String] in
                var t = JSONTape()
                do { try t.parse(JSONBytes(base: UnsafePointer(buffer.baseAddress!), count: buffer.count), 0..<buffer.count) } catch {
                    throw RecordError("field '\(key)' holds a malformed JSON list (\(error))")
                }
                guard t[0].kind == .array else { throw RecordError("field '\(key)' should hold a list") }
                return try harmCategories(t, 0)
            }
        default: return []
        }
    }
}
