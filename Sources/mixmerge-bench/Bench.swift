import Checkpoints
import Foundation
import Tensors

#if canImport(Glibc)
import Glibc
#endif

/// `mixmerge-bench`: synthetic ≈1 B-parameter bf16 Llama-layout checkpoints, the I/O floor, and
/// mixmerge (and mergekit, when `mergekit-yaml` is on PATH) merging them, all in one run.
@main
struct Bench {
    struct Options {
        var dir = "bench-work"
        var layers = 22
        var hidden = 2048
        var intermediate = 5632
        var vocab = 32000
        var kvHeads = 4
        var heads = 32
        var threads = ParallelFor.defaultThreads
        var keep = false
        var clean = false
        var repeats = 3
        var methods = ["linear", "slerp", "task_arithmetic", "ties", "dare_ties", "sweep5"]
        var mergekit = true
        var cold = false
    }

    static func main() {
        if CommandLine.arguments.dropFirst().first == "mix" {
            MixBench.main(Array(CommandLine.arguments.dropFirst(2)))
            return
        }
        if CommandLine.arguments.dropFirst().first == "kernels" {
            KernelBench.main(Array(CommandLine.arguments.dropFirst(2)))
            return
        }
        if CommandLine.arguments.dropFirst().first == "tokenize" {
            TokenizeBench.main(Array(CommandLine.arguments.dropFirst(2)))
            return
        }
        if CommandLine.arguments.dropFirst().first == "infer" {
            InferBench.main(Array(CommandLine.arguments.dropFirst(2)))
            return
        }
        if CommandLine.arguments.dropFirst().first == "train" {
            TrainBench.main(Array(CommandLine.arguments.dropFirst(2)))
            return
        }
        if CommandLine.arguments.dropFirst().first == "eval" {
            EvalBench.main(Array(CommandLine.arguments.dropFirst(2)))
            return
        }
        var o = Options()
        var args = CommandLine.arguments.dropFirst().makeIterator()
        while let a = args.next() {
            func value() -> String {
                guard let v = args.next() else { die("\(a) needs a value") }
                return v
            }
            switch a {
            case "--dir": o.dir = value()
            case "--layers": o.layers = Int(value()) ?? o.layers
            case "--hidden": o.hidden = Int(value()) ?? o.hidden
            case "--intermediate": o.intermediate = Int(value()) ?? o.intermediate
            case "--vocab": o.vocab = Int(value()) ?? o.vocab
            case "--heads": o.heads = Int(value()) ?? o.heads
            case "--kv-heads": o.kvHeads = Int(value()) ?? o.kvHeads
            case "--threads": o.threads = Int(value()) ?? o.threads
            case "--methods": o.methods = value().split(separator: ",").map(String.init)
            case "--keep": o.keep = true
            case "--clean": o.clean = true
            case "--repeat": o.repeats = max(1, Int(value()) ?? o.repeats)
            case "--no-mergekit": o.mergekit = false
            case "--cold": o.cold = true
            case "-h", "--help":
                print("""
                    usage: mixmerge-bench [--dir DIR] [--layers N] [--hidden N] [--intermediate N] [--vocab N] [--heads N] [--kv-heads N]
                                          [--threads N] [--methods linear,slerp,task_arithmetic] [--repeat N]
                                          [--keep] [--clean] [--no-mergekit] [--cold]
                    Defaults make three TinyLlama-shaped (1.1 B parameters, bf16) checkpoints in ./bench-work
                    (kept and reused by later runs; --clean deletes them at the end), and report the best of
                    --repeat runs (default 3) for mixmerge and the I/O floor, one run for mergekit.
                    --keep also keeps the merged outputs. --cold empties the page cache before every timed run
                    (needs root), so inputs come from disk, as for models larger than the page cache.
                    """)
                return
            default: die("unknown option \(a) (see --help)")
            }
        }
        do { try run(o) } catch { die("\(error)") }
    }

    static func die(_ message: String) -> Never {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        exit(1)
    }

    static func run(_ o: Options) throws {
        let root = URL(fileURLWithPath: o.dir).standardizedFileURL
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let layout = LlamaLayout(o)
        print(String(format: "model: Llama layout, %d layers, hidden %d, MLP %d, vocab %d: %.3f B parameters, bf16 (%.2f GB per checkpoint)",
            o.layers, o.hidden, o.intermediate, o.vocab, Double(layout.parameters) / 1e9, Double(layout.parameters * 2) / 1e9))
        var models: [URL] = []
        for (i, name) in ["base", "ft1", "ft2"].enumerated() {
            let url = root.appendingPathComponent(name)
            let t0 = Date()
            if try layout.write(to: url, seed: UInt64(i), threads: o.threads) {
                print(String(format: "made %@ in %.1f s", name, Date().timeIntervalSince(t0)))
            }
            models.append(url)
        }
        let inputBytes = models.map { folderBytes($0) }
        let configs = writeConfigs(root, o.methods)

        // The I/O floor: read each merge's inputs once, write one output once.
        let outputBytes = inputBytes[0]
        if !o.cold { _ = measureRead(models) }  // warm the page cache, as the merges will find it
        var readTime = Double.infinity, writeTime = Double.infinity
        for _ in 0..<o.repeats {
            sync()
            if o.cold { dropPageCache() }
            readTime = min(readTime, measureRead(models))
            sync()
            writeTime = min(writeTime, try measureWrite(root.appendingPathComponent("floor.bin"), bytes: outputBytes))
        }
        let floor3 = readTime + writeTime  // three inputs
        let floor2 = readTime * 2 / 3 + writeTime  // slerp reads two
        print(String(format: "I/O floor (%@ page cache): read 3 inputs %.2f s (%.1f GB/s), write 1 output %.2f s (%.1f GB/s)",
            o.cold ? "cold" : "warm", readTime, Double(inputBytes.reduce(0, +)) / 1e9 / readTime, writeTime, Double(outputBytes) / 1e9 / writeTime))

        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("mixmerge")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            die("\(binary.path) not found: build it first (swift build -c release)")
        }
        let mergekit = o.mergekit ? which("mergekit-yaml") : nil
        if o.mergekit && mergekit == nil { print("mergekit-yaml not on PATH: mergekit columns skipped") }
        print("")
        print("method            mixmerge   GB/s  peak RSS  ×floor  user+sys | mergekit  peak RSS  speed-up  outputs")
        var linearTime: Double?
        for (method, config) in configs {
            let out = root.appendingPathComponent("out-\(method)")
            var ours = ChildResult(status: 0, seconds: .infinity, maxRSSKiB: 0, reportedPeakRSS: nil)
            for _ in 0..<o.repeats {
                try? FileManager.default.removeItem(at: out)
                sync()  // each timed run starts with no dirty pages from the previous one
                if o.cold { dropPageCache() }
                let run = try spawn(binary.path, ["merge", config.path, out.path, "--json", "--threads", String(o.threads)], cwd: root)
                guard run.status == 0 else { die("mixmerge failed on \(method): exit \(run.status)") }
                if run.seconds < ours.seconds {
                    ours.seconds = run.seconds
                    (ours.userSeconds, ours.systemSeconds) = (run.userSeconds, run.systemSeconds)
                }
                ours.maxRSSKiB = max(ours.maxRSSKiB, run.maxRSSKiB)
                ours.reportedPeakRSS = max(ours.reportedPeakRSS ?? 0, run.reportedPeakRSS ?? 0)
            }
            var floor = method == "slerp" ? floor2 : floor3
            if method == "sweep5" {
                // Five outputs written back to back exceed the page cache's dirty limits, so the
                // floor is measured the same way: one pass of reads, five outputs' bytes written.
                sync()
                floor = readTime + (try measureWrite(root.appendingPathComponent("floor.bin"), bytes: 5 * outputBytes))
            }
            let moved = Double(folderBytes(out) + (method == "slerp" ? inputBytes[0] + inputBytes[2] : inputBytes.reduce(0, +)))
            if method == "linear" { linearTime = ours.seconds }
            let rss = ours.reportedPeakRSS.map { Double($0) / 1_048_576 } ?? Double(ours.maxRSSKiB) / 1024
            var line = method.padding(toLength: 16, withPad: " ", startingAt: 0) + String(format: " %7.2f s %6.1f %7.0f MiB %6.2f %4.1f+%.1f s", ours.seconds, moved / 1e9 / ours.seconds,
                rss, ours.seconds / floor, ours.userSeconds, ours.systemSeconds)
            if let mergekit, method != "sweep5" {
                let theirOut = root.appendingPathComponent("mergekit-\(method)")
                try? FileManager.default.removeItem(at: theirOut)
                sync()
                if o.cold { dropPageCache() }
                let theirs = try spawn(mergekit, [config.path, theirOut.path, "--random-seed", "0", "--no-write-model-card", "-j", String(o.threads)], cwd: root, silenceStderr: true)

                if theirs.status == 0 {
                    let same = compareOutputs(out, theirOut)
                    line += String(format: " | %7.2f s %6.0f MiB %7.1f×  %@", theirs.seconds, Double(theirs.maxRSSKiB) / 1024,
                        theirs.seconds / ours.seconds, same)
                } else {
                    line += " | mergekit failed (exit \(theirs.status))"
                }
                if !o.keep { try? FileManager.default.removeItem(at: theirOut) }
            }
            if method != "linear", let linearTime { line += String(format: "  (%.2f× linear)", ours.seconds / linearTime) }
            print(line)
            if !o.keep { try? FileManager.default.removeItem(at: out) }
        }
        print("\nBest of \(o.repeats) runs for mixmerge and the floor, \(o.threads) threads. ×floor = mixmerge wall time / (reading its")
        print("inputs once + writing its output once), measured in this run; user+sys = CPU seconds of mixmerge's best run")
        print("(wall time ≥ their sum / threads); speed-up = mergekit time / mixmerge time.")
        if o.clean {
            for m in models { try? FileManager.default.removeItem(at: m) }
            for (_, c) in configs { try? FileManager.default.removeItem(at: c) }
        }
        try? FileManager.default.removeItem(at: root.appendingPathComponent("floor.bin"))
    }

    static func writeConfigs(_ root: URL, _ methods: [String]) -> [(String, URL)] {
        let linear = """
            merge_method: linear
            models:
              - {model: base, parameters: {weight: 0.2}}
              - {model: ft1, parameters: {weight: 0.4}}
              - {model: ft2, parameters: {weight: 0.4}}
            dtype: bfloat16
            """
        func sparse(_ method: String) -> String {
            """
            merge_method: \(method)
            base_model: base
            models:
              - {model: ft1, parameters: {weight: 0.7, density: 0.5}}
              - {model: ft2, parameters: {weight: 0.3, density: 0.5}}
            dtype: bfloat16
            """
        }
        let texts: [String: String] = [
            "linear": linear,
            "slerp": """
                merge_method: slerp
                base_model: base
                models:
                  - {model: base}
                  - {model: ft2}
                parameters:
                  t: [0, 0.5, 0.3, 0.7, 1]
                dtype: bfloat16
                """,
            "task_arithmetic": """
                merge_method: task_arithmetic
                base_model: base
                models:
                  - {model: ft1, parameters: {weight: 0.7}}
                  - {model: ft2, parameters: {weight: 0.3}}
                dtype: bfloat16
                """,
            // The paper's weight grid as one run: five complete models.
            "sweep5": linear + """

                variants:
                  - {name: a, models: {ft1: {weight: 0.0}, ft2: {weight: 1.0}}}
                  - {name: b, models: {ft1: {weight: 0.3}, ft2: {weight: 0.7}}}
                  - {name: c}
                  - {name: d, models: {ft1: {weight: 0.7}, ft2: {weight: 0.3}}}
                  - {name: e, models: {ft1: {weight: 1.0}, ft2: {weight: 0.0}}}
                """,
            "ties": sparse("ties"),
            "dare_ties": sparse("dare_ties"),
        ]
        return methods.compactMap { m in
            guard let text = texts[m] else { return nil }
            let url = root.appendingPathComponent("bench-\(m).yml")
            try? Data((text + "\n").utf8).write(to: url)
            return (m, url)
        }
    }

    static func folderBytes(_ url: URL) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        let subfolders = names.filter { n in
            var d: ObjCBool = false
            return FileManager.default.fileExists(atPath: url.appendingPathComponent(n).path, isDirectory: &d) && d.boolValue
        }
        if !subfolders.isEmpty { return subfolders.reduce(0) { $0 + folderBytes(url.appendingPathComponent($1)) } }
        return names.filter { $0.hasSuffix(".safetensors") }.reduce(0) { total, name in
            total + ((try? FileManager.default.attributesOfItem(atPath: url.appendingPathComponent(name).path)[.size] as? Int) ?? 0)
        }
    }

    /// Reads every shard of the models once through a fresh mapping (sums the words, so every page is touched).
    /// Empties the page cache (clean pages; callers `sync` first), or stops the bench saying why not.
    static func dropPageCache() {
        guard let h = FileHandle(forWritingAtPath: "/proc/sys/vm/drop_caches") else {
            die("--cold needs to write /proc/sys/vm/drop_caches (run as root)")
        }
        h.write(Data("3\n".utf8))
        try? h.close()
    }

    static func measureRead(_ models: [URL]) -> Double {
        let t0 = Date()
        var sink: UInt64 = 0
        for m in models {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: m.path)) ?? [] where name.hasSuffix(".safetensors") {
                guard let f = try? MappedFile(path: m.appendingPathComponent(name).path) else { continue }
                let words = f.size / 8
                let p = f.bytes.assumingMemoryBound(to: UInt64.self)
                var a: UInt64 = 0, b: UInt64 = 0, c: UInt64 = 0, d: UInt64 = 0
                var i = 0
                let step = 1 << 23  // 64 MiB of words, then drop those pages (keeps this process small)
                while i < words {
                    let end = min(words, i + step)
                    while i + 4 <= end { a &+= p[i]; b &+= p[i + 1]; c &+= p[i + 2]; d &+= p[i + 3]; i += 4 }
                    while i < end { a &+= p[i]; i += 1 }
                    f.release(0..<(i * 8))
                }
                sink &+= a &+ b &+ c &+ d
            }
        }
        if sink == 42 { print("") }
        return Date().timeIntervalSince(t0)
    }

    /// Writes `bytes` to a new file in 4 MiB pwrites (the merge writer's pattern), then closes it.
    static func measureWrite(_ url: URL, bytes: Int) throws -> Double {
        try? FileManager.default.removeItem(at: url)
        let chunk = 4 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 64)
        defer { buffer.deallocate() }
        memset(buffer, 0x3C, chunk)
        let t0 = Date()
        let fd = open(url.path, O_CREAT | O_TRUNC | O_WRONLY, 0o644)
        guard fd >= 0 else { die("cannot write \(url.path)") }
        var done = 0
        while done < bytes {
            let n = min(chunk, bytes - done)
            let r = pwrite(fd, buffer, n, off_t(done))
            guard r > 0 else { die("write failed") }
            done += r
        }
        close(fd)
        let t = Date().timeIntervalSince(t0)
        try? FileManager.default.removeItem(at: url)
        return t
    }

    static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let p = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    struct ChildResult {
        var status: Int32
        var seconds: Double
        /// wait4's ru_maxrss: includes the parent's peak at exec time (Linux), so only meaningful when the parent is small.
        var maxRSSKiB: Int
        /// `peakRSSBytes` from a mixmerge `--json` summary (the child's own VmHWM).
        var reportedPeakRSS: Int?
        /// User and system CPU seconds of the child.
        var userSeconds: Double = 0
        var systemSeconds: Double = 0
        var cpuSeconds: Double { userSeconds + systemSeconds }
        var output = Data()
    }

    /// Runs a program and reports its wall time and its own peak resident set (wait4's rusage).
    static func spawn(_ path: String, _ arguments: [String], cwd: URL, silenceStderr: Bool = false) throws -> ChildResult {
        let previous = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(cwd.path)
        defer { FileManager.default.changeCurrentDirectoryPath(previous) }
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else { die("pipe failed") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
        if silenceStderr { posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0) }
        let t0 = Date()
        let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
        posix_spawn_file_actions_destroy(&actions)
        close(pipeFDs[1])
        guard rc == 0 else { die("cannot start \(path): \(String(cString: strerror(rc)))") }
        let output = FileHandle(fileDescriptor: pipeFDs[0], closeOnDealloc: true).readDataToEndOfFile()
        var status: Int32 = 0
        var usage = rusage()
        _ = wait4(pid, &status, 0, &usage)
        let wall = Date().timeIntervalSince(t0)
        let exited = (status & 0x7F) == 0
        let summary = try? JSONSerialization.jsonObject(with: output) as? [String: Any]
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return ChildResult(status: exited ? (status >> 8) & 0xFF : 128 + (status & 0x7F), seconds: wall,
            maxRSSKiB: usage.ru_maxrss, reportedPeakRSS: summary?["peakRSSBytes"] as? Int,
            userSeconds: seconds(usage.ru_utime), systemSeconds: seconds(usage.ru_stime), output: output)
    }

    /// Compares two merged folders tensor by tensor: "identical", or how many tensors and elements
    /// differ and the largest difference in units of the dtype's spacing at the tensor's largest
    /// magnitude (ulp@absmax, the fixtures' measure).
    static func compareOutputs(_ a: URL, _ b: URL) -> String {
        guard let x = try? Checkpoint(path: a.path), let y = try? Checkpoint(path: b.path) else { return "(unreadable)" }
        guard Set(x.names) == Set(y.names) else { return "different tensor names" }
        var differing = 0, elements = 0, differingElements = 0
        var worst: Float = 0
        for name in x.names {
            let p = x.location(name)!, q = y.location(name)!
            elements += p.info.count
            guard p.info.dtype == q.info.dtype, p.info.shape == q.info.shape, p.info.dtype.isComputed else { differing += 1; continue }
            if memcmp(p.data, q.data, p.info.byteCount) == 0 { continue }
            differing += 1
            var u = [Float](repeating: 0, count: p.info.count), v = u
            u.withUnsafeMutableBufferPointer { Convert.widen(p.data, p.info.dtype, count: p.info.count, into: $0.baseAddress!) }
            v.withUnsafeMutableBufferPointer { Convert.widen(q.data, q.info.dtype, count: q.info.count, into: $0.baseAddress!) }
            let absmax = v.reduce(Float(0)) { max($0, abs($1)) }
            let mantissa = p.info.dtype == .bf16 ? 7 : p.info.dtype == .f16 ? 10 : 23
            let ulp = absmax > 0 ? Float(pow(2.0, Double(Int(floor(log2(Double(absmax)))) - mantissa))) : 1
            for k in 0..<u.count where u[k] != v[k] {
                differingElements += 1
                worst = max(worst, abs(u[k] - v[k]) / ulp)
            }
        }
        if differing == 0 { return "identical" }
        return String(format: "%d/%d tensors, %.3f%% of elements differ, max %.2f ulp@absmax",
            differing, x.names.count, 100 * Double(differingElements) / Double(max(1, elements)), worst)
    }
}

/// A Llama-shaped checkpoint made of seeded pseudo-random bf16 values.
struct LlamaLayout {
    let o: Bench.Options
    init(_ o: Bench.Options) { self.o = o }

    var tensors: [PlannedTensor] {
        let h = o.hidden, kv = o.kvHeads * (o.hidden / o.heads)
        var t = [PlannedTensor(name: "model.embed_tokens.weight", dtype: .bf16, shape: [o.vocab, h])]
        for l in 0..<o.layers {
            let p = "model.layers.\(l)."
            t += [
                PlannedTensor(name: p + "input_layernorm.weight", dtype: .bf16, shape: [h]),
                PlannedTensor(name: p + "self_attn.q_proj.weight", dtype: .bf16, shape: [h, h]),
                PlannedTensor(name: p + "self_attn.k_proj.weight", dtype: .bf16, shape: [kv, h]),
                PlannedTensor(name: p + "self_attn.v_proj.weight", dtype: .bf16, shape: [kv, h]),
                PlannedTensor(name: p + "self_attn.o_proj.weight", dtype: .bf16, shape: [h, h]),
                PlannedTensor(name: p + "post_attention_layernorm.weight", dtype: .bf16, shape: [h]),
                PlannedTensor(name: p + "mlp.gate_proj.weight", dtype: .bf16, shape: [o.intermediate, h]),
                PlannedTensor(name: p + "mlp.up_proj.weight", dtype: .bf16, shape: [o.intermediate, h]),
                PlannedTensor(name: p + "mlp.down_proj.weight", dtype: .bf16, shape: [h, o.intermediate]),
            ]
        }
        t += [
            PlannedTensor(name: "model.norm.weight", dtype: .bf16, shape: [h]),
            PlannedTensor(name: "lm_head.weight", dtype: .bf16, shape: [o.vocab, h]),
        ]
        return t
    }

    var parameters: Int { tensors.reduce(0) { $0 + $1.shape.reduce(1, *) } }

    var configJSON: String {
        """
        {
          "architectures": ["LlamaForCausalLM"],
          "bos_token_id": 1,
          "eos_token_id": 2,
          "hidden_act": "silu",
          "hidden_size": \(o.hidden),
          "intermediate_size": \(o.intermediate),
          "max_position_embeddings": 2048,
          "model_type": "llama",
          "num_attention_heads": \(o.heads),
          "num_hidden_layers": \(o.layers),
          "num_key_value_heads": \(o.kvHeads),
          "rms_norm_eps": 1e-05,
          "rope_theta": 10000.0,
          "tie_word_embeddings": false,
          "torch_dtype": "bfloat16",
          "vocab_size": \(o.vocab)
        }

        """
    }

    /// Writes the checkpoint (2 GB shards, as the Hub does) unless an identical one is there.
    /// Returns false when it was already present.
    func write(to url: URL, seed: UInt64, threads: Int) throws -> Bool {
        let marker = url.appendingPathComponent("config.json")
        if let existing = try? String(contentsOf: marker, encoding: .utf8), existing == configJSON,
            (try? Checkpoint(path: url.path))?.names.count == tensors.count
        {
            return false
        }
        try? FileManager.default.removeItem(at: url)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let writer = try ShardedWriter(directory: url, tensors: tensors, maxShardSize: 2_000_000_000)
        let chunk = 1 << 20
        for (ti, t) in tensors.enumerated() {
            let count = t.shape.reduce(1, *)
            let chunks = (count + chunk - 1) / chunk
            let isNorm = t.shape.count == 1
            let failure = FailureBox()
            ParallelFor.run(count: chunks, threads: threads) { c in
                let start = c * chunk, n = min(chunk, count - start)
                let buffer = UnsafeMutablePointer<UInt16>.allocate(capacity: n)
                defer { buffer.deallocate() }
                // Base values depend on (tensor, element) only; fine-tunes add their own small noise.
                var s0 = UInt64(ti) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(start) &* 0xBF58_476D_1CE4_E5B9
                var s1 = s0 ^ (seed &* 0x94D0_49BB_1331_11EB &+ 0x2545_F491_4F6C_DD1D)
                for i in 0..<n {
                    s0 = s0 &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    s1 = s1 &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    let u0 = Float(Int32(truncatingIfNeeded: s0 >> 32)) * 0x1p-31  // [-1, 1)
                    let u1 = Float(Int32(truncatingIfNeeded: s1 >> 32)) * 0x1p-31
                    let base: Float = isNorm ? 1 + 0.1 * u0 : 0.04 * u0
                    let value = seed == 0 ? base : base + (isNorm ? 0.01 : 0.004) * u1
                    buffer[i] = Rounding.narrowBF16(value)
                }
                do { try writer.write(t.name, byteOffset: start * 2, bytes: buffer, count: n * 2) } catch { failure.set(error) }
            }
            if let e = failure.error { throw e }
        }
        try writer.finish()
        try Data(configJSON.utf8).write(to: marker)
        return true
    }
}
