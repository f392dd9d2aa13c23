import Checkpoints
import Foundation
import Merging
import Tensors
import Testing

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let fixtures = repositoryRoot.appendingPathComponent("fixtures")

func temporaryDirectory(_ label: String = #function) -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("mixmerge-tests-\(label.filter(\.isLetter))-\(UUID().uuidString.prefix(8))")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

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

/// The spacing of `dtype` at magnitude `x`: 2^(floor(log2 x) − mantissa bits).
func ulp(at x: Float, _ dtype: DType) -> Float {
    let mantissa: Float = dtype == .bf16 ? 7 : dtype == .f16 ? 10 : 23
    guard x > 0 else { return .leastNormalMagnitude }
    return Float(pow(2.0, Double(Int(floor(log2(Double(x)))) - Int(mantissa))))
}

enum Tolerance {
    case bitExact
    /// |a − b| ≤ n ulp of the output dtype at the tensor's largest magnitude.
    case ulpAtAbsMax(Float)
    /// |a − b| ≤ n ulp of the value (magnitudes floored at absmax·2⁻⁸).
    case ulpOfValue(Float)
}

/// Compares two model folders tensor by tensor; returns one line per failing tensor.
func compare(_ actual: URL, _ expected: URL, _ tolerance: (DType) -> Tolerance) throws -> [String] {
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
        let dtype = y.info.dtype
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
