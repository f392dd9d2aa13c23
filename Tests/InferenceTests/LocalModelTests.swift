import Foundation
import Testing

@testable import Inference

/// The fixture models' greedy continuations from transformers (`fixtures/inference`), decoded by the
/// engine: prefill, then batched decode steps with the KV cache.
@Suite("Local models through the engine")
struct LocalModelTests {
    struct Sequence: Decodable {
        var input_ids: [Int32]
        var greedy_new_tokens: [Int32]
    }

    struct Case: Decodable {
        var model: String
        var sequences: [Sequence]
    }

    static let cases = ["llama-base", "qwen2-base", "cohere-base", "gemma2-base", "mistral-base", "cohere2-base"]

    @Test("greedy continuations equal transformers', three requests decoded together", arguments: cases)
    func greedyBatched(_ name: String) throws {
        let caseFolder = repositoryRoot.appendingPathComponent("fixtures/inference/\(name)")
        let c = try JSONDecoder().decode(Case.self, from: Data(contentsOf: caseFolder.appendingPathComponent("case.json")))
        let model = try LocalModel(folder: caseFolder.appendingPathComponent(c.model).standardizedFileURL, maxBatch: 4)
        let collectors = c.sequences.map { _ in Collector() }
        for (s, collector) in zip(c.sequences, collectors) {
            try model.engine.submit(GenerationRequest(prompt: s.input_ids, maxTokens: s.greedy_new_tokens.count), sink: collector.sink)
        }
        for collector in collectors { collector.wait() }
        for (s, collector) in zip(c.sequences, collectors) {
            #expect(collector.tokens == s.greedy_new_tokens, "\(name) prompt \(s.input_ids)")
            #expect(collector.finish == .length)
        }
    }

    @Test("EOS ids come from generation_config.json; the tokenizer must fit the model")
    func folderFacts() throws {
        let folder = repositoryRoot.appendingPathComponent("fixtures/models/llama/base")
        let model = try LocalModel(folder: folder)
        #expect(model.stopTokens == [2])
        #expect(model.name == "base")
        let text = try model.generate(GenerationRequest(prompt: [1, 17, 42], maxTokens: 4, stopTokens: []))
        #expect(text.tokens.count == 4)
        #expect(text.text == model.tokenizer.decode(text.tokens, skipSpecialTokens: true))
    }
}
