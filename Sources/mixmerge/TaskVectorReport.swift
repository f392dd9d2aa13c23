import ArgumentParser
import Checkpoints
import Foundation
import Merging
import Tensors

/// `mixmerge inspect M1 [M2 …] --against BASE`: task-vector norms, cosines and sign conflicts.
struct TaskVectorReport {
    let models: [String]
    let base: String
    let perTensor: Bool
    let json: Bool
    let threads: Int

    /// Statistics summed over a group of tensors (a layer, or a layer × kind).
    struct Group {
        var label: String
        var layer: Int?
        var squares: [Double]
        var dots: [Double]
        var conflicts: [Int]
        var both: [Int]
        var mixed = 0
        var multi = 0

        init(label: String, layer: Int?, models m: Int) {
            self.label = label
            self.layer = layer
            squares = Array(repeating: 0, count: m)
            dots = Array(repeating: 0, count: m * (m - 1) / 2)
            conflicts = Array(repeating: 0, count: dots.count)
            both = Array(repeating: 0, count: dots.count)
        }

        mutating func add(_ t: TaskVectorStats.TensorStats) {
            for i in squares.indices { squares[i] += t.norms[i] * t.norms[i] }
            for k in dots.indices {
                dots[k] += t.dots[k]
                conflicts[k] += t.pairConflicts[k]
                both[k] += t.pairBothNonZero[k]
            }
            mixed += t.mixedSign
            multi += t.multiNonZero
        }

        var norms: [Double] { squares.map { $0.squareRoot() } }
        func cosine(_ k: Int, _ pair: (Int, Int)) -> Double {
            let d = norms[pair.0] * norms[pair.1]
            return d > 0 ? dots[k] / d : 0
        }
        func conflictShare(_ k: Int) -> Double { both[k] > 0 ? Double(conflicts[k]) / Double(both[k]) : 0 }
        var mixedShare: Double { multi > 0 ? Double(mixed) / Double(multi) : 0 }
    }

    func run() throws {
        let baseCheckpoint = try Checkpoint(path: base)
        let checkpoints = try models.map { try Checkpoint(path: $0) }
        // Numbers across architectures would be printed all the same (for the tensors whose names
        // and shapes happen to match), so say what they are.
        if let baseType = try ModelConfig.read(folder: baseCheckpoint.directory)?.modelType {
            for (name, checkpoint) in zip(models, checkpoints) {
                guard let type = try ModelConfig.read(folder: checkpoint.directory)?.modelType, type != baseType else { continue }
                FileHandle.standardError.write(Data(
                    "warning: \(name) is a \(type) model and \(base) a \(baseType) model: these are not task vectors of one base\n".utf8))
            }
        }
        let stats = try TaskVectorStats.compute(
            base: baseCheckpoint, baseName: base, models: checkpoints, names: models, threads: threads)
        guard !stats.tensors.isEmpty else {
            throw MergeError.input("no tensor is shared by \(base) and \(models.joined(separator: ", ")) with the same shape")
        }
        let m = models.count
        let pairs = TaskVectorStats.pairs(m)
        // Groups: per layer × kind, per layer, overall.
        var kinds: [String: Group] = [:], layers: [String: Group] = [:]
        var kindOrder: [String] = [], layerOrder: [String] = []
        var total = Group(label: "all", layer: nil, models: m)
        for t in stats.tensors {
            let layerLabel = t.layer.map { "layer \($0)" } ?? "outside layers"
            let kindKey = layerLabel + " / " + t.kind
            if kinds[kindKey] == nil { kinds[kindKey] = Group(label: kindKey, layer: t.layer, models: m); kindOrder.append(kindKey) }
            if layers[layerLabel] == nil { layers[layerLabel] = Group(label: layerLabel, layer: t.layer, models: m); layerOrder.append(layerLabel) }
            kinds[kindKey]!.add(t)
            layers[layerLabel]!.add(t)
            total.add(t)
        }
        func byLayer(_ a: String, _ b: String, _ groups: [String: Group]) -> Bool {
            (groups[a]!.layer ?? Int.max, a) < (groups[b]!.layer ?? Int.max, b)
        }
        kindOrder.sort { byLayer($0, $1, kinds) }
        layerOrder.sort { byLayer($0, $1, layers) }

        if json {
            func encode(_ g: Group) -> JSONValue {
                .object([
                    ("group", .string(g.label)),
                    ("layer", g.layer.map { .int($0) } ?? .null),
                    ("norms", .array(g.norms.map { .number(String($0)) })),
                    ("pairs", .array(pairs.enumerated().map { k, p in
                        .object([
                            ("a", .string(models[p.0])), ("b", .string(models[p.1])),
                            ("cosine", .number(String(g.cosine(k, p)))),
                            ("sign_conflicts", .number(String(g.conflictShare(k)))),
                        ])
                    })),
                    ("mixed_sign_share", .number(String(g.mixedShare))),
                ])
            }
            var members: [(String, JSONValue)] = [
                ("base", .string(base)), ("models", .array(models.map { .string($0) })),
                ("overall", encode(total)),
                ("layers", .array(layerOrder.map { encode(layers[$0]!) })),
                ("kinds", .array(kindOrder.map { encode(kinds[$0]!) })),
                ("skipped", .array(stats.skipped.map { .string($0) })),
            ]
            if perTensor {
                members.append(("tensors", .array(stats.tensors.map { t in
                    var g = Group(label: t.name, layer: t.layer, models: m)
                    g.add(t)
                    return encode(g)
                })))
            }
            print(JSONValue.object(members).serialized(indent: 2))
            return
        }
        print("task vectors against \(base):")
        for (i, name) in models.enumerated() { print("  [\(i + 1)] \(name)") }
        func right(_ s: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
        let normHeader = (1...m).map { right("‖δ\($0)‖", 8) }.joined()
        let pairHeader = pairs.map { right("cos\($0.0 + 1)\($0.1 + 1)", 8) + right("conf\($0.0 + 1)\($0.1 + 1)", 8) }.joined()
        print("")
        print("group".padding(toLength: 44, withPad: " ", startingAt: 0) + normHeader + pairHeader + (m > 2 ? right("mixed", 8) : ""))
        func row(_ g: Group) -> String {
            var s = g.label.padding(toLength: 44, withPad: " ", startingAt: 0)
            for v in g.norms { s += String(format: " %7.3f", v) }
            for (k, p) in pairs.enumerated() { s += String(format: "  %6.3f  %5.1f%%", g.cosine(k, p), 100 * g.conflictShare(k)) }
            if m > 2 { s += String(format: "  %5.1f%%", 100 * g.mixedShare) }
            return s
        }
        let rows = perTensor
            ? stats.tensors.map { t -> Group in
                var g = Group(label: t.name, layer: t.layer, models: m)
                g.add(t)
                return g
            }
            : kindOrder.map { kinds[$0]! }
        var lastLayer: String?
        for g in rows {
            let layer = g.layer.map { "layer \($0)" } ?? "outside layers"
            if layer != lastLayer, !perTensor, let l = layers[layer] {
                print(row(l))
                lastLayer = layer
            }
            var indented = g
            if !perTensor { indented.label = "    " + g.label.replacingOccurrences(of: layer + " / ", with: "") }
            print(row(indented))
        }
        print(row(total))
        print("\n‖δ‖: L2 norm of the task vector; cos: cosine between two task vectors; conf: share of elements where both")
        print("change and in opposite directions" + (m > 2 ? "; mixed: share of elements changed by 2+ models whose signs disagree." : "."))
        if !stats.skipped.isEmpty { print("skipped \(stats.skipped.count) tensors not comparable across all models") }
    }
}
