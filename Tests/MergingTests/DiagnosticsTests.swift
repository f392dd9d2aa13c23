import Checkpoints
import Foundation
import Merging
import Tensors
import Testing

@Suite("Task-vector diagnostics")
struct DiagnosticsTests {
    func model(_ name: String) throws -> Checkpoint { try Checkpoint(path: fixtures.appendingPathComponent("models/llama/\(name)").path) }

    @Test("A model against itself: cosine 1, no sign conflicts")
    func identical() throws {
        let s = try TaskVectorStats.compute(base: model("base"), baseName: "base", models: [model("ft1"), model("ft1")], names: ["a", "b"], threads: 2)
        #expect(s.tensors.count == 39)
        for t in s.tensors {
            #expect(abs(t.cosine(0) - 1) < 1e-9, "\(t.name)")
            #expect(t.pairConflicts[0] == 0 && t.mixedSign == 0)
            #expect(abs(t.norms[0] - t.norms[1]) < 1e-12)
        }
    }

    @Test("Norms, cosines and conflicts agree with a direct computation")
    func direct() throws {
        let base = try model("base"), a = try model("ft1"), b = try model("ft3")
        let s = try TaskVectorStats.compute(base: base, baseName: "base", models: [a, b], names: ["ft1", "ft3"], threads: 3)
        let name = "model.layers.2.mlp.up_proj.weight"
        let t = try #require(s.tensors.first { $0.name == name })
        #expect(t.layer == 2 && t.kind == "mlp.up_proj.weight")
        func values(_ c: Checkpoint) throws -> [Double] {
            let loc = try #require(c.location(name))
            var v = [Float](repeating: 0, count: loc.info.count)
            v.withUnsafeMutableBufferPointer { Convert.widen(loc.data, loc.info.dtype, count: loc.info.count, into: $0.baseAddress!) }
            return v.map(Double.init)
        }
        let x = try values(base), y = try values(a), z = try values(b)
        let d1 = zip(y, x).map { Double(Float($0) - Float($1)) }, d2 = zip(z, x).map { Double(Float($0) - Float($1)) }
        let n1 = d1.reduce(0) { $0 + $1 * $1 }.squareRoot(), n2 = d2.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let cos = zip(d1, d2).reduce(0) { $0 + $1.0 * $1.1 } / (n1 * n2)
        let conflicts = zip(d1, d2).filter { $0 != 0 && $1 != 0 && ($0 > 0) != ($1 > 0) }.count
        #expect(abs(t.norms[0] - n1) < 1e-9 * n1)
        #expect(abs(t.cosine(0) - cos) < 1e-9)
        #expect(t.pairConflicts[0] == conflicts)
        // The fixtures' fine-tunes share a common direction: cosine about 0.36 (fixtures README).
        #expect(cos > 0.25 && cos < 0.45)
    }
}
