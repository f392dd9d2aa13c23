import Checkpoints
import Foundation
import Testing

/// `fixtures/` of the repository (three folders up from this file).
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("fixtures")

/// A float32 little-endian C-order `.npy` array.
struct NPYArray {
    let shape: [Int]
    let values: [Float]

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(contentsOf url: URL) throws {
        let data = try Data(contentsOf: url)
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw Failure(description: "\(url.path): not an .npy file")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        if major == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        } else {
            guard bytes.count >= 12 else { throw Failure(description: "\(url.path): truncated header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        }
        guard headerStart + headerLength <= bytes.count,
            let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: .ascii)
        else { throw Failure(description: "\(url.path): bad header") }
        guard header.contains("'descr': '<f4'") else {
            throw Failure(description: "\(url.path): not float32 LE: \(header)")
        }
        guard header.contains("'fortran_order': False") else {
            throw Failure(description: "\(url.path): Fortran order")
        }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")")
        else {
            throw Failure(description: "\(url.path): no shape")
        }
        let dims = header[open.upperBound..<close].split(separator: ",").compactMap {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        shape = dims
        let count = dims.reduce(1, *)
        let start = headerStart + headerLength
        guard bytes.count - start == count * 4 else { throw Failure(description: "\(url.path): data size mismatch") }
        var values = [Float](repeating: 0, count: count)
        for i in 0..<count {
            let o = start + 4 * i
            let low = UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8
            let bits = low | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
            values[i] = Float(bitPattern: bits)
        }
        self.values = values
    }
}

/// One `fixtures/inference/<name>/case.json`.
struct InferenceCase {
    struct Sequence {
        let inputIds: [Int]
        let logitsFile: String
        let greedyNewTokens: [Int]
        let argmaxPerPosition: [Int]
    }

    let name: String
    let folder: URL
    let modelFolder: URL
    let sequences: [Sequence]

    init(_ name: String) throws {
        folder = fixtures.appendingPathComponent("inference/\(name)")
        self.name = name
        let json = try JSONValue.parse(String(contentsOf: folder.appendingPathComponent("case.json"), encoding: .utf8))
        let model = try #require(json["model"]?.stringValue)
        modelFolder = folder.appendingPathComponent(model).standardizedFileURL
        let items = try #require(json["sequences"]?.arrayValue)
        sequences = try items.map { item in
            func ints(_ key: String) throws -> [Int] { try #require(item[key]?.arrayValue).compactMap(\.intValue) }
            return Sequence(
                inputIds: try ints("input_ids"), logitsFile: try #require(item["logits_file"]?.stringValue),
                greedyNewTokens: try ints("greedy_new_tokens"), argmaxPerPosition: try ints("argmax_per_position"))
        }
    }

    static let all = [
        "llama-base", "llama3rope-base", "mistral-base", "qwen2-base", "cohere-base", "cohere-ft1",
        "cohere_qknorm-base", "gemma2-base", "cohere2-base",
    ]
}

/// max |a − b| over two equally long arrays.
func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

func maxAbs(_ a: [Float]) -> Float { a.reduce(0) { max($0, abs($1)) } }
