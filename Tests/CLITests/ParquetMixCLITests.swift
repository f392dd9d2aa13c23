import Foundation
import Testing

@Suite("mix from Parquet shards")
struct ParquetMixCLITests {
    @Test("the paper's mixtures from the hub layout (split:, Parquet shards) equal the same mix from the JSONL files")
    func parquetEqualsJSONL() throws {
        let dir = scratch()
        let paper = try String(contentsOf: repositoryRoot.appendingPathComponent("examples/mix-paper.yml"), encoding: .utf8)
        let data = repositoryRoot.appendingPathComponent("examples/data").path
        let hub = fixtures.appendingPathComponent("parquet/hub").path
        let jsonlConfig = paper.replacingOccurrences(of: "path: data/", with: "path: \(data)/")
        let parquetConfig = paper
            .replacingOccurrences(of: "path: data/safety.jsonl", with: "path: \(hub)\n    split: safety")
            .replacingOccurrences(of: "path: data/general.jsonl", with: "path: \(hub)/data/general-*.parquet")
        #expect(parquetConfig != jsonlConfig)
        try jsonlConfig.write(to: dir.appendingPathComponent("jsonl.yml"), atomically: true, encoding: .utf8)
        try parquetConfig.write(to: dir.appendingPathComponent("parquet.yml"), atomically: true, encoding: .utf8)
        let a = try mixmerge(["mix", dir.appendingPathComponent("jsonl.yml").path, dir.appendingPathComponent("a").path, "--quiet"])
        let b = try mixmerge(["mix", dir.appendingPathComponent("parquet.yml").path, dir.appendingPathComponent("b").path, "--quiet"])
        #expect(a.status == 0, "\(a.stderr)")
        #expect(b.status == 0, "\(b.stderr)")
        let mixtures = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("a").path).filter { !$0.hasPrefix(".") }
        #expect(mixtures.count >= 3)
        for m in mixtures {
            for f in ["train.sft.jsonl", "train.dpo.jsonl", "held_out.sft.jsonl"] {
                let x = try Data(contentsOf: dir.appendingPathComponent("a/\(m)/\(f)"))
                let y = try Data(contentsOf: dir.appendingPathComponent("b/\(m)/\(f)"))
                #expect(x == y, "\(m)/\(f)")
            }
        }
        // The manifest hashes the Parquet shards themselves, not their conversion.
        let manifest = try String(contentsOf: dir.appendingPathComponent("b/\(mixtures[0])/manifest.json"), encoding: .utf8)
        #expect(!manifest.contains(try sha256Hex(repositoryRoot.appendingPathComponent("examples/data/safety.jsonl"))))
    }
}

func sha256Hex(_ url: URL) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    p.arguments = [url.path]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    p.waitUntilExit()
    return String(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).prefix(64))
}
