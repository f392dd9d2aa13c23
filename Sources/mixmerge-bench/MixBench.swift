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
        /// `jsonl`, or `parquet`: the same records rewritten by pyarrow (tools/make_bench_parquet.py).
        var input = "jsonl"
        /// The Parquet files' codec: `snappy` (the hub's default) or `none` (a bigger file, no decompression).
        var codec = "snappy"
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
            case "--input":
                o.input = value()
                guard ["jsonl", "parquet"].contains(o.input) else { Bench.die("--input is jsonl or parquet, not \(o.input)") }
            case "--parquet-codec":
                o.codec = value()
                guard ["snappy", "none", "zstd"].contains(o.codec) else { Bench.die("--parquet-codec is snappy, zstd or none, not \(o.codec)") }
            case "-h", "--help":
                print("""
                    usage: mixmerge-bench mix [--dir DIR] [--records N] [--threads N] [--repeat N] [--python PYTHON] [--input jsonl|parquet] [--parquet-codec snappy|zstd|none]
                    Writes N synthetic records (default 1,000,000 ≈ 1 GB; kept in DIR for later runs), builds a
                    15 % safety mixture with the mixmerge binary next to this one, and runs Python's datasets
                    equivalent when PYTHON (default: python3 on PATH, or $MIXMERGE_BENCH_PYTHON) imports datasets.
                    With --input parquet, PYTHON's pyarrow rewrites the records as Parquet (--parquet-codec, default
                    snappy; row groups of 10,000; kept in DIR), both tools read the Parquet, and the mixture is checked
                    byte-identical to the one mixmerge makes from the JSONL.
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
        let jsonlBytes = [safety, general].reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0) }
        print(String(format: "input: %d records, %.2f GB of JSONL (15 %% safety, 85 %% general; six languages)", o.records, Double(jsonlBytes) / 1e9))
        let tools = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("tools")
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("mixmerge").path
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw MixError("\(binary) not found: build the mixmerge product first") }
        var inputs = (safety: safety, general: general)
        var bytes = jsonlBytes
        var reference: URL?  // the mixture made from the JSONL, which the Parquet one must equal
        if o.input == "parquet" {
            guard let python = o.python ?? Bench.which("python3"),
                  (try? Bench.spawn(python, ["-c", "import pyarrow"], cwd: URL(fileURLWithPath: "/"), silenceStderr: true).status) == 0
            else { throw MixError("--input parquet needs a python with pyarrow (--python or MIXMERGE_BENCH_PYTHON)") }
            let suffix = o.codec == "snappy" ? ".parquet" : ".\(o.codec).parquet"
            for path in [safety, general] where !FileManager.default.fileExists(atPath: path + suffix) {
                let r = try Bench.spawn(python, [tools.appendingPathComponent("make_bench_parquet.py").path, path, path + suffix, o.codec], cwd: root)
                guard r.status == 0 else { throw MixError("pyarrow could not write \(path)\(suffix) (exit \(r.status))") }
                print(String(format: "pyarrow wrote %@%@ in %.1f s", path, suffix, r.seconds))
            }
            inputs = (safety + suffix, general + suffix)
            let sizes = [inputs.safety, inputs.general].map { (try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int) ?? 0 }
            bytes = sizes.reduce(0, +)
            print(String(format: "input as Parquet: %.2f GB (%@, row groups of 10,000; the larger file %.2f GB)",
                         Double(bytes) / 1e9, o.codec, Double(sizes.max() ?? 0) / 1e9))
            let config = root.appendingPathComponent("bench-mix-jsonl.yml")
            try mixConfig(safety, general).write(to: config, atomically: true, encoding: .utf8)
            reference = root.appendingPathComponent("out-mixmerge-jsonl")
            let r = try Bench.spawn(binary, ["mix", config.path, reference!.path, "--overwrite", "--json", "--threads", "\(o.threads)"], cwd: root)
            guard r.status == 0 else { throw MixError("mixmerge mix on the JSONL failed (exit \(r.status))") }
            print(String(format: "mixmerge mix from the JSONL (for the comparison): %.2f s", r.seconds))
        }

        let config = root.appendingPathComponent("bench-mix.yml")
        try mixConfig(inputs.safety, inputs.general).write(to: config, atomically: true, encoding: .utf8)
        let out = root.appendingPathComponent("out-mixmerge")
        var best: Bench.ChildResult?
        for _ in 0..<o.repeats {
            let r = try Bench.spawn(binary, ["mix", config.path, out.path, "--overwrite", "--json", "--threads", "\(o.threads)"], cwd: root)
            guard r.status == 0 else { throw MixError("mixmerge mix failed (exit \(r.status))") }
            if best == nil || r.seconds < best!.seconds { best = r }
        }
        let m = best!
        let rss = Double(m.reportedPeakRSS ?? m.maxRSSKiB * 1024) / 1_048_576
        print(String(format: "mixmerge mix (%@): %.2f s (best of %d), %.0f records/s, %.0f MB/s of input, peak RSS %.0f MiB, %d threads",
            o.input, m.seconds, o.repeats, Double(o.records) / m.seconds, Double(bytes) / m.seconds / 1e6, rss, o.threads))
        if let reference {
            let names = ["safety-15/train.sft.jsonl", "safety-15/train.meta.jsonl"]
            for name in names {
                let a = reference.appendingPathComponent(name), b = out.appendingPathComponent(name)
                guard let x = FileManager.default.contents(atPath: a.path), var y = FileManager.default.contents(atPath: b.path) else {
                    throw MixError("missing \(name) in \(reference.path) or \(out.path)")
                }
                // The meta lines name each record's origin file: the same records, one file name apart.
                if name.hasSuffix("meta.jsonl") {
                    y = Data(String(decoding: y, as: UTF8.self).replacingOccurrences(of: inputs.safety + ":", with: safety + ":")
                        .replacingOccurrences(of: inputs.general + ":", with: general + ":").utf8)
                }
                guard x == y else { throw MixError("the mixture from Parquet differs from the one from JSONL: \(name)") }
                print("\(name) from Parquet: byte-identical to the mixture from the JSONL (\(x.count) bytes\(name.hasSuffix("meta.jsonl") ? ", origin file names aside" : ""))")
            }
        }

        guard let python = o.python ?? Bench.which("python3"), pythonHasDatasets(python) else {
            print("python with `datasets` not found (set --python or MIXMERGE_BENCH_PYTHON): comparison skipped")
            return
        }
        let script = tools.appendingPathComponent("bench_datasets_mix.py").path
        let cache = root.appendingPathComponent("hf-cache")
        try? FileManager.default.removeItem(at: cache)
        for label in ["cold cache", "warm cache"] {
            let r = try Bench.spawn(python, [script, inputs.safety, inputs.general, root.appendingPathComponent("out-datasets.jsonl").path, cache.path, "42", o.input == "parquet" ? "parquet" : "json"], cwd: root)
            guard r.status == 0 else { print("datasets run failed (exit \(r.status))"); return }
            print(String(format: "datasets (%@): %.2f s, %.0f records/s, peak RSS %.0f MiB — mixmerge is %.1f× faster",
                label, r.seconds, Double(o.records) / r.seconds, Double(r.maxRSSKiB) / 1024, r.seconds / m.seconds))
        }
        try? FileManager.default.removeItem(at: cache)
    }

    static func mixConfig(_ safety: String, _ general: String) -> String {
        """
        seed: 42
        dedup: normalized
        sources:
          - {name: safety, path: \(safety), format: ultrafeedback, objective: safety}
          - {name: general, path: \(general), format: ultrafeedback, objective: general}
        mixtures:
          - {name: safety-15, shares: {safety: 0.15}, kinds: [sft]}
        """
    }

    static func pythonHasDatasets(_ python: String) -> Bool {
        (try? Bench.spawn(python, ["-c", "import datasets"], cwd: URL(fileURLWithPath: "/"), silenceStderr: true).status) == 0
    }
}
