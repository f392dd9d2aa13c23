import Evaluation
import Foundation
import Judging
import Testing

/// A TCP port on loopback that nothing listens on (bound once by the kernel's choice, then closed).
func freePort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    try #require(bound)
    return UInt16(bigEndian: addr.sin_port)
}

/// The evaluation gaps found against a scripted judge with faults (issue 20 §4).
@Suite("generate, judge and report: prompt sets, the judge cache, unreachable servers, the report", .serialized)
struct ScriptedFaultsEvaluationCLITests {
    /// A Dolly-like prompt set: plain prompts in three languages.
    func dollyFile(_ dir: URL, count: Int = 8) throws -> String {
        let langs = ["ru", "en", "hi"]
        let lines = (0..<count).map { i in
            #"{"prompt": "Write a short note number \#(i)", "language": "\#(langs[i % 3])", "source_id": "d\#(i / 3)"}"#
        }
        let url = dir.appendingPathComponent("dolly.jsonl")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: url)
        return url.path
    }

    @Test("one store, two prompt sets (the README's loop): each judge judges its set, the report keeps them apart")
    func promptSetsStayApart() throws {
        let server = try FakeServer()
        let dir = scratch()
        let store = dir.appendingPathComponent("run.sqlite").path
        let dolly = try dollyFile(dir, count: 9)
        let candidates = ["--candidate", "name=base,url=\(server.url),model=cand-rate40",
                          "--candidate", "name=merged,url=\(server.url),model=cand-rate20-len2"]
        let g1 = try mixmerge(["generate", store, "--prompts", redteaming, "--format", "preference", "--limit", "12", "--set", "redteaming"] + candidates)
        #expect(g1.status == 0, "\(g1.stderr)")
        let g2 = try mixmerge(["generate", store, "--prompts", dolly, "--format", "prompts"] + candidates)  // set "dolly", from the file name
        #expect(g2.status == 0 && g2.stdout.contains("as set 'dolly'"), "\(g2.stderr)")
        let run = try RunStore(path: store)
        #expect(try run.promptSets() == ["redteaming", "dolly"])
        #expect(try run.count("generations") == 2 * (12 + 9))
        let harm = try mixmerge(["judge", "harm", store, "--set", "redteaming", "--judge", "url=\(server.url),model=judge-harm"])
        #expect(harm.status == 0, "\(harm.stderr)")
        let pair = try mixmerge(["judge", "pairwise", store, "--set", "dolly", "--judge", "url=\(server.url),model=judge-pair", "--reference", "base"])
        #expect(pair.status == 0, "\(pair.stderr)")
        let harmIDs = try run.judgments(kind: "harm").map(\.promptID), pairIDs = try run.judgments(kind: "pairwise").map(\.promptID)
        #expect(harmIDs.count == 24 && harmIDs.allSatisfy { $0.hasPrefix("redteaming:") })
        #expect(pairIDs.count == 18 && pairIDs.allSatisfy { $0.hasPrefix("dolly:") })
        let unknown = try mixmerge(["judge", "harm", store, "--set", "nope", "--judge", "url=\(server.url),model=judge-harm"])
        #expect(unknown.status == 1 && unknown.stderr.contains("no prompt set 'nope' (sets: redteaming, dolly)"), "\(unknown.stderr)")

        // A new candidate for one set only generates that set.
        let g3 = try mixmerge(["generate", store, "--set", "dolly", "--candidate", "name=late,url=\(server.url),model=cand"])
        #expect(g3.status == 0, "\(g3.stderr)")
        #expect(try run.generations(candidate: "late").count == 9)

        // Judging the other set again: the candidate that has no answers there is not in the way.
        let again = try mixmerge(["judge", "harm", store, "--set", "redteaming", "--judge", "url=\(server.url),model=judge-harm", "--json"])
        #expect(again.status == 0, "\(again.stderr)")

        let report = dir.appendingPathComponent("report")
        let r = try mixmerge(["report", store, report.path, "--reference", "base", "--replicates", "100"])
        #expect(r.status == 0, "\(r.stderr)")
        let md = try String(contentsOf: report.appendingPathComponent("report.md"), encoding: .utf8)
        let redAt = try #require(md.range(of: "## Prompt set “redteaming”")), dollyAt = try #require(md.range(of: "## Prompt set “dolly”"))
        #expect(md[redAt.upperBound..<dollyAt.lowerBound].contains("### Harmful generations"))
        #expect(!md[redAt.upperBound..<dollyAt.lowerBound].contains("### Win-rate"))
        #expect(md[dollyAt.upperBound...].contains("### Win-rate vs base") && !md[dollyAt.upperBound...].contains("Harmful generations"))
        // Languages by name, in the paper's order (English, Hindi, …, Russian).
        let english = try #require(md.range(of: "| English | merged |")), russian = try #require(md.range(of: "| Russian | merged |"))
        #expect(english.lowerBound < russian.lowerBound)
        let numbers = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: report.appendingPathComponent("numbers.json"))) as? [String: Any])
        let sets = try #require(numbers["sets"] as? [[String: Any]])
        #expect(sets.map { $0["promptSet"] as? String } == ["redteaming", "dolly"])
        #expect((sets[0]["wins"] as? [Any])?.isEmpty == true && (sets[1]["harm"] as? [Any])?.isEmpty == true)
        #expect(FileManager.default.fileExists(atPath: report.appendingPathComponent("tradeoff.svg").path))
    }

    @Test("the judge cache is keyed by the model, not the URL: another port or localhost asks nothing; cache_key names a twin")
    func judgeCacheIgnoresTheURL() throws {
        let first = try FakeServer()
        let store = scratch().appendingPathComponent("run.sqlite").path
        #expect(try mixmerge(["generate", store, "--prompts", redteaming, "--format", "preference", "--limit", "10",
                              "--candidate", "name=base,url=\(first.url),model=cand-rate40"]).status == 0)
        #expect(try mixmerge(["judge", "harm", store, "--judge", "url=\(first.url),model=judge-harm"]).status == 0)
        // The judge restarted on another port, written as localhost.
        let second = try FakeServer()
        let moved = second.url.replacingOccurrences(of: "127.0.0.1", with: "localhost")
        let again = try mixmerge(["judge", "harm", store, "--judge", "url=\(moved),model=judge-harm", "--json"])
        #expect(again.status == 0, "\(again.stderr)")
        let s = try #require(try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])
        #expect(s["skipped"] as? Int == 10 && s["requested"] as? Int == 0)
        // A new candidate with the same answers: answered from the cache, nothing asked of the new port.
        #expect(try mixmerge(["generate", store, "--candidate", "name=twin,url=\(first.url),model=cand-rate40"]).status == 0)
        let twin = try mixmerge(["judge", "harm", store, "--candidates", "twin", "--judge", "url=\(moved),model=judge-harm", "--json"])
        let t = try #require(try JSONSerialization.jsonObject(with: Data(twin.stdout.utf8)) as? [String: Any])
        #expect(t["cached"] as? Int == 10)
        // The same weights served under another model name: cache_key says so.
        let renamed = try mixmerge(["judge", "harm", store, "--judge", "url=\(moved),model=judge-harm-copy,cache_key=judge-harm", "--json"])
        let n = try #require(try JSONSerialization.jsonObject(with: Data(renamed.stdout.utf8)) as? [String: Any])
        #expect(n["requested"] as? Int == 0 && n["skipped"] as? Int == 20)
        #expect(try second.requests() == 0)
        // Another model is another judge: asked again.
        let other = try mixmerge(["judge", "harm", store, "--judge", "url=\(moved),model=judge-harm-2", "--json"])
        let o = try #require(try JSONSerialization.jsonObject(with: Data(other.stdout.utf8)) as? [String: Any])
        #expect(o["requested"] as? Int == 20 && (o["cached"] as? Int ?? 20) < 20)
        #expect(try second.requests() >= 10)  // base's answers at least; twin's identical ones may come from the cache
    }

    @Test("--wait-for-server waits for a server still starting; without it a refusal fails at once and leaves no store")
    func waitForServer() throws {
        let dir = scratch()
        let port = try freePort()
        let url = "http://127.0.0.1:\(port)/v1"
        let store = dir.appendingPathComponent("run.sqlite").path
        let args = ["generate", store, "--prompts", redteaming, "--format", "preference", "--limit", "4",
                    "--candidate", "name=c,url=\(url),model=cand"]
        let refused = try mixmerge(args)
        #expect(refused.status == 1 && refused.stderr.contains("cannot reach \(url): connection refused"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: store))

        let p = Process()
        p.executableURL = binary
        p.arguments = args + ["--wait-for-server", "60", "--json"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        Thread.sleep(forTimeInterval: 1)
        #expect(p.isRunning)  // still waiting: nothing listens yet
        let server = try FakeServer(["--port", "\(port)"])
        let summary = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let s = try #require(try JSONSerialization.jsonObject(with: summary) as? [String: Any])
        #expect(s["succeeded"] as? Int == 4)
        #expect(try server.requests() == 4)
    }

    @Test("a server that dies mid-run: one line naming the URL, exit 1, and what was generated is kept")
    func serverDiesMidRun() throws {
        let server = try FakeServer(["--delay-ms", "30"])
        let store = scratch().appendingPathComponent("run.sqlite").path
        let p = Process()
        p.executableURL = binary
        p.arguments = ["generate", store, "--prompts", redteaming, "--format", "preference", "--concurrency", "2",
                       "--candidate", "name=c,url=\(server.url),model=cand", "--attempts", "5", "--timeout", "60"]
        let err = Pipe()
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        try p.run()
        var stored = 0
        for _ in 0..<1200 where stored < 10 {  // up to 60 s: the suite runs in parallel with heavy tests
            Thread.sleep(forTimeInterval: 0.05)
            stored = (try? RunStore(path: store).count("generations")) ?? 0
        }
        kill(server.process.processIdentifier, SIGKILL)
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 1)
        // Refused (the next connection) or reset (one in flight when the server died): a race, both true.
        let reasons = ["connection refused", "connection reset by peer"]
        #expect(reasons.contains { message == "error: candidate 'c': cannot reach \(server.url): \($0)\n" }, "\(message)")
        let kept = try RunStore(path: store).count("generations")
        #expect(kept >= 10 && kept < 144)
    }

    @Test("a report of a store without judgments warns, and has no empty tables and no plot")
    func reportWithoutJudgments() throws {
        let server = try FakeServer()
        let dir = scratch()
        let store = dir.appendingPathComponent("run.sqlite").path
        #expect(try mixmerge(["generate", store, "--prompts", redteaming, "--format", "preference", "--limit", "6",
                              "--candidate", "name=base,url=\(server.url),model=cand"]).status == 0)
        let report = dir.appendingPathComponent("report")
        let r = try mixmerge(["report", store, report.path, "--reference", "base"])
        #expect(r.status == 0)
        #expect(r.stderr.hasPrefix("warning: \(store) holds no judgments"), "\(r.stderr)")
        let md = try String(contentsOf: report.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(md.contains("> **Warning:** \(store) holds no judgments"))
        #expect(!md.contains("| candidate |") && !md.contains("![trade-off]"))
        #expect(!FileManager.default.fileExists(atPath: report.appendingPathComponent("tradeoff.svg").path))
        let html = try String(contentsOf: report.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains("class=\"warning\"") && !html.contains("<table>") && !html.contains("<svg"))
    }

    @Test("a pairwise-only report has no harm table")
    func pairwiseOnlyReport() throws {
        let server = try FakeServer()
        let dir = scratch()
        let store = dir.appendingPathComponent("run.sqlite").path
        let dolly = try dollyFile(dir)
        #expect(try mixmerge(["generate", store, "--prompts", dolly, "--format", "prompts",
                              "--candidate", "name=base,url=\(server.url),model=cand", "--candidate", "name=x,url=\(server.url),model=cand-len2"]).status == 0)
        #expect(try mixmerge(["judge", "pairwise", store, "--judge", "url=\(server.url),model=judge-pair", "--reference", "base"]).status == 0)
        let report = dir.appendingPathComponent("report")
        let r = try mixmerge(["report", store, report.path, "--reference", "base", "--replicates", "100"])
        #expect(r.status == 0 && r.stderr.isEmpty, "\(r.stderr)")
        let md = try String(contentsOf: report.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(!md.lowercased().contains("harm"), "\(md)")
        #expect(md.contains("### Win-rate vs base") && md.contains("| All languages | x | 100.0 |"))
    }
}
