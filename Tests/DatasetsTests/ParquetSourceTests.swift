import Datasets
import Foundation
import TestScratch
import Testing

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let parquet = root.appendingPathComponent("fixtures/parquet")

/// A record as a JSON value, for comparisons that ignore formatting (pyarrow wrote the referees with
/// `json.dumps`; the conversion writes compact JSON).
private func value(_ bytes: some Collection<UInt8>) throws -> NSObject {
    try #require(try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) as? NSObject)
}

@Suite("Parquet files, folders, globs and hub splits as data sources")
struct ParquetSourceTests {
    @Test("a Parquet file's records equal pyarrow's rows of it, and errors name file:row",
          arguments: ["ultrafeedback.snappy-v1", "ultrafeedback.zstd-v2", "aya.gzip-v1", "dolly.zstd", "nested.snappy-v1"])
    func records(_ name: String) throws {
        let file = try RecordFile(source: parquet.appendingPathComponent("\(name).parquet").path)
        let table = String(name.prefix { $0 != "." })
        let reference = try String(contentsOf: parquet.appendingPathComponent("\(table).jsonl"), encoding: .utf8)
            .split(separator: "\n").filter { !$0.isEmpty }
        #expect(file.spans.count == reference.count)
        #expect(file.locationWord == "row")
        var buffer: [UInt8] = []
        for (i, line) in reference.enumerated() where i < file.spans.count {
            let mine = try file.withRecordBytes(i, buffer: &buffer) { try value($0) }
            #expect(mine == (try value(Array(line.utf8))), "\(name) row \(i + 1)")
        }
        #expect(file.location(1).hasSuffix("\(name).parquet:2"))
    }

    @Test("columns: only the named fields are decoded, the others are absent; the rest equal pyarrow's")
    func projection() throws {
        let path = parquet.appendingPathComponent("ultrafeedback.snappy-v1.parquet").path
        let all = try RecordFile(source: path)
        let some = try RecordFile(source: path, columns: ["chosen", "prompt", "no_such_field"])
        #expect(some.spans.count == all.spans.count)
        var a: [UInt8] = [], b: [UInt8] = []
        for i in all.spans.indices {
            let full = try #require(try all.withRecordBytes(i, buffer: &a) { try value($0) } as? [String: NSObject])
            let part = try #require(try some.withRecordBytes(i, buffer: &b) { try value($0) } as? [String: NSObject])
            #expect(Set(part.keys) == ["prompt", "chosen"], "row \(i + 1)")
            #expect(part["prompt"] == full["prompt"] && part["chosen"] == full["chosen"], "row \(i + 1)")
        }
    }

    @Test("a hub folder with split: only that split's shards, in name order; records name their shard")
    func hubSplit() throws {
        let folder = parquet.appendingPathComponent("hub").path
        let safety = try RecordFile(source: folder, split: "safety")
        #expect(safety.sourceFiles.map { URL(fileURLWithPath: $0).lastPathComponent }
            == ["safety-00000-of-00002.parquet", "safety-00001-of-00002.parquet"])
        #expect(safety.spans.count == 144)
        #expect(safety.location(72).hasSuffix("safety-00001-of-00002.parquet:1"))
        let jsonl = try RecordFile(path: root.appendingPathComponent("examples/data/safety.jsonl").path)
        var a: [UInt8] = [], b: [UInt8] = []
        for i in [0, 71, 72, 143] {
            #expect(try safety.withRecordBytes(i, buffer: &a) { try value($0) } == (try jsonl.withRecordBytes(i, buffer: &b) { try value($0) }))
        }
        let glob = try RecordFile(source: folder + "/data/general-*.parquet")
        #expect(glob.spans.count == 360)
        #expect(throws: RecordFileError.self) { try RecordFile(source: folder, split: "test_prefs") }
        #expect(throws: RecordFileError.self) { try RecordFile(source: folder + "/data/nothing-*.parquet") }
    }

    @Test("a folder mixing JSONL and Parquet files reads both; a corrupt Parquet file is one error naming it")
    func mixedFolder() throws {
        let dir = TestScratch.folder("mixedFolder")
        try FileManager.default.copyItem(at: parquet.appendingPathComponent("aya.plain-v2.parquet"), to: dir.appendingPathComponent("a.parquet"))
        try FileManager.default.copyItem(at: parquet.appendingPathComponent("aya.jsonl"), to: dir.appendingPathComponent("b.jsonl"))
        let both = try RecordFile(source: dir.path)
        let rows = try String(contentsOf: parquet.appendingPathComponent("aya.jsonl"), encoding: .utf8).split(separator: "\n").count
        #expect(both.spans.count == 2 * rows)
        #expect(both.origins.map(\.word) == ["row", "line"])
        let bad = dir.appendingPathComponent("c.parquet")
        try Data("PAR1 not really".utf8).write(to: bad)
        do {
            _ = try RecordFile(source: dir.path)
            Issue.record("a corrupt file was read")
        } catch {
            #expect(error.description.contains("c.parquet"))
            #expect(!error.description.contains("\n"))
        }
    }
}
