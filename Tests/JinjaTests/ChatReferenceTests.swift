import Foundation
import Jinja
import Testing

/// Every chat reference of the tokenizer fixtures: transformers' `apply_chat_template` text byte for byte,
/// or an error where transformers raised.
@Suite("Chat templates of the tokenizer fixtures")
struct ChatReferenceTests {
    static let configs: [(style: String, file: String)] = [
        ("llama3", "tokenizer_config.json"), ("llama3", "tokenizer_config.llama3_1.json"),
        ("qwen2", "tokenizer_config.json"), ("qwen2", "tokenizer_config.qwen2_5.json"),
        ("cohere", "tokenizer_config.json"),
        ("sentencepiece", "tokenizer_config.json"), ("sentencepiece", "tokenizer_config.mistral.json"),
    ]

    @Test("every config file of the fixtures is covered")
    func allConfigsListed() throws {
        let root = fixtures.appendingPathComponent("tokenizers")
        var found: [String] = []
        for style in try FileManager.default.contentsOfDirectory(atPath: root.path) {
            let dir = root.appendingPathComponent(style)
            guard let files = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { continue }
            for f in files where f.hasPrefix("tokenizer_config") && f.hasSuffix(".json") {
                found.append("\(style)/\(f)")
            }
        }
        #expect(found.sorted() == ChatReferenceTests.configs.map { "\($0.style)/\($0.file)" }.sorted())
    }

    @Test("renders like transformers", arguments: configs.map { "\($0.style)/\($0.file)" })
    func references(_ path: String) throws {
        let style = String(path.split(separator: "/")[0])
        let file = String(path.split(separator: "/")[1])
        let config = try loadJSON("tokenizers/\(path)")
        let source = try #require(config["chat_template"].stringValue)
        let template = try ChatTemplate(source)
        let tokens = specialTokens(ofConfig: config)
        let reference = try loadJSON("tokenizers/\(style)/reference.json")
        let conversations = reference["chat_references"]["configs"][file]["conversations"].arrayValue
        #expect(conversations.count == 13)
        var checked = 0
        for conversation in conversations {
            let name = conversation["name"].stringValue ?? "?"
            let tools: Value? = conversation["tools"].isDefined ? conversation["tools"] : nil
            for agp in [false, true] {
                let expected = conversation["add_generation_prompt_\(agp)"]
                let label = "\(path) \(name) add_generation_prompt=\(agp)"
                do {
                    let text = try template.render(
                        messages: conversation["messages"], tools: tools, addGenerationPrompt: agp,
                        specialTokens: tokens)
                    if expected["raises"].boolValue {
                        Issue.record("\(label): rendered but transformers raised \(expected["error"])")
                    } else {
                        #expect(text == expected["text"].stringValue, "\(label)")
                        #expect(Array(text.utf8) == Array((expected["text"].stringValue ?? "").utf8), "\(label)")
                    }
                } catch let error as TemplateError {
                    if expected["raises"].boolValue {
                        #expect(error.message == expected["error"].stringValue, "\(label): \(error)")
                        let kind: TemplateError.Kind =
                            expected["error_type"].stringValue == "UndefinedError"
                            ? .undefined : .raised
                        #expect(error.kind == kind, "\(label)")
                    } else {
                        Issue.record("\(label): \(error)")
                    }
                }
                checked += 1
            }
        }
        #expect(checked == 26)
    }

    @Test("a parsed template renders many times with the same result")
    func reuse() throws {
        let config = try loadJSON("tokenizers/sentencepiece/tokenizer_config.mistral.json")
        let template = try ChatTemplate(try #require(config["chat_template"].stringValue))
        let reference = try loadJSON("tokenizers/sentencepiece/reference.json")
        let conversations = reference["chat_references"]["configs"]["tokenizer_config.mistral.json"]["conversations"]
        let multiTurn = try #require(conversations.arrayValue.first { $0["name"].stringValue == "multi_turn" })
        let expected = try #require(multiTurn["add_generation_prompt_false"]["text"].stringValue)
        for _ in 0..<200 {
            let text = try template.render(
                messages: multiTurn["messages"], addGenerationPrompt: false,
                specialTokens: specialTokens(ofConfig: config))
            #expect(text == expected)
        }
    }
}
