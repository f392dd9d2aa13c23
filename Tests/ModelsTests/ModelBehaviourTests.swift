import Checkpoints
import Foundation
import Models
import Testing
import TestScratch

/// KV-cache consistency, batched decode, config spellings, and load errors.
@Suite("Model behaviour")
struct ModelBehaviourTests {
    static let cachedCases = [
        "llama-base", "mistral-base", "qwen2-base", "cohere_qknorm-base", "gemma2-base", "cohere2-base",
    ]

    func model(_ name: String) throws -> (LanguageModel, InferenceCase) {
        let fixture = try InferenceCase(name)
        return (try LanguageModel.load(folder: fixture.modelFolder), fixture)
    }

    @Test("prefill in chunks plus decode steps give the logits of a full recompute", arguments: cachedCases)
    func cacheMatchesRecompute(_ name: String) throws {
        let (model, fixture) = try model(name)
        let ids = fixture.sequences[1].inputIds + fixture.sequences[1].greedyNewTokens
        let vocab = model.config.vocabSize
        let full = try model.logits(forIds: ids)
        let tolerance = 2e-5 * maxAbs(full)
        var cache = model.makeCache()
        let chunk = try model.prefill(Array(ids[0..<3]), cache: &cache, allPositions: true)
        #expect(maxAbsDifference(chunk, Array(full[0..<(3 * vocab)])) <= tolerance)
        let second = try model.prefill(Array(ids[3..<9]), cache: &cache, allPositions: true)
        #expect(maxAbsDifference(second, Array(full[(3 * vocab)..<(9 * vocab)])) <= tolerance)
        #expect(cache.count == 9)
        for p in 9..<ids.count {
            let step = try model.decode(ids[p], cache: &cache)
            let expected = Array(full[(p * vocab)..<((p + 1) * vocab)])
            #expect(maxAbsDifference(step, expected) <= tolerance, "\(name) position \(p)")
        }
        #expect(cache.count == ids.count)
        // Rewinding the cache and running the tail again gives the same logits.
        cache.truncate(to: 12)
        let again = try model.prefill(Array(ids[12...]), cache: &cache, allPositions: true)
        #expect(maxAbsDifference(again, Array(full[(12 * vocab)...])) <= tolerance)
    }

    @Test("batched decode of sequences at different positions equals decoding each alone", arguments: cachedCases)
    func batchedDecode(_ name: String) throws {
        let (model, fixture) = try model(name)
        let prompts = fixture.sequences.map(\.inputIds)
        var single = try prompts.map { prompt -> KVCache in
            var cache = model.makeCache()
            _ = try model.prefill(prompt, cache: &cache)
            return cache
        }
        var batched = single
        var tokens = [5, 17, 200]
        for step in 0..<4 {
            let together = try model.decode(tokens, caches: &batched)
            #expect(together.count == 3)
            for s in 0..<3 {
                let alone = try model.decode(tokens[s], cache: &single[s])
                #expect(maxAbsDifference(together[s], alone) <= 2e-5 * maxAbs(alone),
                    "\(name) step \(step) sequence \(s)")
                #expect(LanguageModel.argmax(together[s]) == LanguageModel.argmax(alone))
                #expect(batched[s].count == single[s].count)
            }
            tokens = together.map { LanguageModel.argmax($0) }
        }
    }

    @Test("thread count does not change the logits (long enough for parallel attention)",
        arguments: ["llama-base", "gemma2-base"])
    func threadIndependence(_ name: String) throws {
        var (model, _) = try model(name)
        let ids = (0..<120).map { ($0 * 37 + 11) % 256 }
        model.threads = 1
        let one = try model.logits(forIds: ids)
        model.threads = 2
        #expect(try model.logits(forIds: ids) == one)
        model.threads = 3
        #expect(try model.logits(forIds: ids) == one)
    }

    /// A copy of a fixture model folder (weights linked) with an edited config.json.
    func editedModel(_ family: String, _ edit: (inout JSONValue) -> Void) throws -> URL {
        let source = fixtures.appendingPathComponent("models/\(family)")
        let folder = TestScratch.folder("model")
        for name in try FileManager.default.contentsOfDirectory(atPath: source.path) where name != "config.json" {
            try FileManager.default.createSymbolicLink(
                at: folder.appendingPathComponent(name), withDestinationURL: source.appendingPathComponent(name))
        }
        let text = try String(contentsOf: source.appendingPathComponent("config.json"), encoding: .utf8)
        var json = try JSONValue.parse(text)
        edit(&json)
        try Data(json.serialized().utf8).write(to: folder.appendingPathComponent("config.json"))
        return folder
    }

    func expectModelError(_ folder: URL, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try LanguageModel.load(folder: folder)
            Issue.record("loaded a bad model", sourceLocation: sourceLocation)
        } catch {
            let text = "\(error)"
            for f in fragments {
                #expect(text.contains(f), "'\(text)' does not mention '\(f)'", sourceLocation: sourceLocation)
            }
            #expect(!text.contains("\n"), sourceLocation: sourceLocation)
        }
    }

    @Test("transformers 4 config spelling (torch_dtype, rope_theta, rope_scaling) gives the same logits")
    func transformers4Spelling() throws {
        let folder = try editedModel("llama3rope/base") { json in
            let params = json["rope_parameters"]
            json.remove("rope_parameters")
            json.remove("dtype")
            json.set("torch_dtype", .string("bfloat16"))
            json.set("rope_theta", params?["rope_theta"] ?? .null)
            var scaling = params ?? .null
            scaling.remove("rope_theta")
            json.set("rope_scaling", scaling)
        }
        let (reference, fixture) = try model("llama3rope-base")
        let legacy = try LanguageModel.load(folder: folder)
        #expect(legacy.config == reference.config)
        let ids = fixture.sequences[1].inputIds
        #expect(try legacy.logits(forIds: ids) == reference.logits(forIds: ids))
    }

    @Test("unsupported architecture names itself and the supported list")
    func unsupportedArchitecture() throws {
        let folder = try editedModel("llama/base") { $0.set("architectures", .array([.string("FalconForCausalLM")])) }
        expectModelError(folder, ["FalconForCausalLM", "LlamaForCausalLM", "Gemma2ForCausalLM", "config.json"])
    }

    @Test("a missing tensor is named")
    func missingTensor() throws {
        let folder = try editedModel("llama/base") { $0.set("num_hidden_layers", .int(5)) }
        expectModelError(folder, ["model.layers.4.input_layernorm.weight", "missing"])
    }

    @Test("a tensor of the wrong shape is named with both shapes")
    func wrongShape() throws {
        let folder = try editedModel("qwen2/base") { $0.set("intermediate_size", .int(97)) }
        expectModelError(folder, ["model.layers.0.mlp.gate_proj.weight", "[96, 64]", "[97, 64]"])
    }

    @Test("config errors name the key")
    func configErrors() throws {
        expectModelError(try editedModel("llama/base") { $0.remove("hidden_size") }, ["hidden_size", "missing"])
        expectModelError(try editedModel("llama/base") { $0.set("num_attention_heads", .string("four")) },
            ["num_attention_heads", "integer"])
        expectModelError(try editedModel("llama/base") { $0.set("num_key_value_heads", .int(3)) },
            ["num_key_value_heads"])
        expectModelError(
            try editedModel("llama/base") {
                $0.set("rope_parameters", .object([("rope_type", .string("yarn")), ("rope_theta", .number("10000"))]))
            }, ["rope_parameters.rope_type", "yarn"])
        expectModelError(try editedModel("llama/base") { $0.set("hidden_size", .int(1 << 40)) }, ["hidden_size", "large"])
        expectModelError(try editedModel("gemma2/base") { $0.set("final_logit_softcapping", .number("0")) },
            ["final_logit_softcapping", "positive"])
        let llama3 = JSONValue.object([
            ("rope_type", .string("llama3")), ("rope_theta", .number("500000")), ("factor", .number("8")),
            ("original_max_position_embeddings", .int(32)),
        ])
        expectModelError(try editedModel("llama3rope/base") { $0.set("rope_parameters", llama3) },
            ["rope_parameters.low_freq_factor", "llama3"])
        expectModelError(try editedModel("gemma2/base") { $0.set("hidden_activation", .string("relu2")) },
            ["hidden_activation", "relu2"])
        expectModelError(try editedModel("gemma2/base") { $0.set("layer_types", .array([.string("full_attention")])) },
            ["layer_types"])
    }

    @Test("token ids outside the vocabulary and empty inputs are refused")
    func badInput() throws {
        let (model, _) = try model("llama-base")
        #expect(throws: ModelError.self) { try model.logits(forIds: [1, 256]) }
        #expect(throws: ModelError.self) { try model.logits(forIds: [-1]) }
        #expect(throws: ModelError.self) { try model.logits(forIds: []) }
        var caches = [model.makeCache()]
        #expect(throws: ModelError.self) { try model.decode([1, 2], caches: &caches) }
        var foreign = model.makeCache()  // 4 layers
        _ = try model.prefill([1, 2], cache: &foreign)
        let (small, _) = try self.model("cohere_qknorm-base")
        #expect(throws: ModelError.self) { try small.decode(3, cache: &foreign) }
    }

    @Test("llama ft2 (two shards) and ft3 (bfloat16) load and run")
    func shardedAndBF16() throws {
        for variant in ["ft2", "ft3"] {
            let model = try LanguageModel.load(folder: fixtures.appendingPathComponent("models/llama/\(variant)"))
            let logits = try model.logits(forIds: [1, 17, 42])
            #expect(logits.count == 3 * 256)
            #expect(logits.allSatisfy { $0.isFinite })
        }
    }

    @Test("RoPE scalings: linear divides the frequencies, dynamic is the default up to max positions")
    func ropeScalings() throws {
        func config(_ scaling: JSONValue) throws -> TransformerConfig {
            try LanguageModel.load(folder: try editedModel("llama/base") { $0.set("rope_parameters", scaling) }).config
        }
        let plain = try config(.object([("rope_type", .string("default")), ("rope_theta", .number("10000"))]))
        func scaled(_ type: String, _ factor: String) throws -> TransformerConfig {
            try config(.object([
                ("rope_type", .string(type)), ("rope_theta", .number("10000")), ("factor", .number(factor)),
            ]))
        }
        let linear = try scaled("linear", "4.0")
        let dynamic = try scaled("dynamic", "2.0")
        #expect(linear.ropeScaling == .linear(factor: 4))
        #expect(zip(linear.inverseFrequencies(sequenceLength: 10), plain.inverseFrequencies(sequenceLength: 10))
            .allSatisfy { $0 == $1 / 4 })
        #expect(dynamic.inverseFrequencies(sequenceLength: 128) == plain.inverseFrequencies(sequenceLength: 128))
        let long = dynamic.inverseFrequencies(sequenceLength: 512), base = plain.inverseFrequencies(sequenceLength: 512)
        #expect(long[0] == base[0] && zip(long.dropFirst(), base.dropFirst()).allSatisfy { $0 < $1 })
    }
}
