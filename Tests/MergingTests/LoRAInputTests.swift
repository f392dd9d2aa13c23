import Checkpoints
import Foundation
import Merging
import Tensors
import Testing

/// `model: base+adapter` inputs (the goldens themselves are cases of FixtureCaseTests: `*-lora-*`, made by
/// mergekit 0.1.5 + PEFT with tools/make_lora_goldens.py); here the config forms and the bad inputs.
@Suite("LoRA adapter inputs")
struct LoRAInputTests {
    static let caseFolder = fixtures.appendingPathComponent("merges/llama-linear-b")

    func message(_ yaml: String) -> String? {
        do {
            _ = try merge(yaml)
            return nil
        } catch {
            return "\(error)"
        }
    }

    func merged(_ yaml: String) throws -> [String: [Float]] {
        let out = try merge(yaml)
        let checkpoint = try Checkpoint(path: out.path)
        var tensors: [String: [Float]] = [:]
        for name in checkpoint.names {
            let location = checkpoint.location(name)!
            tensors[name] = (0..<location.info.count).map { location.info.dtype.load(location.data, $0) }
        }
        return tensors
    }

    @Test("the string and mapping forms name the same input")
    func forms() throws {
        let plain = try merged("""
            merge_method: passthrough
            models: [{model: ../../models/llama/base+../../lora-adapters/llama-a}]
            """)
        let mapping = try merged("""
            merge_method: passthrough
            models: [{model: {model: {path: ../../models/llama/base}, lora: {path: ../../lora-adapters/llama-a}}}]
            """)
        let short = try merged("""
            merge_method: passthrough
            models: [{model: {model: ../../models/llama/base, lora: ../../lora-adapters/llama-a}}]
            """)
        let base = try merged("""
            merge_method: passthrough
            models: [{model: ../../models/llama/base}]
            """)
        #expect(plain == mapping && plain == short)
        // The adapter changes exactly its target modules; everything else is the base's.
        let adapter = try LoRAAdapter(path: fixtures.appendingPathComponent("lora-adapters/llama-a").path)
        for (name, values) in plain {
            #expect((values != base[name]) == (adapter.modules[name] != nil), "\(name)")
        }
        #expect(adapter.modules.count == 28)
    }

    @Test("rank_pattern and alpha_pattern follow PEFT's get_pattern_key")
    func patterns() throws {
        let adapter = try LoRAAdapter(path: fixtures.appendingPathComponent("lora-adapters/llama-b").path)
        // adapter_config.json: r 6, lora_alpha 4, rsLoRA; rank_pattern {down_proj: 2, layers.1.self_attn.q_proj: 3}; alpha_pattern {v_proj: 16}
        let q1 = try #require(adapter.modules["model.layers.1.self_attn.q_proj.weight"])
        let q0 = try #require(adapter.modules["model.layers.0.self_attn.q_proj.weight"])
        let down = try #require(adapter.modules["model.layers.3.mlp.down_proj.weight"])
        let v = try #require(adapter.modules["model.layers.2.self_attn.v_proj.weight"])
        let embed = try #require(adapter.modules["model.embed_tokens.weight"])
        #expect(q1.rank == 3 && q0.rank == 6 && down.rank == 2)
        #expect(abs(q0.scaling - 4 / 6.0.squareRoot()) < 1e-12 && abs(v.scaling - 16 / 6.0.squareRoot()) < 1e-12)
        #expect(embed.kind == .embedding && embed.baseShape == [256, 64])
        let saved = try LoRAAdapter(path: fixtures.appendingPathComponent("lora-adapters/llama-c").path)
        #expect(Array(saved.replacements.keys) == ["lm_head.weight"])
    }

    /// An adapter folder made from `from` with `edit` applied to its config (and files).
    func adapter(_ label: String, from: String = "llama-a", edit: (inout [String: Any], URL) throws -> Void) throws -> URL {
        let folder = temporaryDirectory(label).appendingPathComponent("adapter")
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("lora-adapters/\(from)"), to: folder)
        let configURL = folder.appendingPathComponent("adapter_config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as! [String: Any]
        try edit(&config, folder)
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        return folder
    }

    @Test("bad adapters and references are one line naming the culprit")
    func errors() throws {
        func passthrough(_ model: String) -> String { "merge_method: passthrough\nmodels: [{model: \"\(model)\"}]" }
        let wrong = message(passthrough("../../models/llama/base+../../lora-adapters/mistral-a"))
        #expect(wrong?.contains("mistral-a") == true && wrong?.contains("another model") == true, "\(wrong ?? "merged")")
        let missing = message(passthrough("../../models/llama/base+../../lora-adapters/none"))
        #expect(missing?.contains("LoRA adapter '../../lora-adapters/none' not found") == true, "\(missing ?? "merged")")
        let twoPlus = message(passthrough("a+b+c"))
        #expect(twoPlus?.contains("MODEL+LORA_ADAPTER") == true, "\(twoPlus ?? "merged")")

        let dora = try adapter("dora") { c, _ in c["use_dora"] = true }
        #expect(message(passthrough("../../models/llama/base+\(dora.path)"))?.contains("DoRA") == true)
        let rank = try adapter("rank") { c, _ in c["r"] = 5 }
        #expect(message(passthrough("../../models/llama/base+\(rank.path)"))?.contains("r = 5") == true)
        let bin = try adapter("bin") { _, folder in
            try FileManager.default.moveItem(at: folder.appendingPathComponent("adapter_model.safetensors"),
                                             to: folder.appendingPathComponent("adapter_model.bin"))
        }
        #expect(message(passthrough("../../models/llama/base+\(bin.path)"))?.contains("safe_serialization") == true)
        let notPeft = try adapter("prefix") { c, _ in c["peft_type"] = "PREFIX_TUNING" }
        #expect(message(passthrough("../../models/llama/base+\(notPeft.path)"))?.contains("PREFIX_TUNING") == true)
        for m in [wrong, missing, twoPlus] { #expect(m?.contains("\n") == false) }
    }

    @Test("--lora-merge-dtype: PEFT merges in float32, the tensors come out as float32")
    func mergeDType() throws {
        let config = try ConfigParser(fileName: "config.yml").parse("""
            merge_method: passthrough
            models: [{model: ../../models/mistral/base+../../lora-adapters/mistral-a}]
            """)
        let auto = try Planner(searchDirectories: [Self.caseFolder]).plan(config)
        let f32 = try Planner(searchDirectories: [Self.caseFolder], loraMergeDType: .f32).plan(config)
        let name = "model.layers.0.self_attn.q_proj.weight"
        #expect(auto.tasks.first { $0.outputName == name }?.inputs[0].dtype == .bf16)
        #expect(f32.tasks.first { $0.outputName == name }?.inputs[0].dtype == .f32)
    }
}
