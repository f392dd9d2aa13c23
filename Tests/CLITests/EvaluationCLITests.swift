import Evaluation
import Judging
import Foundation
import Testing

/// A scripted OpenAI-compatible server (`mixmerge-fake-endpoint`) on loopback, for one test.
final class FakeServer {
    let process = Process()
    let url: String

    init(_ arguments: [String] = []) throws {
        process.executableURL = binary.deletingLastPathComponent().appendingPathComponent("mixmerge-fake-endpoint")
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        url = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Requests the server answered so far (`GET /stats` over a plain socket).
    func requests() throws -> Int {
        let port = UInt16(url.split(separator: ":").last!.split(separator: "/").first!)!
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0 else { return -1 }
        let request = "GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var response = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            response.append(contentsOf: buffer[0..<n])
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let body = text.range(of: "\r\n\r\n").map({ text[$0.upperBound...] }) else { return -1 }
        return (try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["requests"] as? Int ?? -1
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

let redteaming = repositoryRoot.appendingPathComponent("examples/data/safety.jsonl").path

@Suite("generate, judge and report against a loopback server", .serialized)
struct EvaluationCLITests {
    @Test("the whole loop: generate, judge harm, judge pairwise (both orders), report; re-runs are free")
    func wholeLoop() throws {
        let server = try FakeServer()
        let dir = scratch()
        let store = dir.appendingPathComponent("run.sqlite").path
        setenv("TEST_SECRET_KEY", "s3cr3t-value", 1)  // inherited by the mixmerge processes below
        let gen = try mixmerge(["generate", store, "--prompts", redteaming, "--format", "preference",
                                "--candidate", "name=base,url=\(server.url),model=cand-rate40,key_env=TEST_SECRET_KEY",
                                "--candidate", "name=merged,url=\(server.url),model=cand-rate20-len2-garble10", "--json"])
        #expect(gen.status == 0, "\(gen.stderr)")
        let run = try RunStore(path: store)
        #expect(try run.count("prompts") == 144 && run.count("generations") == 288)
        let harm = try mixmerge(["judge", "harm", store, "--judge", "url=\(server.url),model=judge-harm", "--json"])
        #expect(harm.status == 0, "\(harm.stderr)")
        let harmSummary = try #require(try JSONSerialization.jsonObject(with: Data(harm.stdout.utf8)) as? [String: Any])
        let unparsable = try #require(harmSummary["unparsable"] as? Int)
        #expect(unparsable > 0)  // GARBLE answers: asked again, then counted — never "not harmful"
        let stored = try run.judgments(kind: "harm")
        #expect(stored.count == 288 && stored.filter { $0.verdict == "unparsable" }.count == unparsable)
        let pair = try mixmerge(["judge", "pairwise", store, "--judge", "url=\(server.url),model=judge-pair,logprobs=true", "--reference", "base"])
        #expect(pair.status == 0, "\(pair.stderr)")
        #expect(try run.judgments(kind: "pairwise").count == 288)  // 144 prompts × 2 orders
        // Judging again asks nothing: every judgment is in the store.
        let before = try server.requests()
        let again = try mixmerge(["judge", "harm", store, "--judge", "url=\(server.url),model=judge-harm", "--json"])
        let afterAgain = try server.requests()
        #expect(again.status == 0 && afterAgain == before)
        // A candidate with the same answers is judged from the cache (content hash), without requests.
        let twin = try mixmerge(["generate", store, "--candidate", "name=twin,url=\(server.url),model=cand-rate40"])
        #expect(twin.status == 0)
        let afterTwin = try server.requests()
        let cached = try mixmerge(["judge", "harm", store, "--judge", "url=\(server.url),model=judge-harm", "--candidates", "twin", "--json"])
        let cachedSummary = try #require(try JSONSerialization.jsonObject(with: Data(cached.stdout.utf8)) as? [String: Any])
        let afterCached = try server.requests()
        #expect(cachedSummary["cached"] as? Int == 144 && afterCached == afterTwin)

        let report = dir.appendingPathComponent("report")
        let r = try mixmerge(["report", store, report.path, "--reference", "base", "--replicates", "300"])
        #expect(r.status == 0, "\(r.stderr)")
        let numbers = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: report.appendingPathComponent("numbers.json"))) as? [String: Any])
        let sets = try #require(numbers["sets"] as? [[String: Any]])
        #expect(sets.count == 1 && sets[0]["promptSet"] as? String == "safety")  // the set's name: the file's base name
        let wins = try #require(sets[0]["wins"] as? [[String: Any]])
        let all = try #require(wins.first { $0["candidate"] as? String == "merged" && $0["language"] as? String == "all" })
        #expect(all["wins"] as? Int == 144)  // the longer answer always wins with this judge, in both orders
        #expect((all["logprobPreference"] as? Double ?? 0) > 0.5)
        for f in ["report.md", "report.html", "tradeoff.svg", "numbers.csv"] {
            #expect(FileManager.default.fileExists(atPath: report.appendingPathComponent(f).path))
        }
        // A write that fails (file-size limit, as a full disk): one line naming the file, nothing left.
        let stunted = dir.appendingPathComponent("stunted")
        let failed = try mixmerge(["report", store, stunted.path, "--reference", "base", "--replicates", "50"], fileSizeLimitKiB: 1)
        #expect(failed.status == 1, "\(failed.stderr)")
        let lines = failed.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("error: \(stunted.path)/") && lines[0].contains("too large"), "\(failed.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).allSatisfy { !$0.contains("stunted") })
        // The API key's value is never written anywhere; only the variable's name is stored.
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path) where file.hasPrefix("run.sqlite") {
            let bytes = try Data(contentsOf: dir.appendingPathComponent(file))
            #expect(bytes.range(of: Data("s3cr3t-value".utf8)) == nil)
        }
        for file in try FileManager.default.contentsOfDirectory(atPath: report.path) {
            #expect((try Data(contentsOf: report.appendingPathComponent(file))).range(of: Data("s3cr3t-value".utf8)) == nil)
        }
        #expect(!gen.stdout.contains("s3cr3t-value") && !gen.stderr.contains("s3cr3t-value"))
        #expect(try run.meta("judge harm")?.contains("judge-harm") == true)  // the run's configuration is in the store
    }

    @Test("a position-biased judge: every pair flips, so every pair is a tie")
    func positionBias() throws {
        let server = try FakeServer()
        let store = scratch().appendingPathComponent("run.sqlite").path
        #expect(try mixmerge(["generate", store, "--prompts", redteaming, "--format", "preference", "--limit", "30",
                              "--candidate", "name=base,url=\(server.url),model=cand", "--candidate", "name=x,url=\(server.url),model=cand-len3"]).status == 0)
        #expect(try mixmerge(["judge", "pairwise", store, "--judge", "url=\(server.url),model=judge-pair-biased", "--reference", "base"]).status == 0)
        let a = try Analysis.make(store: RunStore(path: store), reference: "base", replicates: 200, seed: 0)
        let w = try #require(a.wins.first { $0.candidate == "x" && $0.language == "all" })
        #expect(w.ties == 30 && w.wins == 0 && w.losses == 0 && w.flips == 30 && w.inconsistency == 1)
        #expect(w.winRateHalf?.estimate == 0.5 && w.winRateExcluded == nil)
    }

    @Test("429, 500, garbled JSON and timeouts are retried; what still fails is reported, not lost")
    func retries() throws {
        for args in [["--fail-first", "2", "--fail-status", "429"], ["--fail-first", "2"], ["--garble-first", "2"], ["--hang-first", "1", "--hang-ms", "1500"]] {
            let server = try FakeServer(args)
            let store = scratch().appendingPathComponent("run.sqlite").path
            let r = try mixmerge(["generate", store, "--prompts", redteaming, "--format", "preference", "--limit", "12",
                                  "--candidate", "name=c,url=\(server.url),model=cand", "--backoff-ms", "5", "--timeout", "0.5", "--json"])
            #expect(r.status == 0, "\(args) \(r.stderr)")
            let s = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            #expect(s["succeeded"] as? Int == 12 && s["failed"] as? Int == 0, "\(args) \(s)")
            #expect((s["retries"] as? Int ?? 0) >= 12, "\(args) \(s)")
        }
        // More failures than attempts: the requests are stored as failed, counted and listed.
        let server = try FakeServer(["--fail-first", "4"])
        let store = scratch().appendingPathComponent("run.sqlite").path
        let r = try mixmerge(["generate", store, "--prompts", redteaming, "--format", "preference", "--limit", "5",
                              "--candidate", "name=c,url=\(server.url),model=cand", "--backoff-ms", "1", "--attempts", "3", "--json"])
        let s = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(r.status == 0 && s["failed"] as? Int == 5 && (s["failures"] as? [String])?.first?.contains("HTTP 500") == true)
        #expect(try RunStore(path: store).generations().filter { $0.error != nil }.count == 5)
        // Running again retries the failed ones (the server now answers).
        let again = try mixmerge(["generate", store, "--candidate", "name=c,url=\(server.url),model=cand", "--backoff-ms", "1", "--attempts", "5", "--json"])
        let s2 = try #require(try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])
        #expect(s2["requested"] as? Int == 5 && s2["succeeded"] as? Int == 5)
    }

    @Test("a server that is down is one clear line naming the URL, exit 1, and no store is left behind")
    func serverDown() throws {
        let dir = scratch()
        let store = dir.appendingPathComponent("run.sqlite").path
        // The settings of the measured run (5 attempts, long timeouts): a refusal is not retried.
        let r = try mixmerge(["generate", store, "--prompts", redteaming, "--format", "preference", "--limit", "3",
                              "--candidate", "name=c,url=http://127.0.0.1:9/v1,model=m", "--attempts", "5", "--timeout", "60"])
        #expect(r.status == 1)
        #expect(r.stderr == "error: candidate 'c': cannot reach http://127.0.0.1:9/v1: connection refused; is the server running? "
            + "(--wait-for-server SECONDS waits for one still starting)\n", "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        // The judge too.
        let server = try FakeServer()
        #expect(try mixmerge(["generate", store, "--prompts", redteaming, "--format", "preference", "--limit", "3",
                              "--candidate", "name=c,url=\(server.url),model=cand"]).status == 0)
        let j = try mixmerge(["judge", "harm", store, "--judge", "url=http://127.0.0.1:9/v1,model=judge-harm"])
        #expect(j.status == 1 && j.stderr.hasPrefix("error: judge: cannot reach http://127.0.0.1:9/v1: connection refused"), "\(j.stderr)")
        #expect(try RunStore(path: store).count("judgments") == 0)
    }

    @Test("judge and report on a store that does not exist, generate with bad arguments: one clear error, no store made")
    func missingStore() throws {
        let dir = scratch()
        let store = dir.appendingPathComponent("typo.sqlite").path
        let runs = [
            try mixmerge(["report", store, dir.appendingPathComponent("report").path]),
            try mixmerge(["judge", "harm", store, "--judge", "url=http://127.0.0.1:9/v1,model=j"]),
        ]
        for r in runs {
            #expect(r.status == 1)
            #expect(r.stderr == "error: \(store): no such run store (`mixmerge generate` makes one)\n", "\(r.stderr)")
        }
        // generate with a mistake in its arguments: the error, and no new empty store either.
        let missingPrompts = dir.appendingPathComponent("nope.jsonl").path
        let generateRuns = [
            (try mixmerge(["generate", store, "--prompts", missingPrompts, "--candidate", "name=a,url=http://127.0.0.1:9/v1,model=m"]),
             "error: \(missingPrompts): no such file\n"),
            (try mixmerge(["generate", store, "--candidate", "garbage"]), "error: endpoint 'garbage': expected key=value pairs, found 'garbage'\n"),
        ]
        for (r, message) in generateRuns {
            #expect(r.status == 1 && r.stderr == message, "\(r.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test("a client killed with SIGKILL mid-run resumes with nothing lost and nothing duplicated")
    func resumeAfterKill() throws {
        let server = try FakeServer(["--delay-ms", "30"])
        let store = scratch().appendingPathComponent("run.sqlite").path
        let args = ["generate", store, "--prompts", redteaming, "--format", "preference", "--concurrency", "4",
                    "--candidate", "name=c,url=\(server.url),model=cand"]
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Wait until some, not all, generations are stored, then kill.
        var stored = 0
        for _ in 0..<1200 {  // up to 60 s: other suites load the CPU meanwhile
            Thread.sleep(forTimeInterval: 0.05)
            stored = (try? RunStore(path: store).count("generations")) ?? 0
            if stored >= 20 { break }
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let afterKill = try RunStore(path: store).count("generations")
        #expect(afterKill >= 20 && afterKill < 144, "\(afterKill)")
        let r = try mixmerge(args + ["--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let s = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(s["skipped"] as? Int == afterKill && s["requested"] as? Int == 144 - afterKill)
        let run = try RunStore(path: store)
        #expect(try run.count("generations") == 144 && run.count("prompts") == 144)
        #expect(Set(try run.generations().map(\.promptID)).count == 144)
        // Requests made: each prompt once, plus at most the 4 that were in flight when killed.
        let requests = try server.requests()
        #expect(requests >= 144 && requests <= 144 + 4, "\(requests)")
    }

    @Test("the HTML report opens in headless Chromium and shows the scatter (skipped without chromium)")
    func htmlInBrowser() throws {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let chromium else { return }
        let server = try FakeServer()
        let dir = scratch()
        let store = dir.appendingPathComponent("run.sqlite").path
        #expect(try mixmerge(["generate", store, "--prompts", redteaming, "--format", "preference", "--limit", "36",
                              "--candidate", "name=base,url=\(server.url),model=cand-rate50",
                              "--candidate", "name=a,url=\(server.url),model=cand-rate20-len2",
                              "--candidate", "name=b,url=\(server.url),model=cand-rate35"]).status == 0)
        #expect(try mixmerge(["judge", "harm", store, "--judge", "url=\(server.url),model=judge-harm"]).status == 0)
        #expect(try mixmerge(["judge", "pairwise", store, "--judge", "url=\(server.url),model=judge-pair", "--reference", "base"]).status == 0)
        let report = dir.appendingPathComponent("report")
        #expect(try mixmerge(["report", store, report.path, "--reference", "base", "--replicates", "200"]).status == 0)
        let page = "file://" + report.appendingPathComponent("report.html").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: chromium)
        p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let dom = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(dom.contains("<svg") && dom.contains("data-candidate=\"a\"") && dom.contains("<table>"))
        // Languages by name in the paper's order, numbers right-aligned in their own cells, no Markdown left over.
        let english = try #require(dom.range(of: ">English</td>")), hindi = try #require(dom.range(of: ">Hindi</td>"))
        #expect(english.lowerBound < hindi.lowerBound)
        #expect(dom.contains("<th>n</th>") && dom.contains("<th>unparsable</th>") && dom.contains("class=\"n\""))
        #expect(!dom.contains("| ") && !dom.contains("**") && !dom.contains("(n="))
        let shot = dir.appendingPathComponent("shot.png")
        let q = Process()
        q.executableURL = URL(fileURLWithPath: chromium)
        q.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1100,900", "--screenshot=\(shot.path)", page]
        q.standardOutput = FileHandle.nullDevice
        q.standardError = FileHandle.nullDevice
        try q.run()
        q.waitUntilExit()
        let png = try Data(contentsOf: shot)
        #expect(png.count > 20_000 && png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
    }
}
