import Checkpoints
import Foundation
import Merging
import Tensors
import Testing

@Suite("Sweeps (variants)")
struct SweepTests {
    static let yaml = """
        merge_method: dare_ties
        base_model: ../../models/llama/base
        models:
          - {model: ../../models/llama/ft1, parameters: {weight: 0.5, density: 0.5}}
          - {model: ../../models/llama/ft2, parameters: {weight: 0.5, density: 0.5}}
        dtype: bfloat16
        variants:
          - {name: light, parameters: {lambda: 0.5}}
          - {name: heavy, models: {../../models/llama/ft1: {weight: 0.9}}}
        sweep:
          density: [0.3, 0.7]
        """

    @Test("Every variant equals a plain merge of its config, seed included")
    func variantsEqualPlainRuns() throws {
        let folder = fixtures.appendingPathComponent("merges/llama-linear-b")
        let config = try ConfigParser().parse(Self.yaml)
        #expect(config.variants.map(\.name) == ["light", "heavy", "density-0.3", "density-0.7"])
        let planner = Planner(searchDirectories: [folder])
        let plans = try config.variants.map { (name: $0.name, plan: try planner.plan(config.applying($0))) }
        let out = temporaryDirectory().appendingPathComponent("sweep")
        let summary = try Merger.runSweep(plans, output: out, options: MergeOptions(threads: 2, seed: 7))
        #expect(summary.variants == ["light", "heavy", "density-0.3", "density-0.7"])
        for v in config.variants {
            let single = temporaryDirectory(v.name).appendingPathComponent("one")
            _ = try Merger.run(try planner.plan(config.applying(v)), output: single, options: MergeOptions(threads: 1, seed: 7))
            #expect(try compare(out.appendingPathComponent(v.name), single) { _ in .bitExact }.isEmpty, "\(v.name)")
        }
        // The overrides took effect: variants differ from each other.
        #expect(try !compare(out.appendingPathComponent("light"), out.appendingPathComponent("heavy")) { _ in .bitExact }.isEmpty)
        #expect(try !compare(out.appendingPathComponent("density-0.3"), out.appendingPathComponent("density-0.7")) { _ in .bitExact }.isEmpty)
    }

    /// Sweeps whose variants run together block by block (bf16-stored inputs) or one after another
    /// (f32-stored llama inputs with bf16 compute): each variant equals a plain merge.
    static let togetherCases: [(String, String, String)] = [
        ("linear", "", "- {name: a, models: {FT1: {weight: 0.0}}}\n  - {name: b}\n  - {name: c, models: {FT2: {weight: 0.9}}, parameters: {normalize: false}}"),
        ("task_arithmetic", "base_model: BASE", "- {name: a, models: {FT1: {weight: 0.0}}}\n  - {name: b, parameters: {lambda: 0.7}}"),
        ("slerp", "base_model: BASE", "- {name: a, parameters: {t: 0.3}}\n  - {name: b, parameters: {t: 0.7}}"),
        // Same density: the variants share one selection; then another density.
        ("ties", "base_model: BASE", "- {name: a, models: {FT1: {weight: 0.0}}}\n  - {name: b}\n  - {name: c, models: {FT2: {weight: 0.9, density: 0.3}}}"),
        ("breadcrumbs", "base_model: BASE", "- {name: a}\n  - {name: b, models: {FT1: {weight: 1.0}}}"),
        ("dare_ties", "base_model: BASE", "- {name: a}\n  - {name: b, models: {FT1: {weight: 1.0}}}\n  - {name: c, parameters: {lambda: 0.5}}"),
    ]

    @Test("Sweeps of element-wise variants (run together, block by block) equal plain merges", arguments: togetherCases.indices)
    func variantsRunTogether(_ index: Int) throws {
        let (method, header, variants) = Self.togetherCases[index]
        for family in ["mistral", "llama"] {  // bf16-stored and f32-stored checkpoints
            let m = "../../models/\(family)"
            let models = method == "slerp"
                ? "  - {model: \(m)/base}\n  - {model: \(m)/ft1}"
                : method == "linear"
                ? "  - {model: \(m)/base, parameters: {weight: 0.2}}\n  - {model: \(m)/ft1, parameters: {weight: 0.4}}\n  - {model: \(m)/ft2, parameters: {weight: 0.4}}"
                : "  - {model: \(m)/ft1, parameters: {weight: 0.6, density: 0.5}}\n  - {model: \(m)/ft2, parameters: {weight: 0.4, density: 0.5}}"
            let yaml = """
                merge_method: \(method)
                \(header.replacingOccurrences(of: "BASE", with: "\(m)/base"))
                models:
                \(models)
                parameters: {t: 0.5}
                dtype: bfloat16
                variants:
                  \(variants.replacingOccurrences(of: "FT1", with: "\(m)/ft1").replacingOccurrences(of: "FT2", with: "\(m)/ft2"))
                """
            let config = try ConfigParser().parse(yaml)
            let planner = Planner(searchDirectories: [fixtures.appendingPathComponent("merges/llama-linear-b")])
            let plans = try config.variants.map { (name: $0.name, plan: try planner.plan(config.applying($0))) }
            let out = temporaryDirectory("sweep-\(method)-\(family)").appendingPathComponent("sweep")
            _ = try Merger.runSweep(plans, output: out, options: MergeOptions(threads: 2, seed: 11))
            var outputs: [URL] = []
            for v in config.variants {
                let single = temporaryDirectory("\(method)-\(family)-\(v.name)").appendingPathComponent("one")
                _ = try Merger.run(try planner.plan(config.applying(v)), output: single, options: MergeOptions(threads: 1, seed: 11))
                #expect(try compare(out.appendingPathComponent(v.name), single) { _ in .bitExact }.isEmpty, "\(method) \(family) \(v.name)")
                outputs.append(out.appendingPathComponent(v.name))
            }
            #expect(try !compare(outputs[0], outputs[1]) { _ in .bitExact }.isEmpty, "\(method) \(family): variants differ")
        }
    }

    @Test("A plain mergekit config has no variants; bad variants are config errors")
    func errors() throws {
        #expect(try ConfigParser().parse("merge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}]\n").variants.isEmpty)
        #expect(throws: MergeError.self) {
            _ = try ConfigParser().parse("merge_method: linear\nmodels: [{model: a}]\nvariants: [{name: x, models: {b: {weight: 1}}}]\n")
        }
        #expect(throws: MergeError.self) {
            _ = try ConfigParser().parse("merge_method: linear\nmodels: [{model: a}]\nvariants: [{name: x}, {name: x}]\n")
        }
        #expect(throws: MergeError.self) {
            _ = try ConfigParser().parse("merge_method: linear\nmodels: [{model: a}]\nvariants: [{name: ../escape}]\n")
        }
    }
}
