import Checkpoints
import Foundation
@testable import Merging
import Tensors
import Testing

/// Every fixture case of the methods implemented here, merged and compared with mergekit 0.1.5's
/// output within the tolerance the fixtures' README gives for the method.
@Suite("mergekit 0.1.5 golden merges")
struct FixtureCaseTests {
    static let methods = [
        "linear", "slerp", "nuslerp", "task_arithmetic", "passthrough",
        "ties", "dare_ties", "dare_linear", "breadcrumbs", "della", "model_stock", "multislerp",
        "karcher", "sce", "nearswap", "arcee_fusion", "della_linear", "breadcrumbs_ties", "ram", "ramplus_tl",
    ]

    /// The fixture cases by folder name, then (as absolute paths) those of `MIXMERGE_EXTRA_CASES`,
    /// a folder of cases in the same layout (`tools/fuzz_merges.py --write-cases` makes them).
    static var cases: [String] {
        func list(_ root: URL, absolute: Bool) -> [String] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
            return names.filter { name in
                methods.contains { name.contains("-\($0)-") }
                    && FileManager.default.fileExists(atPath: root.appendingPathComponent("\(name)/expected").path)
            }.sorted().map { absolute ? root.appendingPathComponent($0).path : $0 }
        }
        let extra = ProcessInfo.processInfo.environment["MIXMERGE_EXTRA_CASES"].map { list(URL(fileURLWithPath: $0), absolute: true) }
        return list(fixtures.appendingPathComponent("merges"), absolute: false) + (extra ?? [])
    }

    /// `dtype` is the coarsest of the stored output and the compute dtype. When a float32 merge
    /// that takes torch's MKL functions (or MKL's sdot) is stored narrower, their last-bit
    /// differences can move the output's rounding: one ulp of the value (fuzz seed 20 case 3,
    /// karcher in float32 stored as bf16: 1 element in 2 tensors).
    static func tolerance(method: String, dtype: DType, compute: DType?) -> Tolerance {
        if compute == .f32, dtype != .f32, ["nuslerp", "multislerp", "karcher"].contains(method) { return .ulpOfValue(1) }
        return switch method {
        // Norms and dot in torch's order; left: torch's acos/sin are MKL's (see nuslerp), which
        // can move a bf16 rounding too (fuzz seed 8 case 46: 1 element).
        case "slerp": dtype == .f32 ? .ulpAtAbsMax(4) : .ulpOfValue(1)
        // Norms and dots replay torch's order (fixture tensors are ≤ TorchSum.singleChunk); what
        // is left in float32 is torch's acos/sin/cos, which are MKL's (VML) and differ from glibc's
        // in the last bit for a few % of arguments. In bf16/f16 the rounding absorbs that.
        case "nuslerp": dtype == .f32 ? .ulpAtAbsMax(4) : .bitExact
        case "model_stock": .bitExact  // fixture tensors are ≤ TorchSum.singleChunk: torch's order
        // Norms in torch's order; in float32 ⟨u, Uᵢ⟩ is MKL's sdot and acos/sin/cos MKL's VML, and
        // the iteration carries a last-bit difference along (≤ 3 ulp@absmax seen in fuzz cases).
        case "karcher": dtype == .f32 ? .ulpAtAbsMax(8) : .bitExact
        case "sce": .bitExact  // mean squares in torch's order, top-k ties as torch's topk leaves them
        case "multislerp": dtype == .f32 ? .ulpAtAbsMax(2) : .bitExact  // as nuslerp (cos and sin of ‖τ‖)
        default: .bitExact
        }
    }

    @Test("the fixture set is present")
    func fixturesPresent() {
        #expect(Self.cases.count >= 28)
    }

    /// The seed mergekit was run with (CASE.md: `seed=N`).
    static func seed(_ folder: URL) throws -> UInt64 {
        let text = try String(contentsOf: folder.appendingPathComponent("CASE.md"), encoding: .utf8)
        guard let r = text.range(of: #"seed=\d+"#, options: .regularExpression) else { return 0 }
        return UInt64(text[r].dropFirst(5)) ?? 0
    }

    @Test("matches mergekit", arguments: cases)
    func fixtureCase(_ name: String) throws {
        let folder = name.hasPrefix("/") ? URL(fileURLWithPath: name) : fixtures.appendingPathComponent("merges/\(name)")
        let method = Self.methods.first { folder.lastPathComponent.contains("-\($0)-") }!
        let plan = try planCase(folder)
        let out = temporaryDirectory(folder.lastPathComponent).appendingPathComponent("out")
        _ = try Merger.run(plan, output: out, options: MergeOptions(threads: 2, seed: try Self.seed(folder)))
        let expected = folder.appendingPathComponent("expected")
        let exactInputs = plan.tasks.allSatisfy { t in t.computeDType == .f32 && t.inputs.allSatisfy { $0.dtype == .f32 } }
        let problems: [String]
        switch method {
        case let m where ["ties", "breadcrumbs", "breadcrumbs_ties"].contains(m) && !exactInputs
            && plan.tasks.contains { $0.count > SparsificationPass.sortLimit }:
            // bf16/f16 deltas have many equal magnitudes; above the sort limit we keep those tied
            // at the selection boundary by flat index, mergekit in its unstable sort's order.
            // Anything else must be bit-exact (and every fixture tensor is below the limit).
            problems = try TieBoundaryCheck.compare(out, expected, plan)
        case "sce" where !exactInputs && (plan.tasks.first?.number("select_topk") ?? 1) < 1
            && plan.tasks.contains { $0.count > SparsificationPass.sortLimit }:
            // Equal variances at the top-k boundary: above the sort limit we keep them by flat
            // index, mergekit in the order torch's topk leaves them.
            problems = try SCETieCheck.compare(out, expected, plan, ulps: 2)
        case "arcee_fusion" where plan.tasks.first?.computeDType == .f32:
            // torch's `log` of the KL terms is MKL's (vsLn), which differs from any libm's in the
            // last float32 bit now and then: a row's KL moves by an ulp and an importance right at
            // the threshold may flip. (In bf16/f16 the rounding absorbs it: bit-exact.)
            problems = try compareFewDiffer(out, expected, share: 0.001, atLeast: 1)
        default:
            let compute = plan.tasks.first?.computeDType
            problems = try compare(out, expected, computeDType: compute) { Self.tolerance(method: method, dtype: $0, compute: compute) }
        }
        #expect(problems.isEmpty, "\(problems.prefix(5).joined(separator: "\n"))")

        // config.json: dtype and layer count as mergekit wrote them.
        let ours = try #require(try ModelConfig.read(folder: out))
        let theirs = try #require(try ModelConfig.read(folder: folder.appendingPathComponent("expected")))
        // Without base_model, mergekit's donor is whichever model its set hashes first; ours is the
        // first model in the config (mergekit-spec §7.5). Its dtype field shows only when no
        // dtype/out_dtype overwrites it and the models' fields differ.
        let donorArbitrary = plan.config.baseModel == nil && plan.config.dtype == nil && plan.config.outDType == nil
            && Set(plan.models.map { $0.config?.dtypeName ?? "" }).count > 1
        if !donorArbitrary {
            #expect(ours.dtypeName == theirs.dtypeName)
        } else {
            #expect(ours.dtypeName == plan.models[plan.donor].config?.dtypeName)
        }
        #expect(ours.layerCount == theirs.layerCount)
        #expect(ours.architectures == theirs.architectures)
        // Tokenizer files copied from the donor.
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("tokenizer.json").path))
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("generation_config.json").path))
    }

    /// The fixture tensors are all small enough for the torch-order paths of slerp, multislerp,
    /// nuslerp, model_stock, karcher, ties, breadcrumbs and sce; this runs their goldens through the
    /// streaming paths larger tensors take (sums in Double, magnitudes ranked by radix select with
    /// ties by flat index) and holds them to what those can reach (fixtures README): the reference
    /// set's ulp tolerances, and differences only at tied boundary magnitudes.
    @Test("the streaming paths (large tensors) stay within tolerance of mergekit's goldens",
          arguments: cases.filter {
              ["-slerp-", "-multislerp-", "-nuslerp-", "-model_stock-", "-karcher-", "-ties-", "-breadcrumbs-", "-breadcrumbs_ties-", "-sce-"]
                  .contains(where: $0.contains)
          })
    func streamingPaths(_ name: String) throws {
        let folder = name.hasPrefix("/") ? URL(fileURLWithPath: name) : fixtures.appendingPathComponent("merges/\(name)")
        let p = try planCase(folder)
        let method: any MergeMethod = switch p.method.name {
        case "multislerp": MultiSLERP(torchOrderLimit: 0)
        case "nuslerp": NuSLERP(torchOrderLimit: 0)
        case "karcher": Karcher(torchOrderLimit: 0)
        case "slerp": SLERP(torchOrderLimit: 0)
        case "ties": TIES(sortLimit: 0)
        case "breadcrumbs": Breadcrumbs(sortLimit: 0)
        case "breadcrumbs_ties": BreadcrumbsTIES(sortLimit: 0)
        case "sce": SCE(torchOrderLimit: 0)
        default: ModelStock(torchOrderLimit: 0)
        }
        let plan = MergePlan(
            config: p.config, method: method, models: p.models, tasks: p.tasks, donor: p.donor,
            tokenizerFolder: p.tokenizerFolder, outputLayers: p.outputLayers, warnings: p.warnings)
        let out = temporaryDirectory(folder.lastPathComponent).appendingPathComponent("out")
        _ = try Merger.run(plan, output: out, options: MergeOptions(threads: 2))
        let exactInputs = plan.tasks.allSatisfy { t in t.computeDType == .f32 && t.inputs.allSatisfy { $0.dtype == .f32 } }
        if ["ties", "breadcrumbs", "breadcrumbs_ties"].contains(p.method.name) && !exactInputs {
            let problems = try TieBoundaryCheck.compare(out, folder.appendingPathComponent("expected"), plan)
            #expect(problems.isEmpty, "\(problems.prefix(5).joined(separator: "\n"))")
            return
        }
        if p.method.name == "sce" && !exactInputs && (plan.tasks.first?.number("select_topk") ?? 1) < 1 {
            let problems = try SCETieCheck.compare(out, folder.appendingPathComponent("expected"), plan, ulps: 2)
            #expect(problems.isEmpty, "\(problems.prefix(5).joined(separator: "\n"))")
            return
        }
        let problems = try compare(out, folder.appendingPathComponent("expected"), computeDType: plan.tasks.first?.computeDType) {
            switch (p.method.name, $0) {
            case ("model_stock", _): .ulpAtAbsMax(4)
            case ("slerp", .f32): .ulpAtAbsMax(32)
            case ("slerp", _): .ulpOfValue(1)
            case (_, .f32): .ulpAtAbsMax(32)
            case ("karcher", _): .ulpAtAbsMax(4)
            case ("ties", _), ("breadcrumbs", _), ("breadcrumbs_ties", _): .bitExact
            default: .ulpAtAbsMax(2)
            }
        }
        #expect(problems.isEmpty, "\(problems.prefix(5).joined(separator: "\n"))")
    }

    @Test("Aya 23 style Cohere models without q/k-norm merge (stock mergekit 0.1.5 fails on them)")
    func cohereWithoutQKNorm() throws {
        let folder = fixtures.appendingPathComponent("merges/cohere-stockcli-error")
        let out = temporaryDirectory().appendingPathComponent("out")
        _ = try Merger.run(try planCase(folder), output: out, options: MergeOptions(threads: 2))
        let problems = try compare(out, fixtures.appendingPathComponent("merges/cohere-linear-b/expected")) { _ in .bitExact }
        #expect(problems.isEmpty, "\(problems.prefix(3))")
    }
}

@Suite("Execution")
struct ExecutionTests {
    static let slerpConfig = """
        merge_method: slerp
        base_model: ../../models/llama/base
        models:
          - model: ../../models/llama/base
          - model: ../../models/llama/ft3
        parameters:
          t: [0, 0.5, 1]
        out_dtype: bfloat16
        """

    @Test("The output does not depend on the number of threads")
    func threadIndependence() throws {
        let one = try merge(Self.slerpConfig, threads: 1)
        let three = try merge(Self.slerpConfig, threads: 3)
        #expect(try compare(one, three) { _ in .bitExact }.isEmpty)
    }

    @Test("Sharded output holds the same tensors, with an index transformers can follow")
    func shardedOutput() throws {
        let single = try merge(Self.slerpConfig, shardSize: 0)
        let sharded = try merge(Self.slerpConfig, shardSize: 100_000)
        let files = try FileManager.default.contentsOfDirectory(atPath: sharded.path).filter { $0.hasSuffix(".safetensors") }
        #expect(files.count > 1)
        #expect(files.allSatisfy { $0.hasPrefix("model-0000") && $0.contains("-of-") })
        #expect(try compare(sharded, single) { _ in .bitExact }.isEmpty)
        #expect(try Checkpoint(path: sharded.path).names.count == Checkpoint(path: single.path).names.count)
    }

    @Test("Slices: layers are renumbered, config.json gets the new layer count, the card names the method")
    func slices() throws {
        let yaml = """
            merge_method: passthrough
            slices:
              - sources: [{model: ../../models/llama/ft1, layer_range: [0, 3]}]
              - sources: [{model: ../../models/llama/ft1, layer_range: [1, 4]}]
            """
        let out = try merge(yaml)
        let names = try Checkpoint(path: out.path).names
        #expect(names.contains("model.layers.5.mlp.up_proj.weight"))
        #expect(!names.contains("model.layers.6.mlp.up_proj.weight"))
        #expect(try ModelConfig.read(folder: out)?.layerCount == 6)
        let t = try loadTensors(out), src = try loadTensors(fixtures.appendingPathComponent("models/llama/ft1"))
        #expect(t["model.layers.3.self_attn.q_proj.weight"]?.bytes == src["model.layers.1.self_attn.q_proj.weight"]?.bytes)
        let card = try String(contentsOf: out.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(card.hasPrefix("---\nbase_model:"))
        #expect(card.contains("- mixmerge") && card.contains("passthrough"))
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("mergekit_config.yml").path))
    }

    @Test("A chat template named in the config is installed")
    func chatTemplate() throws {
        let out = try merge("""
            merge_method: linear
            models:
              - {model: ../../models/llama/ft1, parameters: {weight: 1}}
              - {model: ../../models/llama/ft2, parameters: {weight: 1}}
            chat_template: chatml
            """)
        let jinja = try String(contentsOf: out.appendingPathComponent("chat_template.jinja"), encoding: .utf8)
        #expect(jinja.contains("<|im_start|>"))
        let tc = try JSONValue.parse(String(contentsOf: out.appendingPathComponent("tokenizer_config.json"), encoding: .utf8))
        #expect(tc["chat_template"]?.stringValue == jinja)
    }
}

@Suite("Side files")
struct SideFileTests {
    @Test("tokenizer_source names the model whose tokenizer files are copied")
    func tokenizerSource() throws {
        // A tokenizer-only model: a folder with tokenizer files and a marker, no weights.
        let root = temporaryDirectory()
        let tok = root.appendingPathComponent("tok")
        try FileManager.default.createDirectory(at: tok, withIntermediateDirectories: true)
        try Data(#"{"marker": "from-tok"}"#.utf8).write(to: tok.appendingPathComponent("tokenizer_config.json"))
        let yaml = """
            merge_method: linear
            models:
              - {model: ../../models/llama/ft1, parameters: {weight: 1}}
              - {model: ../../models/llama/ft2, parameters: {weight: 1}}
            tokenizer_source: \(tok.path)
            """
        let out = try merge(yaml)
        let copied = try String(contentsOf: out.appendingPathComponent("tokenizer_config.json"), encoding: .utf8)
        #expect(copied.contains("from-tok"))
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("tokenizer.json").path))
    }

    @Test("chat_template: auto takes the template the inputs share")
    func chatTemplateAuto() throws {
        let root = temporaryDirectory()
        for name in ["a", "b"] {
            let dir = root.appendingPathComponent(name)
            try FileManager.default.copyItem(at: fixtures.appendingPathComponent("models/llama/ft1"), to: dir)
            try Data("{% for m in messages %}{{ m['content'] }}{% endfor %}".utf8).write(to: dir.appendingPathComponent("chat_template.jinja"))
        }
        let config = try ConfigParser().parse("""
            merge_method: linear
            models: [{model: a, parameters: {weight: 1}}, {model: b, parameters: {weight: 1}}]
            chat_template: auto
            """)
        let out = root.appendingPathComponent("out")
        _ = try Merger.run(try Planner(searchDirectories: [root]).plan(config), output: out, options: MergeOptions())
        let template = try String(contentsOf: out.appendingPathComponent("chat_template.jinja"), encoding: .utf8)
        #expect(template.hasPrefix("{% for m in messages %}"))
    }

    @Test("A transformers 4 donor keeps its keys; slicing a layer_types model keeps the list consistent")
    func transformers4AndLayerTypes() throws {
        let root = temporaryDirectory()
        let donor = root.appendingPathComponent("old")
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("models/cohere2/ft1"), to: donor)
        // Rewrite config.json with transformers 4 keys.
        var config = try #require(try ModelConfig.read(folder: donor))
        config.json.remove("dtype")
        config.json.set("torch_dtype", .string("bfloat16"))
        try config.write(to: donor.appendingPathComponent("config.json"))
        let merge = try ConfigParser().parse("""
            merge_method: passthrough
            slices:
              - sources: [{model: old, layer_range: [1, 2]}]
              - sources: [{model: old, layer_range: [0, 2]}]
            out_dtype: float32
            """)
        let out = root.appendingPathComponent("out")
        _ = try Merger.run(try Planner(searchDirectories: [root]).plan(merge), output: out, options: MergeOptions())
        let written = try #require(try ModelConfig.read(folder: out))
        #expect(written.json["torch_dtype"]?.stringValue == "float32" && written.json["dtype"] == nil)
        #expect(written.layerCount == 3)
        let original = try #require(config.json["layer_types"]?.arrayValue)
        #expect(written.json["layer_types"]?.arrayValue == [original[1], original[0], original[1]])
    }
}
