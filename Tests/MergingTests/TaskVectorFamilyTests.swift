import Checkpoints
import Foundation
import Merging
import Tensors
import Testing

@Suite("TIES, DARE, breadcrumbs, DELLA")
struct TaskVectorFamilyTests {
    static func config(_ method: String, density: String, extra: String = "", dtype: String = "bfloat16") -> String {
        """
        merge_method: \(method)
        base_model: ../../models/llama/base
        models:
          - {model: ../../models/llama/ft1, parameters: {weight: 0.6, density: \(density)}}
          - {model: ../../models/llama/ft2, parameters: {weight: 0.5, density: \(density)}}
        parameters: {\(extra)}
        dtype: \(dtype)
        """
    }

    func mergeWithSeed(_ yaml: String, seed: UInt64, threads: Int = 2) throws -> URL {
        let plan = try planCase(fixtures.appendingPathComponent("merges/llama-linear-b"), configText: yaml)
        let out = temporaryDirectory().appendingPathComponent("out")
        _ = try Merger.run(plan, output: out, options: MergeOptions(threads: threads, outShardSize: 0, seed: seed))
        return out
    }

    @Test("density 1 reproduces task arithmetic exactly (no sparsification, no random draws)")
    func densityOne() throws {
        let ta = try mergeWithSeed(Self.config("task_arithmetic", density: "1"), seed: 0)
        for method in ["dare_linear", "breadcrumbs", "della_linear"] {
            let out = try mergeWithSeed(Self.config(method, density: "1"), seed: 5)
            #expect(try compare(out, ta) { _ in .bitExact }.isEmpty, "\(method)")
        }
        // With consensus, density 1 equals TIES without trimming: compare ties and dare_ties.
        let ties = try mergeWithSeed(Self.config("ties", density: "1", extra: "normalize: false"), seed: 0)
        let dare = try mergeWithSeed(Self.config("dare_ties", density: "1", extra: "rescale: true"), seed: 9)
        #expect(try compare(ties, dare) { _ in .bitExact }.isEmpty)
    }

    @Test("floor(density·n) = 0 does not crash: TIES keeps one element, breadcrumbs none")
    func tinyDensity() throws {
        let ties = try mergeWithSeed(Self.config("ties", density: "0.001"), seed: 0)
        let base = try loadTensors(fixtures.appendingPathComponent("models/llama/base"))
        let t = try loadTensors(ties)
        let norm = try #require(t["model.norm.weight"]), baseNorm = try #require(base["model.norm.weight"])
        let changed = zip(norm.values, baseNorm.values).filter { $0 != Rounding.toBF16($1) }.count
        #expect(changed >= 1 && changed <= 2)  // one kept element per model (64 elements, ⌊0.064⌋ = 0 → 1)
        let crumbs = try mergeWithSeed(Self.config("breadcrumbs", density: "0.001"), seed: 0)
        let c = try #require(try loadTensors(crumbs)["model.norm.weight"])
        #expect(zip(c.values, baseNorm.values).allSatisfy { $0 == Rounding.toBF16($1) })
    }

    @Test("An impossible DELLA density ± epsilon is a config error before anything is written")
    func dellaEpsilon() throws {
        #expect {
            _ = try mergeWithSeed(Self.config("della", density: "0.9", extra: "normalize: true"), seed: 0)
        } throws: { error in
            guard let e = error as? MergeError else { return false }
            return e.code == .config && e.description.contains("epsilon") && e.description.contains("0.9")
        }
    }

    @Test("Same seed → same bytes whatever --threads says; another seed → other bytes")
    func seeds() throws {
        let yaml = Self.config("dare_ties", density: "0.5")
        let a = try mergeWithSeed(yaml, seed: 42, threads: 1)
        let b = try mergeWithSeed(yaml, seed: 42, threads: 3)
        let c = try mergeWithSeed(yaml, seed: 43, threads: 2)
        #expect(try compare(a, b) { _ in .bitExact }.isEmpty)
        #expect(try !compare(a, c) { _ in .bitExact }.isEmpty)
        let d = try mergeWithSeed(Self.config("della", density: "0.5"), seed: 42, threads: 1)
        let e = try mergeWithSeed(Self.config("della", density: "0.5"), seed: 42, threads: 2)
        #expect(try compare(d, e) { _ in .bitExact }.isEmpty)
    }

    @Test("TIES keeps exactly k elements per model: merged with one model, the rest equals the base")
    func tiesKeepsK() throws {
        let yaml = """
            merge_method: ties
            base_model: ../../models/llama/base
            models:
              - {model: ../../models/llama/ft1, parameters: {weight: 1, density: 0.25}}
            dtype: float32
            """
        let out = try mergeWithSeed(yaml, seed: 0)
        let t = try loadTensors(out), base = try loadTensors(fixtures.appendingPathComponent("models/llama/base"))
        for name in ["model.layers.1.mlp.up_proj.weight", "model.norm.weight"] {
            let x = try #require(t[name]), y = try #require(base[name])
            let changed = zip(x.values, y.values).filter { $0 != $1 }.count
            #expect(changed == max(1, Int(0.25 * Double(x.values.count))), "\(name)")
        }
    }
}

@Suite("nearswap")
struct NearSwapTests {
    @Test("takes the other model where the two are within t, keeps the base where far apart")
    func nearswap() throws {
        let yaml = """
            merge_method: nearswap
            base_model: ../../models/llama/base
            models:
              - {model: ../../models/llama/base}
              - {model: ../../models/llama/ft1}
            parameters: {t: 0.001}
            dtype: float32
            """
        let out = try merge(yaml)
        let r = try loadTensors(out), a = try loadTensors(fixtures.appendingPathComponent("models/llama/base"))
        let b = try loadTensors(fixtures.appendingPathComponent("models/llama/ft1"))
        let name = "model.layers.0.mlp.up_proj.weight"
        let (rv, av, bv) = (r[name]!.values, a[name]!.values, b[name]!.values)
        for i in rv.indices {
            let diff = abs(av[i] - bv[i])
            if diff <= 0.001 { #expect(rv[i] == bv[i] || abs(rv[i] - bv[i]) <= 1e-7) }
            if diff > 0.01 {
                let w = 0.001 / diff
                #expect(abs(rv[i] - (w * bv[i] + (1 - w) * av[i])) <= 1e-6)
            }
        }
    }
}

@Suite("karcher and sce")
struct KarcherSCETests {
    static let models = fixtures.appendingPathComponent("models/llama")

    @Test("karcher of two models: the geodesic midpoint of their directions, scaled by their mean norm")
    func karcherMidpoint() throws {
        let out = try merge("""
            merge_method: karcher
            models:
              - {model: ../../models/llama/ft1}
              - {model: ../../models/llama/ft2}
            dtype: float32
            """)
        let r = try loadTensors(out), a = try loadTensors(Self.models.appendingPathComponent("ft1")),
            b = try loadTensors(Self.models.appendingPathComponent("ft2"))
        for name in ["model.layers.1.self_attn.q_proj.weight", "model.norm.weight"] {
            let x = a[name]!.values.map(Double.init), y = b[name]!.values.map(Double.init), z = r[name]!.values.map(Double.init)
            func norm(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
            let nx = norm(x), ny = norm(y)
            let mid = x.indices.map { x[$0] / nx + y[$0] / ny }
            let nm = norm(mid)
            let expected = mid.map { $0 / nm * (nx + ny) / 2 }
            let worst = zip(z, expected).map { abs($0 - $1) }.max() ?? 0
            #expect(worst < 1e-4 * (nx + ny) / 2 / Double(z.count).squareRoot() * 10, "\(name): \(worst)")
        }
    }

    @Test("sce with one model returns that model; select_topk keeps the most variable elements")
    func sce() throws {
        let one = try merge("""
            merge_method: sce
            base_model: ../../models/llama/base
            models: [{model: ../../models/llama/ft1}]
            dtype: float32
            """)
        let r = try loadTensors(one), a = try loadTensors(Self.models.appendingPathComponent("ft1"))
        let name = "model.layers.2.mlp.down_proj.weight"
        #expect(zip(r[name]!.values, a[name]!.values).allSatisfy { abs($0 - $1) <= 1e-6 })
        let sparse = try merge("""
            merge_method: sce
            base_model: ../../models/llama/base
            models: [{model: ../../models/llama/ft1}, {model: ../../models/llama/ft2}]
            parameters: {select_topk: 0.25}
            dtype: float32
            """)
        let s = try loadTensors(sparse), base = try loadTensors(Self.models.appendingPathComponent("base"))
        let changed = zip(s[name]!.values, base[name]!.values).filter { $0 != $1 }.count
        #expect(changed <= Int(0.25 * Double(s[name]!.values.count)) && changed > 0)
    }
}

@Suite("arcee_fusion")
struct ArceeFusionTests {
    @Test("each element is the base's or the other model's; float32 output like mergekit's (issue #604)")
    func fusion() throws {
        let out = try merge("""
            merge_method: arcee_fusion
            base_model: ../../models/llama/base
            models: [{model: ../../models/llama/base}, {model: ../../models/llama/ft1}]
            dtype: bfloat16
            """)
        let r = try loadTensors(out)
        let a = try loadTensors(fixtures.appendingPathComponent("models/llama/base"))
        let b = try loadTensors(fixtures.appendingPathComponent("models/llama/ft1"))
        let name = "model.layers.0.mlp.gate_proj.weight"
        #expect(r[name]?.info.dtype == .f32)
        let (rv, av, bv) = (r[name]!.values, a[name]!.values.map(Rounding.toBF16), b[name]!.values.map(Rounding.toBF16))
        var fromOther = 0
        for i in rv.indices {
            let isBase = rv[i] == av[i]
            let isOther = rv[i] == av[i] + Rounding.toBF16(bv[i] - av[i])
            #expect(isBase || isOther)
            if !isBase && isOther { fromOther += 1 }
        }
        // median + 1.5·IQR keeps the outliers only: some but few elements come from the other model.
        #expect(fromOther > 0 && fromOther < rv.count / 4)
        #expect(try ModelConfig.read(folder: out)?.dtypeName == "bfloat16")
    }
}
