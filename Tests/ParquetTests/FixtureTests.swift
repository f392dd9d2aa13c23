import Foundation
import Testing
import TestScratch
@testable import Parquet

/// Every fixture decoded and compared record by record with what pyarrow read from it.
@Suite struct FixtureTests {
    static let files: [String] = (try? Fixtures.dataFiles()) ?? []

    @Test func fixturesArePresent() {
        #expect(Self.files.count >= 15)
    }

    @Test(arguments: files)
    func recordsMatchPyarrow(_ name: String) throws {
        let file = try ParquetFile(path: Fixtures.path(name))
        let expected = try Fixtures.reference(for: name)
        #expect(file.numRows == expected.count)
        var rows = try file.rows()
        var index = 0
        while let record = try rows.next() {
            try #require(index < expected.count, "more records than pyarrow read")
            let got = try JSON.parse(record.jsonText())
            #expect(got == expected[index], "\(name) record \(index)")
            index += 1
        }
        #expect(index == expected.count)
    }

    @Test(arguments: files)
    func projectionKeepsSchemaOrderAndValues(_ name: String) throws {
        let file = try ParquetFile(path: Fixtures.path(name))
        let expected = try Fixtures.reference(for: name)
        let names = file.fieldNames
        // Every other field, asked for in reverse order: comes back in schema order.
        let wanted = names.enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
        var index = 0
        try file.forEachRecord(columns: wanted.reversed()) { record in
            #expect(record.fields.map(\.name) == wanted)
            guard case .object(let all) = expected[index] else {
                Issue.record("reference record is not an object")
                return
            }
            let want = JSON.object(all.filter { wanted.contains($0.0) })
            let got = try JSON.parse(record.jsonText())
            #expect(got == want, "\(name) record \(index)")
            index += 1
        }
        #expect(index == expected.count)
    }

    @Test(arguments: files)
    func directJSONEqualsTheValuesJSON(_ name: String) throws {
        let file = try ParquetFile(path: Fixtures.path(name))
        let names = file.fieldNames
        for columns in [nil, Array(names.enumerated().filter { $0.offset % 2 == 0 }.map(\.element))] {
            for g in file.rowGroups.indices {
                var want: [UInt8] = []
                var wantLengths: [Int] = []
                for record in try file.readRowGroup(g, columns: columns) {
                    let start = want.count
                    record.appendJSON(to: &want)
                    wantLengths.append(want.count - start)
                }
                var got: [UInt8] = [0x21]  // appends after what is there
                var lengths: [Int] = [7]
                try file.appendJSON(rowGroup: g, columns: columns, into: &got, lengths: &lengths)
                #expect(got == [0x21] + want, "\(name) row group \(g) columns \(columns ?? names)")
                #expect(lengths == [7] + wantLengths)
            }
        }
    }

    @Test func rowGroupsAreReadOneAtATime() throws {
        let file = try ParquetFile(path: Fixtures.path("ultrafeedback.snappy-v1.parquet"))
        let expected = try Fixtures.reference(for: "ultrafeedback.snappy-v1.parquet")
        #expect(file.rowGroups.count == 4)
        #expect(file.fieldNames == ["prompt", "prompt_id", "chosen", "rejected", "messages", "score_chosen",
                                    "score_rejected"])
        var offset = 0
        for g in file.rowGroups.indices {
            let records = try file.readRowGroup(g, columns: ["chosen"])
            #expect(records.count == Int(file.rowGroups[g].numRows))
            for (k, record) in records.enumerated() {
                guard case .object(let all) = expected[offset + k], let chosen = all.first(where: { $0.0 == "chosen" })
                else {
                    Issue.record("reference lacks chosen")
                    return
                }
                #expect(try JSON.parse(record.jsonText()) == .object([chosen]))
            }
            offset += records.count
        }
        #expect(offset == expected.count)
    }

    @Test func writeJSONLinesMatchesReference() throws {
        let folder = TestScratch.folder("jsonl")
        let output = folder.appendingPathComponent("aya.jsonl").path
        let file = try ParquetFile(path: Fixtures.path("aya.gzip-v1.parquet"))
        try file.writeJSONLines(to: output)
        let written = try String(contentsOfFile: output, encoding: .utf8)
        #expect(written.hasSuffix("\n"))
        let lines = written.split(separator: "\n").map(String.init)
        let expected = try Fixtures.reference(for: "aya.gzip-v1.parquet")
        #expect(lines.count == expected.count)
        for (line, want) in zip(lines, expected) { #expect(try JSON.parse(line) == want) }
        // A failed conversion leaves nothing behind.
        let broken = try ParquetFile(path: Fixtures.path("hostile-dict-index.parquet"))
        let target = folder.appendingPathComponent("broken.jsonl").path
        #expect(throws: ParquetError.self) { try broken.writeJSONLines(to: target) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["aya.jsonl"])
    }

    @Test func valuesHaveTheDocumentedCases() throws {
        let file = try ParquetFile(path: Fixtures.path("aya.plain-v2.parquet"))
        var rows = try file.rows(columns: ["harm_category", "is_harmful", "id"])
        let first = try #require(try rows.next())
        #expect(first.fields.map(\.name) == ["harm_category", "is_harmful", "id"])
        if case .int = try #require(first["id"]) {} else { Issue.record("id is not an int") }
        switch try #require(first["harm_category"]) {
        case .list(let items):
            #expect(items.allSatisfy { if case .string = $0 { true } else if case .null = $0 { true } else { false } })
        case .null: break
        default: Issue.record("harm_category is neither a list nor null")
        }
    }

    @Test func unknownColumnIsANamedError() throws {
        let path = Fixtures.path("dolly.zstd.parquet")
        let file = try ParquetFile(path: path)
        let error = try #require(throws: ParquetError.self) { _ = try file.rows(columns: ["inputs", "nope"]) }
        #expect(error.code == .notFound)
        #expect(error.description.hasPrefix(path + ": "))
        #expect(error.description.contains("nope"))
    }
}
