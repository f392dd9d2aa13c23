import Foundation
import Testing
import TestScratch
@testable import Tokenizers

@Suite("Batch encoding, vocabulary API, model folders")
struct BatchAndFolderTests {
    static func referenceTexts(_ style: String) throws -> [String] {
        let ref = try #require(try loadJSON(fixtures.appendingPathComponent("tokenizers/\(style)/reference.json"))
            as? [String: Any])
        return (ref["cases"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
    }

    @Test("encodeBatch equals sequential encode, in input order, for any thread count", arguments: tokenizerStyles)
    func batch(style: String) throws {
        let tok = try Loaded.tokenizer(style)
        let texts = try Self.referenceTexts(style)
        let many = Array((0..<5).map { _ in texts }.joined())
        let sequential = many.map { tok.encode($0) }
        for threads in [1, 2, 3] {
            #expect(tok.encodeBatch(many, threads: threads) == sequential)
        }
        #expect(tok.encodeBatch(many, addSpecialTokens: false, threads: 2)
            == many.map { tok.encode($0, addSpecialTokens: false) })
        #expect(tok.encodeBatch([], threads: 2).isEmpty)
    }

    @Test("token/id lookups, added and special tokens agree with tokenizer.json")
    func vocabulary() throws {
        let tok = try Loaded.tokenizer("llama3")
        let json = try #require(try loadJSON(fixtures.appendingPathComponent("tokenizers/llama3/tokenizer.json"))
            as? [String: Any])
        let added = try #require(json["added_tokens"] as? [[String: Any]])
        #expect(tok.addedTokens.map(\.content) == added.map { $0["content"] as? String ?? "" })
        #expect(tok.addedTokens.map { Int($0.id) } == added.map { $0["id"] as? Int ?? -1 })
        let specialIds = added.filter { $0["special"] as? Bool == true }.map { $0["id"] as? Int ?? -1 }
        #expect(tok.specialTokenIds.map(Int.init) == specialIds)
        for t in added {
            let content = try #require(t["content"] as? String)
            #expect(tok.tokenToId(content) == Int32(t["id"] as? Int ?? -1))
            #expect(tok.idToToken(Int32(t["id"] as? Int ?? -1)) == content)
        }
        let model = try #require(json["model"] as? [String: Any])
        let vocab = try #require(model["vocab"] as? [String: Int])
        for (token, id) in vocab.prefix(500) {
            #expect(tok.tokenToId(token) == Int32(id))
            #expect(tok.idToToken(Int32(id)) == token)
        }
        #expect(tok.idToToken(-1) == nil)
        #expect(tok.idToToken(1_000_000) == nil)
        #expect(tok.tokenToId("no such token at all") == nil)
        #expect(tok.decode([Int32(1_000_000), -5]) == "")
    }

    @Test("every fixture folder and config: special tokens and chat template as in the config")
    func folders() throws {
        for style in tokenizerStyles {
            let dir = fixtures.appendingPathComponent("tokenizers/\(style)")
            let configs = try FileManager.default.contentsOfDirectory(atPath: dir.path)
                .filter { $0.hasPrefix("tokenizer_config") }
            #expect(!configs.isEmpty)
            for name in configs {
                let folder = try TokenizerFolder(contentsOf: dir, configName: name)
                let config = try #require(try loadJSON(dir.appendingPathComponent(name)) as? [String: Any])
                #expect(folder.chatTemplate == config["chat_template"] as? String, "\(style)/\(name)")
                #expect(folder.chatTemplateSource == name)
                #expect(folder.bosToken == config["bos_token"] as? String, "\(style)/\(name)")
                #expect(folder.eosToken == config["eos_token"] as? String, "\(style)/\(name)")
                #expect(folder.padToken == config["pad_token"] as? String, "\(style)/\(name)")
                #expect(folder.unkToken == config["unk_token"] as? String, "\(style)/\(name)")
                #expect(folder.templateVariables["bos_token"] == config["bos_token"] as? String)
                let decoder = try #require(config["added_tokens_decoder"] as? [String: [String: Any]])
                #expect(folder.addedTokensDecoder.count == decoder.count)
                for (id, entry) in decoder {
                    #expect(folder.addedTokensDecoder[Int32(id) ?? -1]?.content == entry["content"] as? String)
                    #expect(folder.tokenizer.idToToken(Int32(id) ?? -1) == entry["content"] as? String)
                }
            }
        }
        let model = try TokenizerFolder(contentsOf: fixtures.appendingPathComponent("models/_tokenizer"))
        #expect(model.bosToken == "<bos>")
        #expect(model.eosToken == "<eos>")
        #expect(model.chatTemplate == nil)
    }

    @Test("chat_template.jinja wins; list-form templates; special_tokens_map objects; config errors")
    func folderVariants() throws {
        let src = fixtures.appendingPathComponent("tokenizers/qwen2/tokenizer.json")
        let dir = TestScratch.folder("folderVariants")
        try FileManager.default.copyItem(at: src, to: dir.appendingPathComponent("tokenizer.json"))
        let config = """
            {"bos_token": {"content": "<|im_start|>", "lstrip": false}, "eos_token": "<|im_end|>",
             "add_bos_token": false, "add_eos_token": true,
             "chat_template": [{"name": "default", "template": "D"}, {"name": "tool_use", "template": "T"}]}
            """
        try Data(config.utf8).write(to: dir.appendingPathComponent("tokenizer_config.json"))
        var folder = try TokenizerFolder(contentsOf: dir)
        #expect(folder.chatTemplates == ["default": "D", "tool_use": "T"])
        #expect(folder.bosToken == "<|im_start|>")
        #expect(folder.addBosToken == false)
        #expect(folder.addEosToken == true)
        #expect(folder.padToken == nil)

        try Data(#"{"pad_token": {"content": "<|endoftext|>"}, "additional_special_tokens": ["<|im_start|>"]}"#.utf8)
            .write(to: dir.appendingPathComponent("special_tokens_map.json"))
        try Data("{{ messages }}\n".utf8).write(to: dir.appendingPathComponent("chat_template.jinja"))
        folder = try TokenizerFolder(contentsOf: dir)
        #expect(folder.chatTemplate == "{{ messages }}\n")
        #expect(folder.chatTemplateSource == "chat_template.jinja")
        #expect(folder.chatTemplates["tool_use"] == "T")
        #expect(folder.padToken == "<|endoftext|>")
        #expect(folder.additionalSpecialTokens == ["<|im_start|>"])

        try Data(#"{"eos_token": 7}"#.utf8).write(to: dir.appendingPathComponent("tokenizer_config.json"))
        #expect(throws: TokenizerError(.invalidValue, path: "tokenizer_config.json",
                                       "eos_token: expected a string or {\"content\": ...}, found a number")) {
            try TokenizerFolder(contentsOf: dir)
        }
        try Data(#"{"chat_template": 3}"#.utf8).write(to: dir.appendingPathComponent("tokenizer_config.json"))
        #expect(throws: TokenizerError.self) { try TokenizerFolder(contentsOf: dir) }
        try Data(#"{"chat_template": "#.utf8).write(to: dir.appendingPathComponent("tokenizer_config.json"))
        do {
            _ = try TokenizerFolder(contentsOf: dir)
            Issue.record("truncated config accepted")
        } catch let e as TokenizerError {
            #expect(e.description.hasPrefix("tokenizer_config.json: invalid JSON at end of file"))
        }
    }
}
