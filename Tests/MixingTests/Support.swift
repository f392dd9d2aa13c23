import Foundation
import Mixing
import TestScratch
import Testing

/// A scratch folder with generated source files and a mixture file.
struct Scratch {
    let dir: URL

    init() throws {
        dir = TestScratch.folder("mix")
    }

    func write(_ name: String, _ text: String) throws -> String {
        let url = dir.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    /// A preference/SFT source: `perLanguage[lang]` groups, each group one record per listed language
    /// when `parallel` (translations sharing a source id), else independent records.
    func source(_ name: String, objective: String, counts: [String: Int], seed: Int = 0, charsJitter: Bool = false) throws -> String {
        var lines: [String] = []
        for (lang, n) in counts.sorted(by: { $0.key < $1.key }) {
            for i in 0..<n {
                let pad = charsJitter ? String(repeating: "x", count: (i * 37 + seed) % 50) : ""
                let row: [String: Any] = [
                    "prompt": "\(objective) prompt \(i) in \(lang) \(pad)", "chosen": "good \(i) \(pad)", "rejected": "bad \(i)",
                    "language": lang, "source_id": "\(objective)-\(i % max(1, n / 2))",
                ]
                lines.append(String(decoding: try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys]), as: UTF8.self))
            }
        }
        return try write(name, lines.joined(separator: "\n") + "\n")
    }

    func run(_ yaml: String, seed: UInt64? = nil, threads: Int = 2, skipInvalid: Bool = false, out: String = "out") throws -> (MixSummary, URL) {
        let config = try write("mix-\(UUID().uuidString.prefix(6)).yml", yaml)
        let output = dir.appendingPathComponent(out)
        let summary = try Mixer.run(
            configPath: config, output: output,
            options: MixOptions(threads: threads, overwrite: true, skipInvalid: skipInvalid, seed: seed))
        return (summary, output)
    }
}

func jsonLines(_ url: URL) throws -> [[String: Any]] {
    let text = try String(contentsOf: url, encoding: .utf8)
    return try text.split(separator: "\n").map {
        try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
}

func manifest(_ url: URL) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url.appendingPathComponent("manifest.json"))) as? [String: Any])
}

/// Count of train records per (objective, language) from the meta sidecar.
func cellCounts(_ folder: URL, side: String = "train") throws -> [String: Int] {
    var out: [String: Int] = [:]
    for m in try jsonLines(folder.appendingPathComponent("\(side).meta.jsonl")) {
        out["\(m["objective"]!)/\(m["language"]!)", default: 0] += 1
    }
    return out
}
