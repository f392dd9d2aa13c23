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

    @Test("A sweep of linear weightings (run together, block by block) equals plain merges, bf16 and f32 inputs")
    func linearVariantsRunTogether() throws {
        for family in ["mistral", "llama"] {  // bf16-stored and f32-stored checkpoints
            let yaml = """
                merge_method: linear
                models:
                  - {model: ../../models/\(family)/base, parameters: {weight: 0.2}}
                  - {model: ../../models/\(family)/ft1, parameters: {weight: 0.4}}
                  - {model: ../../models/\(family)/ft2, parameters: {weight: 0.4}}
                dtype: bfloat16
                variants:
                  - {name: a, models: {../../models/\(family)/ft1: {weight: 0.0}}}
                  - {name: b}
                  - {name: c, models: {../../models/\(family)/ft2: {weight: 0.9}}, parameters: {normalize: false}}
                """
            let config = try ConfigParser().parse(yaml)
            let planner = Planner(searchDirectories: [fixtures.appendingPathComponent("merges/llama-linear-b")])
            let plans = try config.variants.map { (name: $0.name, plan: try planner.plan(config.applying($0))) }
            let out = temporaryDirectory("sweep-\(family)").appendingPathComponent("sweep")
            _ = try Merger.runSweep(plans, output: out, options: MergeOptions(threads: 2))
            for v in config.variants {
                let single = temporaryDirectory("\(family)-\(v.name)").appendingPathComponent("one")
                _ = try Merger.run(try planner.plan(config.applying(v)), output: single, options: MergeOptions(threads: 1))
                #expect(try compare(out.appendingPathComponent(v.name), single) { _ in .bitExact }.isEmpty, "\(family) \(v.name)")
            }
            #expect(try !compare(out.appendingPathComponent("a"), out.appendingPathComponent("c")) { _ in .bitExact }.isEmpty)
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
