import Foundation
import TestScratch
import Testing

@testable import Checkpoints
@testable import Tensors

func temporaryDirectory(_ label: String = #function) -> URL { TestScratch.folder(label) }

/// Raw safetensors bytes: an 8-byte little-endian length, the header text, then `data`.
func rawSafetensors(header: String, data: [UInt8], declaredLength: UInt64? = nil) -> Data {
    let h = Array(header.utf8)
    var out = Data()
    var n = declaredLength ?? UInt64(h.count)
    withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
    out.append(contentsOf: h)
    out.append(contentsOf: data)
    return out
}

@Suite("safetensors reading and writing")
struct SafetensorsTests {
    @Test("Writer output reads back, with the safetensors library's layout")
    func roundTrip() throws {
        let dir = temporaryDirectory()
        let tensors = [
            PlannedTensor(name: "b.weight", dtype: .bf16, shape: [2, 3]),
            PlannedTensor(name: "a.weight", dtype: .f32, shape: [4]),
            PlannedTensor(name: "steps", dtype: .i64, shape: []),
        ]
        let writer = try ShardedWriter(directory: dir, tensors: tensors, maxShardSize: 0)
        let bf: [UInt16] = [1, 2, 3, 4, 5, 6]
        let f: [Float] = [1.5, -2, 0.25, 8]
        var step: Int64 = 42
        try bf.withUnsafeBytes { try writer.write("b.weight", byteOffset: 0, bytes: $0.baseAddress!, count: 12) }
        try f.withUnsafeBytes { try writer.write("a.weight", byteOffset: 8, bytes: $0.baseAddress! + 8, count: 8) }
        try f.withUnsafeBytes { try writer.write("a.weight", byteOffset: 0, bytes: $0.baseAddress!, count: 8) }
        try withUnsafeBytes(of: &step) { try writer.write("steps", byteOffset: 0, bytes: $0.baseAddress!, count: 8) }
        try writer.finish()
        #expect(writer.shardNames == ["model.safetensors"])
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.safetensors.index.json").path))

        let file = try SafetensorsFile(path: dir.appendingPathComponent("model.safetensors").path)
        #expect(file.metadata == ["format": "pt"])
        // Descending dtype order (I64, F32, BF16), as the safetensors library writes.
        #expect(file.tensors.map(\.name) == ["steps", "a.weight", "b.weight"])
        let a = try #require(file.info("a.weight"))
        #expect(a.shape == [4] && a.dtype == .f32)
        let values = (0..<4).map { file.data(a).load(fromByteOffset: $0 * 4, as: Float.self) }
        #expect(values == f)
        let headerLength = Int(file.file.bytes.load(as: UInt64.self))
        #expect(headerLength % 8 == 0)
        #expect(try #require(file.info("steps")).shape == [])
    }

    @Test("Shards follow mergekit's greedy rule, names and index")
    func sharding() throws {
        let dir = temporaryDirectory()
        let tensors = (0..<5).map { PlannedTensor(name: "t\($0)", dtype: .f32, shape: [10]) }  // 40 bytes each
        let writer = try ShardedWriter(directory: dir, tensors: tensors, maxShardSize: 100)
        let zeros = [UInt8](repeating: 7, count: 40)
        for t in tensors { try zeros.withUnsafeBytes { try writer.write(t.name, byteOffset: 0, bytes: $0.baseAddress!, count: 40) } }
        try writer.finish()
        #expect(writer.shardNames == ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"])
        let ckpt = try Checkpoint(path: dir.path)
        #expect(ckpt.files.map(\.tensors.count) == [2, 2, 1])
        #expect(Set(ckpt.names) == Set(tensors.map(\.name)))
        let index = try JSONValue.parse(String(contentsOf: dir.appendingPathComponent("model.safetensors.index.json"), encoding: .utf8))
        #expect(index["metadata"]?["total_size"]?.intValue == 200)
        #expect(index["weight_map"]?.objectValue?.map(\.0) == ["t0", "t1", "t2", "t3", "t4"])
    }

    @Test("Byte sizes use mergekit's decimal units")
    func byteSizes() {
        #expect(parseByteSize("5B") == 5_000_000_000)
        #expect(parseByteSize("5GB") == 5_000_000_000)
        #expect(parseByteSize("500M") == 500_000_000)
        #expect(parseByteSize("2GiB") == 2_147_483_648)
        #expect(parseByteSize("1000") == 1000)
        #expect(parseByteSize("lots") == nil)
    }
}

@Suite("Hostile checkpoints are refused with one clear error")
struct HostileInputTests {
    static let okHeader = #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#

    func expectCorrupt(_ bytes: Data, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let dir = temporaryDirectory()
        let path = dir.appendingPathComponent("model.safetensors").path
        try bytes.write(to: URL(fileURLWithPath: path))
        do {
            _ = try SafetensorsFile(path: path)
            Issue.record("accepted a bad file (\(fragment))", sourceLocation: sourceLocation)
        } catch let error as CheckpointError {
            #expect(error.description.contains(fragment), "\(error)", sourceLocation: sourceLocation)
            #expect(error.description.contains(path), sourceLocation: sourceLocation)
            #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
        }
    }

    @Test("A well-formed file is accepted (the baseline for the cases below)")
    func baseline() throws {
        let dir = temporaryDirectory()
        let path = dir.appendingPathComponent("model.safetensors")
        try rawSafetensors(header: Self.okHeader, data: [UInt8](repeating: 0, count: 8)).write(to: path)
        #expect(try SafetensorsFile(path: path.path).tensors.count == 1)
    }

    @Test func truncatedFile() throws {
        let full = rawSafetensors(header: Self.okHeader, data: [UInt8](repeating: 0, count: 8))
        try expectCorrupt(full.prefix(5), "truncated")
        try expectCorrupt(full.prefix(20), "truncated")
        try expectCorrupt(full.dropLast(3), "out of bounds")
    }

    @Test func hugeHeaderLength() throws {
        try expectCorrupt(rawSafetensors(header: Self.okHeader, data: [], declaredLength: 1 << 60), "exceeds")
    }

    @Test func headerNotJSON() throws {
        try expectCorrupt(rawSafetensors(header: "{not json at all}", data: []), "not valid JSON")
        try expectCorrupt(rawSafetensors(header: "[1,2]", data: []), "not a JSON object")
    }

    @Test func unknownDType() throws {
        try expectCorrupt(rawSafetensors(header: #"{"w":{"dtype":"Q4_K","shape":[2],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)), "unknown dtype 'Q4_K'")
    }

    @Test func overlappingRanges() throws {
        let h = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        try expectCorrupt(rawSafetensors(header: h, data: Array(repeating: 0, count: 12)), "overlaps")
    }

    @Test func outOfBoundsRange() throws {
        let h = #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#
        try expectCorrupt(rawSafetensors(header: h, data: Array(repeating: 0, count: 8)), "out of bounds")
    }

    @Test func shapeDisagreesWithRange() throws {
        let h = #"{"a":{"dtype":"BF16","shape":[3],"data_offsets":[0,8]}}"#
        try expectCorrupt(rawSafetensors(header: h, data: Array(repeating: 0, count: 8)), "needs 6 bytes")
    }

    @Test func gapsAndTrailingBytes() throws {
        let h = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        try expectCorrupt(rawSafetensors(header: h, data: Array(repeating: 0, count: 8)), "gap")
        try expectCorrupt(rawSafetensors(header: Self.okHeader, data: Array(repeating: 0, count: 12)), "after the last tensor")
    }

    @Test("An index that points outside the model folder is refused")
    func indexEscapes() throws {
        let dir = temporaryDirectory()
        let index = #"{"metadata":{},"weight_map":{"w":"../../etc/passwd"}}"#
        try Data(index.utf8).write(to: dir.appendingPathComponent("model.safetensors.index.json"))
        #expect {
            _ = try Checkpoint(path: dir.path)
        } throws: { error in
            guard let e = error as? CheckpointError else { return false }
            return e.code == .unsafePath && e.description.contains("../../etc/passwd")
        }
    }

    @Test("A missing shard is named")
    func missingShard() throws {
        let dir = temporaryDirectory()
        let index = #"{"metadata":{},"weight_map":{"w":"model-00001-of-00002.safetensors"}}"#
        try Data(index.utf8).write(to: dir.appendingPathComponent("model.safetensors.index.json"))
        #expect {
            _ = try Checkpoint(path: dir.path)
        } throws: { error in
            (error as? CheckpointError)?.description.contains("model-00001-of-00002.safetensors") == true
        }
    }

    @Test("A shard holding tensors the index does not give it is refused")
    func indexDisagrees() throws {
        let dir = temporaryDirectory()
        try rawSafetensors(header: Self.okHeader, data: Array(repeating: 0, count: 8))
            .write(to: dir.appendingPathComponent("model-00001-of-00001.safetensors"))
        let index = #"{"weight_map":{"v":"model-00001-of-00001.safetensors"}}"#
        try Data(index.utf8).write(to: dir.appendingPathComponent("model.safetensors.index.json"))
        #expect(throws: CheckpointError.self) { _ = try Checkpoint(path: dir.path) }
    }
}
