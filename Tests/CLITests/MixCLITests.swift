import Foundation
import Testing

@Suite("mixmerge mix command line")
struct MixCLITests {
    @Test("mix: the paper's example mixture file, from the repository root")
    func paperExample() throws {
        let out = scratch().appendingPathComponent("mixtures")
        let r = try mixmerge(["mix", "examples/mix-paper.yml", out.path, "--json", "--threads", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let mixtures = try #require(summary["mixtures"] as? [[String: Any]])
        #expect(mixtures.map { $0["name"] as! String }.contains("safety-15"))
        for name in ["safety-0", "safety-15", "safety-100", "mono-ru-15"] {
            for file in ["train.sft.jsonl", "train.dpo.jsonl", "train.dpo-implicit.jsonl", "train.meta.jsonl", "manifest.json"] {
                #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("\(name)/\(file)").path), "\(name)/\(file)")
            }
        }
        // Same seed, same bytes; --seed changes them.
        let again = scratch().appendingPathComponent("again")
        #expect(try mixmerge(["mix", "examples/mix-paper.yml", again.path, "--quiet"]).status == 0)
        let reseeded = scratch().appendingPathComponent("reseeded")
        #expect(try mixmerge(["mix", "examples/mix-paper.yml", reseeded.path, "--quiet", "--seed", "7"]).status == 0)
        let a = try Data(contentsOf: out.appendingPathComponent("safety-15/train.sft.jsonl"))
        #expect(a == (try Data(contentsOf: again.appendingPathComponent("safety-15/train.sft.jsonl"))))
        #expect(a != (try Data(contentsOf: reseeded.appendingPathComponent("safety-15/train.sft.jsonl"))))
    }

    @Test("mix: a bad record is one line naming file and line, exit 1, and nothing is left behind")
    func badRecord() throws {
        let dir = scratch()
        try Data(("{\"prompt\": \"a\", \"completion\": \"b\", \"language\": \"en\"}\n" + "{\"prompt\": \"a\", \n").utf8)
            .write(to: dir.appendingPathComponent("d.jsonl"))
        try Data("sources: [{name: d, path: d.jsonl, objective: g}]\nmixtures: [{name: m, shares: {g: 1}}]\n".utf8)
            .write(to: dir.appendingPathComponent("mix.yml"))
        let r = try mixmerge(["mix", "mix.yml", "out"], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("error: d.jsonl:2: malformed JSON"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(left == ["d.jsonl", "mix.yml"])
    }

    @Test("mix: a write that fails (file-size limit, as a full disk) is one line naming the output file, nothing is left")
    func writeFailure() throws {
        let dir = scratch()
        let out = dir.appendingPathComponent("mixtures")
        let r = try mixmerge(["mix", "examples/mix-paper.yml", out.path], fileSizeLimitKiB: 4)
        #expect(r.status == 1, "\(r.stderr)")
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("error: \(out.path)/") && lines[0].contains("too large"), "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test("mix: an impossible share without oversampling, a missing source, a non-empty output")
    func userErrors() throws {
        let dir = scratch()
        try Data("{\"prompt\": \"a\", \"completion\": \"b\", \"language\": \"en\"}\n".utf8).write(to: dir.appendingPathComponent("g.jsonl"))
        try Data("{\"prompt\": \"s\", \"completion\": \"t\", \"language\": \"en\"}\n".utf8).write(to: dir.appendingPathComponent("s.jsonl"))
        try Data("""
            sources: [{name: g, path: g.jsonl, objective: general}, {name: s, path: s.jsonl, objective: safety}]
            mixtures: [{name: m, shares: {safety: 0.5}, size: 10}]
            """.utf8).write(to: dir.appendingPathComponent("short.yml"))
        let short = try mixmerge(["mix", "short.yml", "out"], in: dir)
        #expect(short.status == 1 && short.stderr.contains("needs 5 examples but 1 are available") && short.stderr.contains("oversample"))
        try Data("sources: [{name: x, path: nothere.jsonl, objective: g}]\nmixtures: [{name: m, shares: {g: 1}}]\n".utf8)
            .write(to: dir.appendingPathComponent("missing.yml"))
        let missing = try mixmerge(["mix", "missing.yml", "out"], in: dir)
        #expect(missing.status == 1 && missing.stderr.contains("nothere.jsonl: no such file"), "\(missing.stderr)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("full"), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: dir.appendingPathComponent("full/keep.txt"))
        try Data("sources: [{name: g, path: g.jsonl, objective: general}]\nmixtures: [{name: m, shares: {general: 1}}]\n".utf8)
            .write(to: dir.appendingPathComponent("ok.yml"))
        let full = try mixmerge(["mix", "ok.yml", "full"], in: dir)
        #expect(full.status == 1 && full.stderr.contains("--overwrite"))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("full/keep.txt").path))
        #expect(try mixmerge(["mix", "ok.yml", "full", "--overwrite", "--quiet"], in: dir).status == 0)
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("full/keep.txt").path))
    }

    @Test("mix: an empty source, or an objective without a language within: language, is exit 1 naming it, nothing written")
    func emptyCellsAreErrors() throws {
        let dir = scratch()
        try Data("{\"prompt\": \"a\", \"completion\": \"b\", \"language\": \"en\"}\n{\"prompt\": \"c\", \"completion\": \"d\", \"language\": \"hi\"}\n".utf8)
            .write(to: dir.appendingPathComponent("g.jsonl"))
        try Data("{\"prompt\": \"s\", \"completion\": \"t\", \"language\": \"en\"}\n".utf8).write(to: dir.appendingPathComponent("s.jsonl"))
        try Data().write(to: dir.appendingPathComponent("empty.jsonl"))
        try Data("""
            sources: [{name: g, path: g.jsonl, objective: general}, {name: s, path: s.jsonl, objective: safety}]
            mixtures: [{name: m, shares: {safety: 0.15}, within: language, size: max}]
            """.utf8).write(to: dir.appendingPathComponent("cell.yml"))
        let cell = try mixmerge(["mix", "cell.yml", "out"], in: dir)
        #expect(cell.status == 1 && cell.stderr.hasPrefix("error: mixture 'm': cell safety/hi is empty"), "\(cell.stderr)")
        #expect(cell.stderr.split(separator: "\n").count == 1)
        try Data("""
            sources: [{name: g, path: g.jsonl, objective: general}, {name: s, path: empty.jsonl, objective: safety}]
            mixtures: [{name: m, shares: {safety: 0.15}}]
            """.utf8).write(to: dir.appendingPathComponent("empty.yml"))
        let empty = try mixmerge(["mix", "empty.yml", "out"], in: dir)
        #expect(empty.status == 1 && empty.stderr == "error: source 's': empty.jsonl holds no records; give it data or remove it from sources:\n",
                "\(empty.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["cell.yml", "empty.jsonl", "empty.yml", "g.jsonl", "s.jsonl"])
    }
}
