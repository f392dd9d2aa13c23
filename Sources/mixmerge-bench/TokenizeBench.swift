import Foundation
import Tensors
import Tokenizers

/// `mixmerge-bench tokenize`: encode throughput (MB/s of UTF-8 input, one thread and all cores) of the
/// four fixture tokenizers on the multilingual text of their reference strings, against the Rust
/// `tokenizers` library on the same files in the same run (`tools/bench_tokenize.py`), and a 10 MB
/// single-line input (linear time: its MB/s should match a 1 MB one).
enum TokenizeBench {
    static func main(_ arguments: [String]) {
        var megabytes = 4
        var repeats = 3
        var python = ProcessInfo.processInfo.environment["MIXMERGE_BENCH_PYTHON"]
        var dir = "bench-work/tokenize"
        var args = arguments.makeIterator()
        while let a = args.next() {
            func value() -> String {
                guard let v = args.next() else { Bench.die("\(a) needs a value") }
                return v
            }
            switch a {
            case "--megabytes": megabytes = max(1, Int(value()) ?? megabytes)
            case "--repeat": repeats = max(1, Int(value()) ?? repeats)
            case "--python": python = value()
            case "--dir": dir = value()
            case "-h", "--help":
                print("""
                    usage: mixmerge-bench tokenize [--megabytes N] [--repeat N] [--python PYTHON] [--dir DIR]
                    Builds an N-MB corpus (default 4) per fixture tokenizer from its reference strings, times encode
                    (one thread, then encodeBatch on all cores) and a 10 MB single line, and runs the Rust tokenizers
                    library on the same files when PYTHON (or $MIXMERGE_BENCH_PYTHON, or python3) imports it.
                    """)
                return
            default: Bench.die("unknown option \(a) (see mixmerge-bench tokenize --help)")
            }
        }
        do { try run(megabytes: megabytes, repeats: repeats, python: python ?? Bench.which("python3"), dir: dir) } catch {
            Bench.die("\(error)")
        }
    }

    static func run(megabytes: Int, repeats: Int, python: String?, dir: String) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let fixtures = root.appendingPathComponent("fixtures/tokenizers")
        let work = URL(fileURLWithPath: dir)
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let cores = ParallelFor.defaultThreads
        let script = root.appendingPathComponent("tools/bench_tokenize.py").path
        print("encode throughput, MB/s of UTF-8 input (add_special_tokens=False; best of \(repeats)); \(cores) cores")
        print("")
        print("| tokenizer | corpus | mixmerge 1 thread | mixmerge \(cores) threads | tokenizers 1 thread (encode / batch) | tokenizers \(cores) threads | 1 thread vs Rust | 10 MB single line | 1 MB single line |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for style in ["llama3", "qwen2", "cohere", "sentencepiece"] {
            let tokenizerURL = fixtures.appendingPathComponent("\(style)/tokenizer.json")
            let tokenizer = try Tokenizer(contentsOf: tokenizerURL)
            let lines = try corpus(fixtures.appendingPathComponent("\(style)/reference.json"), bytes: megabytes << 20)
            let file = work.appendingPathComponent("\(style).txt")
            try Data(lines.joined(separator: "\n").utf8).write(to: file)
            let bytes = Double(lines.reduce(0) { $0 + $1.utf8.count })
            let single = best(repeats) { for l in lines { _ = tokenizer.encode(l, addSpecialTokens: false) } }
            let batch = best(repeats) { _ = tokenizer.encodeBatch(lines, addSpecialTokens: false, threads: cores) }
            var long = lines.joined(separator: " ")
            while long.utf8.count < 10 << 20 { long += " " + long }
            let tenMB = String(decoding: Array(long.utf8.prefix(10 << 20)), as: UTF8.self)
            let oneMB = String(decoding: Array(long.utf8.prefix(1 << 20)), as: UTF8.self)
            let longRate = Double(tenMB.utf8.count) / best(1) { _ = tokenizer.encode(tenMB, addSpecialTokens: false) } / 1e6
            let shortRate = Double(oneMB.utf8.count) / best(repeats) { _ = tokenizer.encode(oneMB, addSpecialTokens: false) } / 1e6
            var rust = "not measured"
            var rustAll = "—"
            var ratio = "—"
            if let python, let r = try? Bench.spawn(python, [script, tokenizerURL.path, file.path, "--repeat", "\(repeats)"],
                                                      cwd: work, silenceStderr: true),
               r.status == 0, let line = String(decoding: r.output, as: UTF8.self).split(separator: "\n").last,
               let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
               let e = json["single_encode_mb_s"] as? Double, let b = json["single_batch_mb_s"] as? Double,
               let a = json["all_cores_batch_mb_s"] as? Double
            {
                rust = String(format: "%.1f / %.1f (%@)", e, b, json["version"] as? String ?? "?")
                rustAll = String(format: "%.1f", a)
                ratio = String(format: "%.2f×", (bytes / single / 1e6) / max(e, b))
            }
            print(String(format: "| %@ | %.1f MB, %d lines | %.1f | %.1f | %@ | %@ | %@ | %.1f | %.1f |", style, bytes / 1e6, lines.count,
                         bytes / single / 1e6, bytes / batch / 1e6, rust, rustAll, ratio, longRate, shortRate))
        }
    }

    /// The reference strings' lines, shuffled with a fixed seed and repeated up to `bytes`.
    static func corpus(_ reference: URL, bytes: Int) throws -> [String] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: reference)) as? [String: Any]
        let cases = json?["cases"] as? [[String: Any]] ?? []
        var pool: [String] = []
        for c in cases {
            guard let text = c["text"] as? String else { continue }
            for line in text.split(separator: "\n") where !line.trimmingCharacters(in: .whitespaces).isEmpty { pool.append(String(line)) }
        }
        guard !pool.isEmpty else { throw BenchError("\(reference.path): no reference strings") }
        var random = Xoshiro256StarStar(seed: 11)
        var out: [String] = []
        var total = 0
        while total < bytes {
            random.shuffle(&pool)
            for l in pool where total < bytes {
                out.append(l)
                total += l.utf8.count + 1
            }
        }
        return out
    }

    static func best(_ repeats: Int, _ body: () -> Void) -> Double {
        var t = Double.infinity
        for _ in 0..<repeats {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            t = min(t, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        return t
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
