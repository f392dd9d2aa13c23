import Foundation

/// A model folder's tokenizer files: `tokenizer.json`, `tokenizer_config.json` (special token
/// names, `added_tokens_decoder`, `add_bos_token` / `add_eos_token`, chat templates),
/// `special_tokens_map.json`, and `chat_template.jinja` / `chat_template.json` when present.
public struct TokenizerFolder: Sendable {
    /// The folder.
    public let url: URL
    /// The tokenizer of `tokenizer.json`.
    public let tokenizer: Tokenizer
    public let bosToken: String?
    public let eosToken: String?
    public let padToken: String?
    public let unkToken: String?
    /// `additional_special_tokens` (config or special_tokens_map), in file order.
    public let additionalSpecialTokens: [String]
    /// `add_bos_token` / `add_eos_token` when the config sets them.
    public let addBosToken: Bool?
    public let addEosToken: Bool?
    /// `clean_up_tokenization_spaces` when the config sets it.
    public let cleanUpTokenizationSpaces: Bool?
    /// The config's `added_tokens_decoder`, by id.
    public let addedTokensDecoder: [Int32: AddedToken]
    /// Chat templates by name: a single template is named `default`; the list form
    /// (`[{name, template}]`) keeps its names; `chat_template.jinja` replaces `default`.
    public let chatTemplates: [String: String]
    /// Where the default chat template came from (`chat_template.jinja`, `tokenizer_config.json`...).
    public let chatTemplateSource: String?

    /// The default chat template (the one transformers uses when no name is given), or nil.
    public var chatTemplate: String? { chatTemplates["default"] }

    /// The special tokens as the chat template sees them (`bos_token`, `eos_token`, `pad_token`,
    /// `unk_token`); tokens the folder does not define are absent (undefined in the template).
    public var templateVariables: [String: String] {
        var out: [String: String] = [:]
        if let bosToken { out["bos_token"] = bosToken }
        if let eosToken { out["eos_token"] = eosToken }
        if let padToken { out["pad_token"] = padToken }
        if let unkToken { out["unk_token"] = unkToken }
        return out
    }

    /// Loads the folder at `url`; `tokenizer.json` is required, the other files are optional.
    /// - Parameter configName: the config file to read (default `tokenizer_config.json`).
    public init(contentsOf url: URL, configName: String = "tokenizer_config.json") throws {
        self.url = url
        tokenizer = try Tokenizer(contentsOf: url.appendingPathComponent("tokenizer.json"))
        let config = try TokenizerFolder.readJSON(url.appendingPathComponent(configName))
        let map = try TokenizerFolder.readJSON(url.appendingPathComponent("special_tokens_map.json"))

        func token(_ key: String) throws -> String? {
            if let m = try map.flatMap({ try TokenizerFolder.tokenString($0, key) }) { return m }
            return try config.flatMap { try TokenizerFolder.tokenString($0, key) }
        }
        bosToken = try token("bos_token")
        eosToken = try token("eos_token")
        padToken = try token("pad_token")
        unkToken = try token("unk_token")
        var additional: [String] = []
        for source in [map, config].compactMap({ $0 }) {
            guard additional.isEmpty, let list = try source.optional("additional_special_tokens") else { continue }
            for item in try list.array {
                if case .string(let s) = item.value {
                    additional.append(s)
                } else {
                    additional.append(try item.string("content"))
                }
            }
        }
        additionalSpecialTokens = additional
        addBosToken = try config?.optional("add_bos_token")?.bool
        addEosToken = try config?.optional("add_eos_token")?.bool
        cleanUpTokenizationSpaces = try config?.optional("clean_up_tokenization_spaces")?.bool

        var decoder: [Int32: AddedToken] = [:]
        if let added = try config?.optional("added_tokens_decoder") {
            for (key, value) in try added.objectPairs {
                let entry = JSONReader(value, path: "\(added.path).\(key)", file: added.file)
                guard let id = Int32(key) else { throw entry.error("the key is not a token id") }
                let special = try entry.bool("special", default: false)
                decoder[id] = AddedToken(
                    id: id, content: try entry.string("content"), special: special,
                    singleWord: try entry.bool("single_word", default: false),
                    lstrip: try entry.bool("lstrip", default: false), rstrip: try entry.bool("rstrip", default: false),
                    normalized: try entry.bool("normalized", default: !special))
            }
        }
        addedTokensDecoder = decoder

        var templates: [String: String] = [:]
        var source: String?
        func readTemplates(_ r: JSONReader, from file: String) throws {
            switch r.value {
            case .string(let s):
                templates["default"] = s
                source = file
            case .array:
                for item in try r.array {
                    templates[try item.string("name")] = try item.string("template")
                }
                if templates["default"] != nil { source = file }
            default:
                throw r.error("expected a string or a list of {name, template}, found \(r.value.typeName)")
            }
        }
        if let t = try config?.optional("chat_template") { try readTemplates(t, from: configName) }
        if let json = try TokenizerFolder.readJSON(url.appendingPathComponent("chat_template.json")),
           let t = try json.optional("chat_template") {
            try readTemplates(t, from: "chat_template.json")
        }
        let jinja = url.appendingPathComponent("chat_template.jinja")
        if FileManager.default.fileExists(atPath: jinja.path) {
            guard let data = try? Data(contentsOf: jinja) else {
                throw TokenizerError(.unreadable, path: jinja.path, "cannot be read")
            }
            guard let text = String(validating: data, as: UTF8.self) else {
                throw TokenizerError(.invalidValue, path: jinja.path, "is not valid UTF-8")
            }
            templates["default"] = text
            source = "chat_template.jinja"
        }
        chatTemplates = templates
        chatTemplateSource = source
    }

    /// Parses an optional JSON file (nil when it does not exist); errors name the file.
    static func readJSON(_ url: URL) throws -> JSONReader? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        guard let data = try? Data(contentsOf: url) else {
            throw TokenizerError(.unreadable, path: url.path, "cannot be read")
        }
        let value = try JSONParser.parse(data, file: url.lastPathComponent)
        let r = JSONReader(value, path: "", file: url.lastPathComponent)
        guard case .object = value else { throw r.error("expected an object, found \(value.typeName)") }
        return r
    }

    /// A special token given as a string, `{"content": ...}` or null.
    static func tokenString(_ r: JSONReader, _ key: String) throws -> String? {
        guard let v = try r.optional(key) else { return nil }
        switch v.value {
        case .string(let s): return s
        case .object: return try v.string("content")
        default: throw v.error("expected a string or {\"content\": ...}, found \(v.value.typeName)")
        }
    }
}
