import Checkpoints
import Foundation
import Merging
import Tensors
import Testing

/// Bad configs and inputs: each answered by one line naming the culprit, before any output exists.
@Suite("Config and input errors")
struct ConfigErrorTests {
    func expectError(_ yaml: String, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let out = try merge(yaml)
            Issue.record("merged a bad config into \(out.path)", sourceLocation: sourceLocation)
        } catch let error as MergeError {
            for f in fragments {
                #expect(error.description.contains(f), "'\(error)' does not mention '\(f)'", sourceLocation: sourceLocation)
            }
            #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error type: \(error)", sourceLocation: sourceLocation)
        }
    }

    static let twoModels = """
        models:
          - {model: ../../models/llama/ft1, parameters: {weight: 0.5}}
          - {model: ../../models/llama/ft2, parameters: {weight: 0.5}}
        """

    @Test("multislerp in float16 with a base warns that eps is 0 there (zero task vectors come out NaN)")
    func multislerpFloat16Eps() throws {
        func warnings(_ extra: String) throws -> [String] {
            let yaml = """
                merge_method: multislerp
                base_model: ../../models/llama/base
                models:
                  - {model: ../../models/llama/ft1, parameters: {weight: 0.5}}
                  - {model: ../../models/llama/ft2, parameters: {weight: 0.5}}
                """ + "\n" + extra
            return try planCase(fixtures.appendingPathComponent("merges/llama-linear-b"), configText: yaml).warnings
        }
        #expect(try warnings("dtype: float16").contains { $0.contains("eps") && $0.contains("NaN") })
        #expect(try !warnings("dtype: bfloat16").contains { $0.contains("eps") })
        #expect(try !warnings("dtype: float16\nparameters: {eps: 1e-7}").contains { $0.contains("eps") })
    }

    @Test func unknownMethod() {
        expectError("merge_method: slurp\n" + Self.twoModels, ["merge_method", "slurp", "config.yml:1"])
        expectError("merge_method: ram\n" + Self.twoModels, ["ram", "base_model"])
    }

    @Test func gradientOnSwitch() {
        expectError("merge_method: linear\nparameters: {normalize: [true, false]}\n" + Self.twoModels, ["normalize", "gradient"])
    }

    @Test func missingBaseModel() {
        expectError("merge_method: task_arithmetic\n" + Self.twoModels, ["task_arithmetic", "base_model"])
        expectError("merge_method: slerp\nparameters: {t: 0.5}\n" + Self.twoModels, ["slerp", "base_model"])
    }

    @Test func missingWeight() {
        expectError("""
            merge_method: linear
            models:
              - {model: ../../models/llama/ft1, parameters: {weight: 0.5}}
              - {model: ../../models/llama/ft2}
            """, ["weight", "ft2"])
    }

    @Test func wrongValueType() {
        expectError("""
            merge_method: linear
            models:
              - {model: ../../models/llama/ft1, parameters: {weight: heavy}}
              - {model: ../../models/llama/ft2, parameters: {weight: 1}}
            """, ["models[0].parameters.weight", "number"])
    }

    @Test func shapeMismatch() {
        expectError("""
            merge_method: linear
            slices:
              - sources:
                  - {model: ../../models/llama/ft1, layer_range: [0, 1], parameters: {weight: 1}}
                  - {model: ../../models/mistral/ft1, layer_range: [0, 1], parameters: {weight: 1}}
            """, ["shape mismatch", "mlp", "llama/ft1", "mistral/ft1", "[64, 96]", "[64, 128]"])
    }

    @Test func differentLayerCounts() {
        expectError("""
            merge_method: linear
            models:
              - {model: ../../models/llama/ft1, parameters: {weight: 1}}
              - {model: ../../models/qwen2/ft1, parameters: {weight: 1}}
            """, ["different numbers of layers"])
    }

    @Test func badYAMLAndKeys() {
        expectError("merge_method: linear\nmodels: [\n", ["not valid YAML"])
        expectError("merge_methd: linear\n" + Self.twoModels, ["merge_methd", "unknown key"])
        expectError("merge_method: linear\ndtype: bf16\n" + Self.twoModels, ["dtype", "bf16"])
        expectError("merge_method: linear\ntokenizer_source: union\n" + Self.twoModels, ["union", "not supported yet"])
        expectError("merge_method: linear\nmodels:\n  - {model: ../../models/llama/nope, parameters: {weight: 1}}\n", ["llama/nope", "not found"])
        expectError("merge_method: passthrough\n" + Self.twoModels, ["passthrough", "exactly 1"])
        expectError("""
            merge_method: passthrough
            slices:
              - sources: [{model: ../../models/llama/ft1, layer_range: [2, 9]}]
            """, ["layer_range", "4 layers"])
    }

    @Test("Gradients and filters resolve with mergekit's precedence")
    func parameterResolution() throws {
        let plan = try planCase(fixtures.appendingPathComponent("merges/llama-linear-b"), configText: """
            merge_method: linear
            parameters:
              weight: 0.1
            models:
              - model: ../../models/llama/ft1
                parameters:
                  weight: [{filter: mlp, value: [0, 0.5, 0.3, 0.7, 1]}, {filter: nothing-matches, value: 9}]
              - model: ../../models/llama/ft2
            """)
        func weight(_ tensor: String, _ input: Int) -> Double? {
            let task = plan.tasks.first { $0.outputName == tensor }!
            return task.number("weight", input: input)
        }
        // Layer 2 of 4: t = 2/3, position 8/3 → 0.3 + (2/3)·(0.7 − 0.3).
        #expect(abs(weight("model.layers.2.mlp.up_proj.weight", 0)! - (0.3 + 2.0 / 3.0 * 0.4)) < 1e-12)
        // No filter matched: falls through to the top-level value.
        #expect(weight("model.layers.2.self_attn.q_proj.weight", 0) == 0.1)
        #expect(weight("model.layers.2.mlp.up_proj.weight", 1) == 0.1)
        // Embeddings and the LM head use t = 0 (the first gradient value) — no mlp filter here, so 0.1.
        #expect(weight("lm_head.weight", 0) == 0.1)
        #expect(plan.tasks.map(\.outputName).first == "lm_head.weight")
    }
}

@Suite("Output folder handling")
struct OutputFolderTests {
    static let yaml = """
        merge_method: linear
        models:
          - {model: ../../models/llama/ft1, parameters: {weight: 1}}
          - {model: ../../models/llama/ft2, parameters: {weight: 1}}
        """

    @Test("An existing non-empty output is refused unless overwriting")
    func existingOutput() throws {
        let plan = try planCase(fixtures.appendingPathComponent("merges/llama-linear-b"), configText: Self.yaml)
        let out = temporaryDirectory()
        try Data("keep me".utf8).write(to: out.appendingPathComponent("notes.txt"))
        #expect(throws: MergeError.self) { try Merger.run(plan, output: out, options: MergeOptions()) }
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("notes.txt").path))
        _ = try Merger.run(plan, output: out, options: MergeOptions(overwrite: true))
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("notes.txt").path))
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("model.safetensors").path))
    }

    @Test("An output folder that cannot be written is one clear error")
    func notWritable() throws {
        let plan = try planCase(fixtures.appendingPathComponent("merges/llama-linear-b"), configText: Self.yaml)
        #expect {
            try Merger.run(plan, output: URL(fileURLWithPath: "/proc/mixmerge-out"), options: MergeOptions())
        } throws: { ($0 as? MergeError)?.description.contains("not writable") == true }
        let file = temporaryDirectory().appendingPathComponent("a-file")
        try Data("x".utf8).write(to: file)
        #expect {
            try Merger.run(plan, output: file.appendingPathComponent("out"), options: MergeOptions())
        } throws: { ($0 as? MergeError)?.description.contains("a-file") == true }
        // Missing parent folders are created.
        let nested = temporaryDirectory().appendingPathComponent("x/y/out")
        _ = try Merger.run(plan, output: nested, options: MergeOptions())
        #expect(FileManager.default.fileExists(atPath: nested.appendingPathComponent("model.safetensors").path))
    }

    @Test("A merge that fails half-way leaves nothing behind")
    func failureLeavesNothing() throws {
        // Two tiny models whose integer tensor differs: found only while writing.
        let root = temporaryDirectory()
        for (i, model) in ["a", "b"].enumerated() {
            let dir = root.appendingPathComponent(model)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let w = try ShardedWriter(directory: dir, tensors: [
                PlannedTensor(name: "model.layers.0.w", dtype: .f32, shape: [4]),
                PlannedTensor(name: "zz_steps", dtype: .i64, shape: [1]),
            ], maxShardSize: 0)
            let f: [Float] = [1, 2, 3, 4]
            var step = Int64(i)
            try f.withUnsafeBytes { try w.write("model.layers.0.w", byteOffset: 0, bytes: $0.baseAddress!, count: 16) }
            try withUnsafeBytes(of: &step) { try w.write("zz_steps", byteOffset: 0, bytes: $0.baseAddress!, count: 8) }
            try w.finish()
        }
        let config = try ConfigParser().parse("""
            merge_method: linear
            models:
              - {model: a, parameters: {weight: 1}}
              - {model: b, parameters: {weight: 1}}
            """)
        let plan = try Planner(searchDirectories: [root]).plan(config)
        let out = root.appendingPathComponent("out")
        #expect {
            try Merger.run(plan, output: out, options: MergeOptions())
        } throws: { ($0 as? MergeError)?.description.contains("zz_steps") == true }
        let left = try FileManager.default.contentsOfDirectory(atPath: root.path)
        #expect(Set(left) == ["a", "b"])
    }
}

@Suite("Broken input folders")
struct BrokenInputTests {
    @Test("A config.json that is not JSON is named in one line")
    func brokenConfig() throws {
        let root = temporaryDirectory()
        let model = root.appendingPathComponent("m")
        try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: fixtures.appendingPathComponent("models/llama/ft1/model.safetensors"), to: model.appendingPathComponent("model.safetensors"))
        try Data("{\"architectures\": [".utf8).write(to: model.appendingPathComponent("config.json"))
        let config = try ConfigParser().parse("merge_method: linear\nmodels: [{model: m, parameters: {weight: 1}}]\n")
        #expect {
            _ = try Planner(searchDirectories: [root]).plan(config)
        } throws: { error in
            let text = "\(error)"
            return text.contains("config.json") && text.contains("not valid JSON") && !text.contains("\n")
        }
    }
}
