import Datasets
import Foundation
import Mixing
import Tensors

/// `mixmerge-bench mix`: ≈1 M synthetic multilingual records (≈1 GB of JSONL, UltraFeedback-shaped,
/// six languages, 5/6 of them non-ASCII), one 15 % safety mixture built by `mixmerge mix`, and — when
/// Python's `datasets` imports — the equivalent `load_dataset("json")` + `interleave_datasets` +
/// `to_json` (tools/bench_datasets_mix.py) in the same run, with a fresh cache (cold) and again
/// with the cache it built (warm).
enum MixBench {
    struct Options {
        var dir = "bench-work/mix"
        var records = 1_000_000
        var threads = ProcessInfo.processInfo.activeProcessorCount
        var repeats = 2
        var python: String? = ProcessInfo.processInfo.environment["MIXMERGE_BENCH_PYTHON"]
    }

    static func main(_ arguments: [String]) {
        var o = Options()
        var args = arguments.makeIterator()
        while let a = args.next() {
            func value() -> String {
                guard let v = args.next() else { Bench.die("\(a) needs a value") }
                return v
            }
            switch a {
            case "--dir": o.dir = value()
            case "--records": o.records = Int(value()) ?? o.records
            case "--threads": o.threads = Int(value()) ?? o.threads
            case "--repeat": o.repeats = max(1, Int(value()) ?? o.repeats)
            case "--python": o.python = value()
            case "-h", "--help":
                print("""
                    usage: mixmerge-bench mix [--dir DIR] [--records N] [--threads N] [--repeat N] [--python PYTHON]
                    Writes N synthetic records (default 1,000,000 ≈ 1 GB; kept in DIR for later runs), builds a
                    15 % safety mixture with the mixmerge binary next to this one, and runs Python's datasets
                    equivalent when PYTHON (default: python3 on PATH, or $MIXMERGE_BENCH_PYTHON) imports datasets.
                    """)
                return
            default: Bench.die("unknown option \(a) (see mixmerge-bench mix --help)")
            }
        }
        do { try run(o) } catch { Bench.die("\(error)") }
    }

    static let languages: [(code: String, words: [String])] = [
        ("en", ["the", "river", "garden", "music", "question", "answer", "please", "explain", "history", "bread"]),
        ("hi", ["नदी", "बगीचा", "संगीत", "प्रश्न", "उत्तर", "कृपया", "समझाइए", "इतिहास", "रोटी", "और"]),
        ("fr", ["la", "rivière", "jardin", "musique", "question", "réponse", "s'il", "expliquez", "histoire", "pain"]),
        ("es", ["el", "río", "jardín", "música", "pregunta", "respuesta", "por", "explique", "historia", "pan"]),
        ("ar", ["النهر", "الحديقة", "الموسيقى", "سؤال", "جواب", "من", "اشرح", "التاريخ", "الخبز", "و"]),
        ("ru", ["река", "сад", "музыка", "вопрос", "ответ", "пожалуйста", "объясните", "история", "хлеб", "и"]),
    ]

    /// Writes `count` UltraFeedback-shaped records (prompt, prompt_id, chosen, rejected, messages,
    /// language, source_id): six translations per source id, ≈1 KB each (the response is
    /// written twice, in `chosen` and `messages`, as UltraFeedback Binarized does).
    static func generate(_ path: String, count: Int, objective: String, seed: UInt64) throws {
        guard let out = FileHandle(forWritingAtPath: path) ?? {
            FileManager.default.createFile(atPath: path, contents: nil)
            return FileHandle(forWritingAtPath: path)
        }() else { throw MixError("cannot create \(path)") }
        var rng = Xoshiro256StarStar(seed: seed)
        var w = JSONWriter(capacity: 8 << 20)
        func sentence(_ words: [String], _ n: Int) -> String {
            (0..<n).map { _ in words[rng.below(words.count)] }.joined(separator: " ")
        }
        for i in 0..<count {
            let lang = languages[i % 6]
            let group = i / 6
            let prompt = "\(objective) \(group): " + sentence(lang.words, 6 + rng.below(8))
            let good = sentence(lang.words, 14 + rng.below(20))
            let bad = sentence(lang.words, 5 + rng.below(8))
            let user = Message(role: "user", content: prompt)
            w.beginObject()
            w.key("prompt"); w.string(prompt)
            w.key("prompt_id"); w.string("\(objective)-\(group)")
            w.key("chosen"); w.messages([user, Message(role: "assistant", content: good)])
            w.key("rejected"); w.messages([user, Message(role: "assistant", content: bad)])
            w.key("messages"); w.messages([user, Message(role: "assistant", content: good)])
            w.key("language"); w.string(lang.code)
            w.key("source_id"); w.string("\(objective)-\(group)")
            w.endObject()
            w.newline()
            if w.bytes.count > 8 << 20 {
                out.write(Data(w.bytes))
                w = JSONWriter(capacity: 8 << 20)
            }
        }
        out.write(Data(w.bytes))
        try out.close()
    }

    static func run(_ o: Options) throws {
        let root = URL(fileURLWithPath: o.dir).standardizedFileURL
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let safety = root.appendingPathComponent("safety-\(o.records).jsonl").path
        let general = root.appendingPathComponent("general-\(o.records).jsonl").path
        let safetyCount = o.records * 15 / 100
        for (path, count, objective, seed) in [(safety, safetyCount, "safety", UInt64(1)), (general, o.records - safetyCount, "general", 2)]
        where !FileManager.default.fileExists(atPath: path) {
            let t = Date()
            try generate(path + ".part", count: count, objective: objective, seed: seed)
            try FileManager.default.moveItem(atPath: path + ".part", toPath: path)
            print(String(format: "generated %@ (%d records) in %.1f s", path, count, Date().timeIntervalSince(t)))
        }
        let bytes = [safety, general].reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0) }
        print(String(format: "input: %d records, %.2f GB of JSONL (15 %% safety, 85 %% general; six languages)", o.records, Double(bytes) / 1e9))

        let config = root.appendingPathComponent("bench-mix.yml")
        try """
            seed: 42
            dedup: normalized
            sources:
              - {name: safety, path: \(safety), format: ultrafeedback, objective: safety}
              - {name: general, path: \(general), format: ultrafeedback, objective: general}
            mixtures:
              - {name: safety-15, shares: {safety: 0.15}, kinds: [sft]}
            """.write(to: config, atomically: true, encoding: .utf8)
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("mixmerge").path
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw MixError("\(binary) not found: build the mixmerge product first") }
        let out = root.appendingPathComponent("out-mixmerge")
        var best: Bench.ChildResult?
        for _ in 0..<o.repeats {
            let r = try Bench.spawn(binary, ["mix", config.path, out.path, "--overwrite", "--json", "--threads", "\(o.threads)"], cwd: root)
            guard r.status == 0 else { throw MixError("mixmerge mix failed (exit \(r.status))") }
            if best == nil || r.seconds < best!.seconds { best = r }
        }
        let m = best!
        let rss = Double(m.reportedPeakRSS ?? m.maxRSSKiB * 1024) / 1_048_576
        print(String(format: "mixmerge mix: %.2f s (best of %d), %.0f records/s, %.0f MB/s, peak RSS %.0f MiB, %d threads",
            m.seconds, o.repeats, Double(o.records) / m.seconds, Double(bytes) / m.seconds / 1e6, rss, o.threads))

        guard let python = o.python ?? Bench.which("python3"), pythonHasDatasets(python) else {
            print("python with `datasets` not found (set --python or MIXMERGE_BENCH_PYTHON): comparison skipped")
            return
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("tools/bench_datasets_mix.py").path
        let cache = root.appendingPathComponent("hf-cache")
        try? FileManager.default.removeItem(at: cache)
        for label in ["cold cache", "warm cache"] {
            let r = try Bench.spawn(python, [script, safety, general, root.appendingPathComponent("out-datasets.jsonl").path, cache.path, "42"], cwd: root)
            guard r.status == 0 else { print("datasets run failed (exit \(r.status))"); return }
            print(String(format: "datasets (%@): %.2f s, %.0f records/s, peak RSS %.0f MiB — mixmerge is %.1f× faster",
                label, r.seconds, Double(o.records) / r.seconds, Double(r.maxRSSKiB) / 1024, r.seconds / m.seconds))
        }
        try? FileManager.default.removeItem(at: cache)
    }

    static func pythonHasDatasets(_ python: String) -> Bool {
        (try? Bench.spawn(python, ["-c", "import datasets"], cwd: URL(fileURLWithPath: "/"), silenceStderr: true).status) == 0
    }
}
