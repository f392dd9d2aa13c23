import Checkpoints
import Foundation
import Models
import Tensors

/// `mixmerge-bench infer`: a synthetic ≈0.5 B-parameter bf16 Llama-layout model made by our writer;
/// prefill of 512 tokens, decode of 128 (one stream and 8 concurrent, batched); tokens/s, peak RSS, and
/// the two limits: decode against the memory-bandwidth roofline (weight bytes per step ÷ the read
/// bandwidth measured in the same run), prefill against the cores' FMA peak (measured too). When
/// PYTHON imports transformers and torch, the same model and token counts through transformers on the
/// CPU (`tools/bench_transformers_infer.py`).
enum InferBench {
    struct Options {
        var dir = "bench-work/infer"
        var layers = 24
        var hidden = 1024
        var intermediate = 4096
        var vocab = 32000
        var heads = 16
        var kvHeads = 4
        var prompt = 512
        var decode = 128
        var streams = 8
        var repeats = 2
        var threads = ParallelFor.defaultThreads
        var python: String? = ProcessInfo.processInfo.environment["MIXMERGE_BENCH_PYTHON"]
    }

    static func main(_ arguments: [String]) {
        if arguments.first == "--child" {
            child(Array(arguments.dropFirst()))
            return
        }
        var o = Options()
        var args = arguments.makeIterator()
        while let a = args.next() {
            func value() -> String {
                guard let v = args.next() else { Bench.die("\(a) needs a value") }
                return v
            }
            func int() -> Int {
                guard let n = Int(value()), n > 0 else { Bench.die("\(a) needs a positive number") }
                return n
            }
            switch a {
            case "--dir": o.dir = value()
            case "--layers": o.layers = int()
            case "--hidden": o.hidden = int()
            case "--intermediate": o.intermediate = int()
            case "--vocab": o.vocab = int()
            case "--heads": o.heads = int()
            case "--kv-heads": o.kvHeads = int()
            case "--prompt": o.prompt = int()
            case "--decode": o.decode = int()
            case "--streams": o.streams = int()
            case "--repeat": o.repeats = int()
            case "--threads": o.threads = int()
            case "--python": o.python = value()
            case "-h", "--help":
                print("""
                    usage: mixmerge-bench infer [--dir DIR] [--layers N] [--hidden N] [--intermediate N] [--vocab N]
                                                [--heads N] [--kv-heads N] [--prompt N] [--decode N] [--streams N]
                                                [--repeat N] [--threads N] [--python PYTHON]
                    Makes the model in DIR (kept for later runs), measures read bandwidth and FMA peak, then prefill
                    and decode speed in a child process (its own peak RSS), and transformers on the same model when
                    PYTHON (or $MIXMERGE_BENCH_PYTHON) imports torch and transformers.
                    """)
                return
            default: Bench.die("unknown option \(a) (see mixmerge-bench infer --help)")
            }
        }
        do { try run(o) } catch { Bench.die("\(error)") }
    }

    static func run(_ o: Options) throws {
        var layout = Bench.Options()
        layout.layers = o.layers
        layout.hidden = o.hidden
        layout.intermediate = o.intermediate
        layout.vocab = o.vocab
        layout.heads = o.heads
        layout.kvHeads = o.kvHeads
        let model = LlamaLayout(layout)
        let url = URL(fileURLWithPath: o.dir).appendingPathComponent("model")
        if try model.write(to: url, seed: 0, threads: o.threads) { print("wrote \(url.path)") }
        let params = model.parameters
        let weightBytes = Bench.folderBytes(url)
        print(String(format: "model: Llama layout, %d layers, hidden %d, MLP %d, vocab %d, %d heads / %d KV heads: %.3f B parameters, bf16 (%.2f GB)",
                     o.layers, o.hidden, o.intermediate, o.vocab, o.heads, o.kvHeads, Double(params) / 1e9, Double(weightBytes) / 1e9))

        // The limits, measured in this run.
        _ = Bench.measureRead([url])
        var readSeconds = Double.infinity
        for _ in 0..<3 { readSeconds = min(readSeconds, Bench.measureRead([url])) }
        let bandwidth = Double(weightBytes) / readSeconds
        let peak1 = fmaPeak(threads: 1), peakAll = fmaPeak(threads: o.threads)
        if ProcessInfo.processInfo.environment["MIXMERGE_BENCH_LIMITS_ONLY"] != nil {
            print(String(format: "FMA peak %.0f GFLOP/s on 1 core, %.0f on %d; read %.1f GB/s", peak1 / 1e9, peakAll / 1e9, o.threads, bandwidth / 1e9))
            return
        }
        print(String(format: "limits: read bandwidth %.1f GB/s (warm page cache, mapped); FMA peak %.0f GFLOP/s on 1 core, %.0f on %d",
                     bandwidth / 1e9, peak1 / 1e9, peakAll / 1e9, o.threads))
        // Every decode step reads all weights but the embedding table (one row of it).
        let embedBytes = o.vocab * o.hidden * 2
        let stepBytes = Double(weightBytes - embedBytes)
        let roofline = bandwidth / stepBytes
        let flopsPerToken = 2.0 * Double(params - o.vocab * o.hidden)

        guard let me = Bundle.main.executablePath else { Bench.die("cannot find this executable") }
        let args = ["infer", "--child", url.path, "\(o.prompt)", "\(o.decode)", "\(o.streams)", "\(o.repeats)", "\(o.threads)"]
        let r = try Bench.spawn(me, args, cwd: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        guard r.status == 0, let result = try? JSONSerialization.jsonObject(with: r.output) as? [String: Double] else {
            Bench.die("the measuring child failed (status \(r.status)): \(String(decoding: r.output, as: UTF8.self))")
        }
        let prefill = result["prefill_tokens_per_s"] ?? 0, one = result["decode_tokens_per_s"] ?? 0
        let many = result["decode_batch_tokens_per_s"] ?? 0, rss = result["peak_rss_bytes"] ?? 0
        let kv = Double(o.layers * 2 * o.kvHeads * (o.hidden / o.heads) * 4 * (o.prompt + o.decode) * o.streams)
        print("")
        print("| engine | prefill \(o.prompt) tok | decode, 1 stream | decode, \(o.streams) streams | peak RSS |")
        print("| --- | --- | --- | --- | --- |")
        print(String(format: "| mixmerge | %.0f tok/s (%.0f GFLOP/s, %.0f%% of FMA peak) | %.1f tok/s (%.0f%% of the %.1f tok/s roofline) | %.1f tok/s (%.2f× one stream) | %.0f MiB (weights %.0f + KV %.0f MiB) |",
                     prefill, prefill * flopsPerToken / 1e9, 100 * prefill * flopsPerToken / peakAll, one, 100 * one / roofline, roofline,
                     many, many / max(one, 1e-9), rss / 1048576, Double(weightBytes) / 1048576, kv / 1048576))
        if let python = o.python ?? Bench.which("python3") {
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("tools/bench_transformers_infer.py").path
            let t = try Bench.spawn(python, [script, url.path, "\(o.prompt)", "\(o.decode)", "\(o.streams)", "\(o.threads)"],
                                    cwd: URL(fileURLWithPath: FileManager.default.currentDirectoryPath), silenceStderr: true)
            if t.status == 0, let hf = try? JSONSerialization.jsonObject(with: t.output) as? [String: Any] {
                let p = hf["prefill_tokens_per_s"] as? Double ?? 0, d1 = hf["decode_tokens_per_s"] as? Double ?? 0
                let d8 = hf["decode_batch_tokens_per_s"] as? Double ?? 0
                print(String(format: "| transformers %@ (torch %@, %@, %d threads) | %.0f tok/s | %.1f tok/s | %.1f tok/s | %.0f MiB |",
                             hf["transformers"] as? String ?? "?", hf["torch"] as? String ?? "?", hf["dtype"] as? String ?? "?", o.threads,
                             p, d1, d8, Double(t.maxRSSKiB) / 1024))
                print(String(format: "mixmerge / transformers: prefill %.2f×, decode %.2f×, %d streams %.2f×", prefill / max(p, 1e-9),
                             one / max(d1, 1e-9), o.streams, many / max(d8, 1e-9)))
            } else {
                print("(transformers not measured: \(python) could not run tools/bench_transformers_infer.py — needs torch and transformers)")
            }
        }
        if let python = o.python ?? Bench.which("python3") {
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("tools/bench_llamacpp_infer.py").path
            let t = try Bench.spawn(python, [script, url.path, "\(o.prompt)", "\(o.decode)", "\(o.threads)"],
                                    cwd: URL(fileURLWithPath: FileManager.default.currentDirectoryPath), silenceStderr: true)
            if t.status == 0, let line = String(decoding: t.output, as: UTF8.self).split(separator: "\n").last,
               let cpp = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] {
                let p = cpp["prefill_tokens_per_s"] as? Double ?? 0, d1 = cpp["decode_tokens_per_s"] as? Double ?? 0
                print(String(format: "| llama.cpp (llama-cpp-python %@, bf16 GGUF, %d threads) | %.0f tok/s | %.1f tok/s | — | %.0f MiB |",
                             cpp["llama_cpp"] as? String ?? "?", o.threads, p, d1, Double(t.maxRSSKiB) / 1024))
                print(String(format: "mixmerge / llama.cpp: prefill %.2f×, decode %.2f×", prefill / max(p, 1e-9), one / max(d1, 1e-9)))
            } else {
                print("(llama.cpp not measured: \(python) could not run tools/bench_llamacpp_infer.py — needs llama-cpp-python and gguf)")
            }
        }
    }

    /// The measuring child: loads the model, then prefill, one decoded stream, and `streams` decoded together.
    static func child(_ a: [String]) {
        guard a.count == 6, let prompt = Int(a[1]), let decode = Int(a[2]), let streams = Int(a[3]), let repeats = Int(a[4]),
              let threads = Int(a[5]) else { Bench.die("bad child arguments") }
        do {
            let model = try LanguageModel.load(folder: URL(fileURLWithPath: a[0]), threads: threads)
            var random = Xoshiro256StarStar(seed: 1)
            func ids(_ n: Int) -> [Int] { (0..<n).map { _ in 3 + random.below(model.config.vocabSize - 3) } }
            let promptIds = ids(prompt)
            func seconds(_ body: () throws -> Void) rethrows -> Double {
                var best = Double.infinity
                for _ in 0..<repeats {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    try body()
                    best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
                }
                return best
            }
            let prefill = try seconds {
                var cache = model.makeCache(reservingPositions: prompt + decode)
                _ = try model.prefill(promptIds, cache: &cache)
            }
            // Decode after a short prompt (the roofline case: weights dominate the traffic).
            let start = Array(promptIds.prefix(16))
            let one = try seconds {
                var cache = model.makeCache(reservingPositions: start.count + decode)
                var logits = try model.prefill(start, cache: &cache)
                for _ in 0..<decode { logits = try model.decode(LanguageModel.argmax(logits), cache: &cache) }
            }
            let many = try seconds {
                var caches = (0..<streams).map { _ in model.makeCache(reservingPositions: start.count + decode) }
                var next: [Int] = []
                for s in 0..<streams {
                    let l = try model.prefill(Array(promptIds[s..<(s + 16)]), cache: &caches[s])
                    next.append(LanguageModel.argmax(l))
                }
                for _ in 0..<decode { next = try model.decode(next, caches: &caches).map { LanguageModel.argmax($0) } }
            }
            let result: [String: Double] = [
                "prefill_tokens_per_s": Double(prompt) / prefill,
                "decode_tokens_per_s": Double(decode) / one,
                "decode_batch_tokens_per_s": Double(decode * streams) / many,
                "peak_rss_bytes": Double(peakResidentBytes() ?? 0),
            ]
            let data = try JSONSerialization.data(withJSONObject: result)
            FileHandle.standardOutput.write(data)
        } catch {
            Bench.die("\(error)")
        }
    }

    /// GFLOP/s of independent SIMD8 FMAs: 12 accumulators per thread (FMA latency 4 × 2 pipes, with
    /// room), in a function of its own so the accumulators stay in registers.
    static func fmaPeak(threads: Int) -> Double {
        let iterations = 20_000_000
        var best = 0.0
        for _ in 0..<3 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            ParallelFor.run(count: threads, threads: threads) { _ in
                if fmaKernel(iterations) == 42 { print("") }
            }
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            best = max(best, Double(threads * iterations * 12 * 8 * 2) / dt)
        }
        return best
    }

    @inline(never)
    static func fmaKernel(_ iterations: Int) -> Float {
        var a0 = SIMD8<Float>(repeating: 1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0
        var a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0
        let m = SIMD8<Float>(repeating: 0.999_999), c = SIMD8<Float>(repeating: 1e-7)
        for _ in 0..<iterations {
            a0 = a0.addingProduct(c, m); a1 = a1.addingProduct(c, m); a2 = a2.addingProduct(c, m)
            a3 = a3.addingProduct(c, m); a4 = a4.addingProduct(c, m); a5 = a5.addingProduct(c, m)
            a6 = a6.addingProduct(c, m); a7 = a7.addingProduct(c, m); a8 = a8.addingProduct(c, m)
            a9 = a9.addingProduct(c, m); a10 = a10.addingProduct(c, m); a11 = a11.addingProduct(c, m)
        }
        return (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11).sum()
    }
}
