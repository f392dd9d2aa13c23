import Foundation
import Jinja
import Testing
import Tokenizers

@testable import Training

@Suite("Training data: records to examples and batches")
struct TrainingDataTests {
    @Test("pre-tokenised SFT rows batch into the fixture's padded ids and labels", arguments: ["llama", "gemma2"])
    func sftBatch(_ family: String) throws {
        let inputs = try #require(try json("training/\(family)-sft/case.json")["inputs"] as? [String: Any])
        let ids = try #require(inputs["input_ids"] as? [[Int]]), labels = try #require(inputs["labels"] as? [[Int]])
        let mask = try #require(inputs["attention_mask"] as? [[Int]])
        let format = try PromptFormat(folder: fixtures.appendingPathComponent("models/\(family)/base"))
        let encoder = ExampleEncoder(format: format)
        let examples = try ids.indices.map { r in
            let n = mask[r].reduce(0, +)
            let record: Value = .object(Value.Object([
                ("input_ids", .array(ids[r].prefix(n).map { .int($0) })), ("labels", .array(labels[r].prefix(n).map { .int($0) })),
            ]))
            return try encoder.sft(record, at: "row \(r)")
        }
        let batch = Batch.sft(examples, pad: 0)
        #expect(batch.ids.map { $0.map(Int.init) } == ids)
        #expect(batch.labels == labels)
    }

    @Test("pre-tokenised pairs batch as TRL concatenates them: chosen rows, then rejected rows")
    func dpoBatch() throws {
        let c = try json("training/llama-dpo/case.json")
        let inputs = try #require(c["inputs"] as? [String: Any])
        let ids = try #require(inputs["input_ids"] as? [[Int]]), completion = try #require(inputs["completion_mask"] as? [[Int]])
        let promptLengths = try #require(c["prompt_lengths"] as? [Int])
        let mask = try #require(inputs["attention_mask"] as? [[Int]])
        let pairs = ids.count / 2
        let format = try PromptFormat(folder: fixtures.appendingPathComponent("models/llama/base"))
        let encoder = ExampleEncoder(format: format)
        let examples = try (0..<pairs).map { i in
            func part(_ r: Int) -> (Value, Value) {
                let n = mask[r].reduce(0, +), p = promptLengths[r]
                return (.array(ids[r][..<p].map { .int($0) }), .array(ids[r][p..<n].map { .int($0) }))
            }
            let (prompt, chosen) = part(i), (_, rejected) = part(pairs + i)
            return try encoder.preference(.object(Value.Object([("prompt_ids", prompt), ("chosen_ids", chosen), ("rejected_ids", rejected)])),
                                          at: "pair \(i)")
        }
        let batch = Batch.dpo(examples, pad: 0)
        #expect(batch.ids.map { $0.map(Int.init) } == ids)
        #expect(batch.labels.map { $0.map { $0 == -100 ? 0 : 1 } } == completion)
    }

    @Test("a conversation's SFT labels are its assistant turns and their end-of-turn markers")
    func assistantOnly() throws {
        let format = try PromptFormat(folder: fixtures.appendingPathComponent("tokenizers/llama3"))
        let messages: Value = [
            ["role": "system", "content": "Be brief."], ["role": "user", "content": "Capital of France?"],
            ["role": "assistant", "content": "Paris."], ["role": "user", "content": "And of Spain?"],
            ["role": "assistant", "content": "Madrid."],
        ]
        let encoder = ExampleEncoder(format: format)
        let example = try encoder.sft(.object(Value.Object([("messages", messages)])), at: "x")
        let trained = zip(example.ids, example.labels).filter { $1 != -100 }.map(\.0)
        #expect(format.tokenizer.decode(trained) == "Paris.<|eot_id|>Madrid.<|eot_id|>")
        let whole = try format.encode(messages: messages, addGenerationPrompt: false)
        #expect(example.ids == whole)
        var all = encoder
        all.scope = .all
        #expect(try all.sft(.object(Value.Object([("messages", messages)])), at: "x").labels == whole.map(Int.init))
    }

    @Test("implicit-prompt pairs share their prompt turns; completions end with EOS; truncation cuts the prompt first")
    func implicitPairs() throws {
        let format = try PromptFormat(folder: fixtures.appendingPathComponent("tokenizers/qwen2"))
        let user: Value = ["role": "user", "content": "Tell me a secret."]
        let record: Value = .object(Value.Object([
            ("chosen", [user, ["role": "assistant", "content": "I cannot share secrets."]]),
            ("rejected", [user, ["role": "assistant", "content": "Here is one."]]),
        ]))
        let encoder = ExampleEncoder(format: format)
        let pair = try encoder.preference(record, at: "x")
        let prompt = try format.encode(messages: [user], addGenerationPrompt: true)
        #expect(pair.prompt == prompt)
        let eosText = try #require(format.specialTokens["eos_token"])
        let eos = try #require(format.tokenizer.tokenToId(eosText))
        #expect(pair.chosen.last == eos && pair.rejected.last == eos)
        #expect(format.tokenizer.decode(pair.chosen.dropLast()).hasPrefix("I cannot share secrets."))
        var short = encoder
        short.maxPromptLength = 5
        short.maxLength = 8
        let cut = try short.preference(record, at: "x")
        #expect(cut.prompt == Array(prompt.suffix(5)))
        #expect(cut.chosen.count == 3 && cut.chosen == Array(pair.chosen.prefix(3)))
    }

    @Test("records that cannot be trained on are one error naming the record")
    func errors() throws {
        let format = try PromptFormat(folder: fixtures.appendingPathComponent("tokenizers/qwen2"))
        let encoder = ExampleEncoder(format: format)
        let noAssistant: Value = .object(Value.Object([("messages", [["role": "user", "content": "hi"]])]))
        #expect(throws: TrainingDataError("f.jsonl:3", "the conversation has no assistant turn to learn from")) {
            try encoder.sft(noAssistant, at: "f.jsonl:3")
        }
        var tiny = encoder
        tiny.maxLength = 4
        let convo: Value = .object(Value.Object([("messages", [["role": "user", "content": "hello there"], ["role": "assistant", "content": "hi"]])]))
        #expect(throws: TrainingDataError.self) { try tiny.sft(convo, at: "f.jsonl:4") }
        #expect(throws: TrainingDataError.self) { try encoder.preference(.object(Value.Object([("chosen", [])])), at: "f.jsonl:5") }
    }
}
