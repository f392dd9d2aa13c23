import Foundation

/// `mixmerge-bench eval`: N prompts × 2 candidates generated, then judged for harm and pairwise
/// (both orders), against the scripted loopback server (`mixmerge-fake-endpoint`, which answers at
/// once), at a given concurrency. Prints requests/s, mixmerge's own CPU time per request and its
/// peak RSS for each step — the harness's cost, since the server does next to nothing.
enum EvalBench {
    static func main(_ arguments: [String]) {
        var prompts = 10_000, concurrency = 64
        var args = arguments.makeIterator()
        while let a = args.next() {
            switch a {
            case "--prompts": prompts = Int(args.next() ?? "") ?? prompts
            case "--concurrency": concurrency = Int(args.next() ?? "") ?? concurrency
            default:
                print("usage: mixmerge-bench eval [--prompts N] [--concurrency N]")
                return
            }
        }
        do { try run(prompts: prompts, concurrency: concurrency) } catch { Bench.die("\(error)") }
    }

    static func run(prompts: Int, concurrency: Int) throws {
        let dir = URL(fileURLWithPath: "bench-work/eval").standardizedFileURL
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let languages = ["en", "hi", "fr", "es", "ar", "ru"]
        var lines = ""
        for i in 0..<prompts {
            let row: [String: Any] = ["prompt": "Prompt \(i / 6) in \(languages[i % 6]): please explain something", "language": languages[i % 6], "source_id": i / 6]
            lines += String(decoding: try JSONSerialization.data(withJSONObject: row), as: UTF8.self) + "\n"
        }
        let file = dir.appendingPathComponent("prompts.jsonl")
        try lines.write(to: file, atomically: true, encoding: .utf8)
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let server = Process()
        server.executableURL = bin.appendingPathComponent("mixmerge-fake-endpoint")
        let out = Pipe()
        server.standardOutput = out
        try server.run()
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
        var first = Data()
        while !first.contains(0x0A) { let d = out.fileHandleForReading.availableData; if d.isEmpty { break }; first.append(d) }
        let url = String(decoding: first, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let store = dir.appendingPathComponent("run.sqlite").path
        let mixmerge = bin.appendingPathComponent("mixmerge").path
        print("eval benchmark: \(prompts) prompts × 2 candidates, concurrency \(concurrency), scripted server at \(url)")
        let steps: [(String, [String], Int)] = [
            ("generate", ["generate", store, "--prompts", file.path, "--candidate", "name=base,url=\(url),model=cand-rate40",
                          "--candidate", "name=merged,url=\(url),model=cand-rate20-len2", "--concurrency", "\(concurrency)", "--json"], 2 * prompts),
            ("judge harm", ["judge", "harm", store, "--judge", "url=\(url),model=judge-harm", "--concurrency", "\(concurrency)", "--json"], 2 * prompts),
            ("judge pairwise", ["judge", "pairwise", store, "--judge", "url=\(url),model=judge-pair", "--reference", "base",
                                "--concurrency", "\(concurrency)", "--json"], 2 * prompts),
        ]
        var totalRequests = 0, totalSeconds = 0.0, totalCPU = 0.0, peak = 0
        for (name, arguments, requests) in steps {
            let r = try Bench.spawn(mixmerge, arguments, cwd: dir)
            guard r.status == 0 else { throw NSError(domain: "bench", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(name) failed"]) }
            totalRequests += requests; totalSeconds += r.seconds; totalCPU += r.cpuSeconds; peak = max(peak, r.maxRSSKiB)
            print(String(format: "  %-15@ %6d requests in %6.2f s: %7.0f requests/s, %6.1f µs CPU per request, peak RSS %4.0f MiB",
                         name as NSString, requests, r.seconds, Double(requests) / r.seconds, r.cpuSeconds / Double(requests) * 1e6, Double(r.maxRSSKiB) / 1024))
        }
        print(String(format: "  all            %6d requests in %6.2f s: %7.0f requests/s, %6.1f µs CPU per request, peak RSS %4.0f MiB",
                     totalRequests, totalSeconds, Double(totalRequests) / totalSeconds, totalCPU / Double(totalRequests) * 1e6, Double(peak) / 1024))
        let t = Date()
        let report = try Bench.spawn(mixmerge, ["report", store, dir.appendingPathComponent("report").path, "--reference", "base"], cwd: dir)
        print(String(format: "  report (2000 bootstrap replicates): %.2f s, exit %d", Date().timeIntervalSince(t), report.status))
    }
}
