import Checkpoints
import Foundation
import Merging
import Tensors
import TestScratch
import Testing

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let fixtures = repositoryRoot.appendingPathComponent("fixtures")

func temporaryDirectory(_ label: String = #function) -> URL { TestScratch.folder(label) }

/// Plans the config of a fixture case (model paths are relative to the case folder).
func planCase(_ folder: URL, configText: String? = nil) throws -> MergePlan {
    let text = try configText ?? String(contentsOf: folder.appendingPathComponent("config.yml"), encoding: .utf8)
    let config = try ConfigParser(fileName: "config.yml").parse(text)
    return try Planner(searchDirectories: [folder]).plan(config)
}

/// Merges a config text written against the fixture models (paths relative to `fixtures/merges/x`).
func merge(_ yaml: String, threads: Int = 2, shardSize: Int64 = 0) throws -> URL {
    let plan = try planCase(fixtures.appendingPathComponent("merges/llama-linear-b"), configText: yaml)
    let out = temporaryDirectory().appendingPathComponent("out")
    _ = try Merger.run(plan, output: out, options: MergeOptions(threads: threads, outShardSize: shardSize))
    return out
}

/// A tensor's values as Float plus its raw bytes.
struct LoadedTensor {
    let info: TensorInfo
    let values: [Float]
    let bytes: [UInt8]
}

func loadTensors(_ folder: URL) throws -> [String: LoadedTensor] {
    let checkpoint = try Checkpoint(path: folder.path)
    var out: [String: LoadedTensor] = [:]
    for name in checkpoint.names {
        let loc = checkpoint.location(name)!
        let bytes = [UInt8](UnsafeRawBufferPointer(start: loc.data, count: loc.info.byteCount))
        var values = [Float](repeating: 0, count: loc.info.count)
        if loc.info.dtype.isComputed {
            values.withUnsafeMutableBufferPointer { Convert.widen(loc.data, loc.info.dtype, count: loc.info.count, into: $0.baseAddress!) }
        }
        out[name] = LoadedTensor(info: loc.info, values: values, bytes: bytes)
    }
    return out
}

func mantissaBits(_ dtype: DType) -> Int { dtype == .bf16 ? 7 : dtype == .f16 ? 10 : 23 }

/// The dtype with the fewest mantissa bits.
func coarsest(_ dtypes: [DType]) -> DType { dtypes.min { mantissaBits($0) < mantissaBits($1) }! }

/// The spacing of `dtype` at magnitude `x`: 2^(floor(log2 x) − mantissa bits).
func ulp(at x: Float, _ dtype: DType) -> Float {
    let mantissa = Float(mantissaBits(dtype))
    guard x > 0 else { return .leastNormalMagnitude }
    return Float(pow(2.0, Double(Int(floor(log2(Double(x)))) - Int(mantissa))))
}

/// The same bits, or NaN on both sides whatever the payload (mergekit's NaNs often come from
/// SLEEF's all-ones NaN: 0xFFFF in float16, against the 0xFE00 of a plain 0/0).
func sameOrBothNaN(_ a: Float, _ b: Float) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }

enum Tolerance {
    case bitExact
    /// |a − b| ≤ n ulp of the output dtype at the tensor's largest magnitude.
    case ulpAtAbsMax(Float)
    /// |a − b| ≤ n ulp of the value (magnitudes floored at absmax·2⁻⁸).
    case ulpOfValue(Float)
}

/// Compares two model folders tensor by tensor; returns one line per failing tensor. Ulps are those
/// of the stored dtype, or of `computeDType` when it is coarser (a float16 merge written as float32).
func compare(_ actual: URL, _ expected: URL, computeDType: DType? = nil, _ tolerance: (DType) -> Tolerance) throws -> [String] {
    let a = try loadTensors(actual), e = try loadTensors(expected)
    var problems: [String] = []
    if Set(a.keys) != Set(e.keys) {
        problems.append("tensor names differ: extra \(Set(a.keys).subtracting(e.keys).sorted()), missing \(Set(e.keys).subtracting(a.keys).sorted())")
    }
    for (name, x) in a {
        guard let y = e[name] else { continue }
        guard x.info.dtype == y.info.dtype, x.info.shape == y.info.shape else {
            problems.append("\(name): \(x.info.dtype) \(x.info.shape) vs expected \(y.info.dtype) \(y.info.shape)")
            continue
        }
        if x.bytes == y.bytes { continue }
        if zip(x.values, y.values).allSatisfy(sameOrBothNaN) { continue }
        let dtype = coarsest([y.info.dtype] + (computeDType.map { [$0] } ?? []))
        let absmax = y.values.reduce(Float(0)) { max($0, abs($1)) }
        switch tolerance(dtype) {
        case .bitExact:
            let n = zip(x.bytes, y.bytes).filter { $0 != $1 }.count
            problems.append("\(name): not bit-exact (\(n) bytes differ)")
        case .ulpAtAbsMax(let k):
            let limit = k * ulp(at: absmax, dtype)
            let worst = zip(x.values, y.values).map { abs($0 - $1) }.max() ?? 0
            if !(worst <= limit) { problems.append("\(name): max diff \(worst) > \(k) ulp@absmax (\(limit))") }
        case .ulpOfValue(let k):
            for (p, q) in zip(x.values, y.values) where p != q {
                let limit = k * ulp(at: max(abs(q), absmax / 256), dtype)
                if !(abs(p - q) <= limit) {
                    problems.append("\(name): \(p) vs expected \(q) is more than \(k) ulp apart")
                    break
                }
            }
        }
    }
    return problems
}

/// Bit-exact except for at most max(`atLeast`, `share`·n) elements per tensor.
func compareFewDiffer(_ actual: URL, _ expected: URL, share: Double, atLeast: Int) throws -> [String] {
    let a = try loadTensors(actual), e = try loadTensors(expected)
    var problems: [String] = []
    if Set(a.keys) != Set(e.keys) { problems.append("tensor names differ") }
    for (name, x) in a {
        guard let y = e[name] else { continue }
        guard x.info.dtype == y.info.dtype, x.info.shape == y.info.shape else {
            problems.append("\(name): dtype/shape differ")
            continue
        }
        let differing = zip(x.values, y.values).filter { !sameOrBothNaN($0, $1) }.count
        if differing > max(atLeast, Int(share * Double(x.values.count))) {
            problems.append("\(name): \(differing)/\(x.values.count) elements differ")
        }
    }
    return problems
}

/// For TIES and breadcrumbs on bf16/f16 deltas: every element that differs from mergekit's must sit
/// where some input's |δ| equals a magnitude at that input's selection boundary (where mergekit's
/// choice among equal magnitudes is arbitrary). Boundaries are found here by plain sorting.
enum TieBoundaryCheck {
    static func compare(_ actual: URL, _ expected: URL, _ plan: MergePlan) throws -> [String] {
        try differingTensors(actual, expected, plan) { task, x, y, values, b in
            let d = task.computeDType
            var boundaries: [(Int, Set<Float>)] = []
            for j in task.nonBase {
                let mags = (0..<task.count).map { Rounding.round(values[j][$0] - values[b][$0], to: d).magnitude }
                let sorted = mags.sorted()
                let n = task.count
                let density = task.number("density", input: j) ?? 1
                guard density < 1 else { continue }
                var set = Set<Float>()
                if plan.method.name.hasPrefix("breadcrumbs") {
                    let target = Int(density * Double(n)), top = Int((task.number("gamma", input: j) ?? 0.01) * Double(n))
                    let bottom = max(0, n - target - top)
                    if target > 0 { set = [sorted[bottom], sorted[bottom + target - 1]] }
                    if bottom > 0 { set.insert(sorted[bottom - 1]) }
                    if bottom + target < n { set.insert(sorted[bottom + target]) }
                } else {
                    let k = max(1, Int(density * Double(n)))
                    set = [sorted[n - k]]
                }
                boundaries.append((j, set))
            }
            var outside = 0, differing = 0
            for i in 0..<task.count where x.values[i].bitPattern != y.values[i].bitPattern {
                differing += 1
                let atBoundary = boundaries.contains { j, set in
                    set.contains(Rounding.round(values[j][i] - values[b][i], to: d).magnitude)
                }
                if !atBoundary { outside += 1 }
            }
            return outside > 0 ? "\(task.outputName): \(outside) of \(differing) differing elements are not at a tied selection boundary" : nil
        }
    }
}

/// For each planned tensor whose bytes differ between two outputs: `body(task, ours, expected,
/// every input's values in the compute dtype, the base's index)` returns a problem or nil.
func differingTensors(
    _ actual: URL, _ expected: URL, _ plan: MergePlan,
    _ body: (TensorTask, LoadedTensor, LoadedTensor, [[Float]], Int) -> String?
) throws -> [String] {
    let a = try loadTensors(actual), e = try loadTensors(expected)
    var problems: [String] = []
    if Set(a.keys) != Set(e.keys) { problems.append("tensor names differ") }
    for task in plan.tasks {
        guard let x = a[task.outputName], let y = e[task.outputName] else { continue }
        if x.bytes == y.bytes { continue }
        let values = task.inputs.map { input -> [Float] in
            var v = [Float](repeating: 0, count: task.count)
            v.withUnsafeMutableBufferPointer { Convert.widen(input.location.data, input.dtype, count: task.count, into: $0.baseAddress!) }
            return v.map { Rounding.round($0, to: task.computeDType) }
        }
        guard let b = task.baseIndex else { problems.append("\(task.outputName): no base"); continue }
        if let problem = body(task, x, y, values, b) { problems.append(problem) }
    }
    return problems
}

/// For sce with `select_topk` on bf16/f16 deltas: the variances have many equal values and
/// mergekit's `topk` keeps an arbitrary subset of those equal to the boundary variance. An element
/// whose variance is at the boundary may differ arbitrarily; every other element within
/// `ulps` ulp@absmax of the coarsest stored input (the kept subset moves the per-model mean squares,
/// hence every output a little). Replaying mergekit with a `topk` that keeps the later of equal
/// variances (ours) leaves ≤ 1 ulp float32 differences on `tools/fuzz_merges.py` seed 3's cases.
enum SCETieCheck {
    static func compare(_ actual: URL, _ expected: URL, _ plan: MergePlan, ulps: Float) throws -> [String] {
        let topk = plan.tasks.first?.number("select_topk") ?? 1
        return try differingTensors(actual, expected, plan) { task, x, y, values, b in
            let d = task.computeDType
            let variance = (0..<task.count).map { i -> Float in
                let deltas = task.nonBase.map { Double(Rounding.round(values[$0][i] - values[b][i], to: d)) }
                let mean = deltas.reduce(0, +) / Double(deltas.count)
                return Rounding.round(Float(deltas.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(deltas.count)), to: d)
            }
            let k = Int(Double(variance.filter { $0 != 0 }.count) * topk)
            let boundary: Float? = k > 0 ? variance.sorted(by: >)[k - 1] : nil
            let absmax = y.values.reduce(Float(0)) { max($0, abs($1)) }
            // The tied subset moves each model's mean square by about the inputs' precision: ulps
            // are those of the coarsest stored input (float32 merges of bf16 checkpoints too).
            let limit = ulps * ulp(at: absmax, coarsest([y.info.dtype] + task.inputs.map(\.dtype)))
            var outside = 0, tied = 0
            for i in 0..<task.count where x.values[i] != y.values[i] {
                if variance[i] == boundary { tied += 1 } else if !(abs(x.values[i] - y.values[i]) <= limit) { outside += 1 }
            }
            return outside > 0 ? "\(task.outputName): \(outside) elements off by more than \(ulps) ulp@absmax away from the boundary variance (\(tied) differ at it)" : nil
        }
    }
}
