import Checkpoints
import Foundation
import TestScratch
import Testing

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let fixtures = repositoryRoot.appendingPathComponent("fixtures")

/// The `mixmerge` binary SwiftPM built next to this test bundle.
let binary: URL = {
    let exe = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
    return exe.deletingLastPathComponent().appendingPathComponent("mixmerge")
}()

struct Run {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs the binary with `arguments`; with `fileSizeLimitKiB`, under `ulimit -f` (a write past the
/// limit fails as on a full disk). A run killed by a signal reports status −1. (The binary writes
/// from worker threads, which block signals: SIGXFSZ stays pending there whether or not it is
/// ignored, so these runs check the one-line error and the cleanup — strace shows EFBIG, no signal.)
func mixmerge(_ arguments: [String], fileSizeLimitKiB: Int? = nil, in directory: URL = repositoryRoot) throws -> Run {
    let p = Process()
    if let limit = fileSizeLimitKiB {
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "ulimit -f \(limit) && exec \"$0\" \"$@\"", binary.path] + arguments
    } else {
        p.executableURL = binary
        p.arguments = arguments
    }
    p.currentDirectoryURL = directory
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return Run(status: p.terminationReason == .exit ? p.terminationStatus : -1,
               stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
}

func scratch(_ label: String = #function) -> URL { TestScratch.folder(label) }

@Suite("mixmerge command line")
struct CLITests {
    @Test("merge: a fixture config from its own folder, with a JSON summary")
    func mergeJSON() throws {
        let out = scratch().appendingPathComponent("merged")
        let r = try mixmerge(["merge", "config.yml", out.path, "--json", "--threads", "2"],
            in: fixtures.appendingPathComponent("merges/llama-task_arithmetic-b"))
        #expect(r.status == 0, "\(r.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect(summary?["method"] as? String == "task_arithmetic")
        #expect(summary?["tensors"] as? Int == 39)
        #expect(try Checkpoint(path: out.path).names.count == 39)
    }

    @Test("merge --dry-run prints every tensor with its inputs and the memory needed, and writes nothing")
    func dryRun() throws {
        let out = scratch().appendingPathComponent("never")
        let r = try mixmerge(["merge", "config.yml", out.path, "--dry-run"], in: fixtures.appendingPathComponent("merges/llama-slerp-c"))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("model.layers.3.mlp.down_proj.weight"))
        #expect(r.stdout.contains("t=1.000"))
        #expect(r.stdout.contains("memory:"))
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    @Test("errors: one line on stderr, exit 1, no output folder")
    func errors() throws {
        let dir = scratch()
        let out = dir.appendingPathComponent("out")
        // A model folder whose weights are truncated.
        let broken = dir.appendingPathComponent("broken")
        try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
        let good = try Data(contentsOf: fixtures.appendingPathComponent("models/llama/ft1/model.safetensors"))
        try good.prefix(good.count / 2).write(to: broken.appendingPathComponent("model.safetensors"))
        let configs: [(String, String)] = [
            ("merge_method: slurp\nmodels: [{model: \(broken.path)}]\n", "slurp"),
            ("merge_method: linear\nmodels:\n  - {model: \(broken.path), parameters: {weight: 1}}\n", "model.safetensors"),
            ("merge_method: linear\nmodels:\n  - {model: /nowhere/model, parameters: {weight: 1}}\n", "/nowhere/model"),
        ]
        for (yaml, culprit) in configs {
            let config = dir.appendingPathComponent("c.yml")
            try Data(yaml.utf8).write(to: config)
            let r = try mixmerge(["merge", config.path, out.path])
            #expect(r.status == 1)
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("error: ") && lines[0].contains(culprit), "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out.path))
        }
        let missing = try mixmerge(["merge", dir.appendingPathComponent("absent.yml").path, out.path])
        #expect(missing.status == 1 && missing.stderr.contains("absent.yml"))
    }

    @Test("a write that fails (file-size limit, as a full disk) is one line naming the output file, nothing is left")
    func writeFailure() throws {
        let dir = scratch()
        let out = dir.appendingPathComponent("out")
        // Files may not grow past 64 KiB; the merge writes ~300 KB.
        let r = try mixmerge(["merge", "config.yml", out.path], fileSizeLimitKiB: 64,
            in: fixtures.appendingPathComponent("merges/llama-task_arithmetic-b"))
        #expect(r.status == 1, "\(r.stderr)")
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("error: \(out.path)/model") && lines[0].contains("too large"), "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test("inspect: text and JSON")
    func inspect() throws {
        let model = fixtures.appendingPathComponent("models/llama/ft2").path
        let text = try mixmerge(["inspect", model, "--tensors"])
        #expect(text.status == 0)
        #expect(text.stdout.contains("LlamaForCausalLM"))
        #expect(text.stdout.contains("model-00002-of-00002.safetensors"))
        #expect(text.stdout.contains("model.layers.3.mlp.up_proj.weight"))
        let json = try mixmerge(["inspect", model, "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["layers"] as? Int == 4)
        #expect(object?["parameters"] as? Int == 156_224)
        let bad = try mixmerge(["inspect", "/nowhere"])
        #expect(bad.status == 1 && bad.stderr.hasPrefix("error: "))
    }
}

@Suite("CPU check")
struct CPUCheckTests {
    @Test("A CPU without the instructions the binary was built for is refused with a clear message")
    func refusal() throws {
        let p = Process()
        p.executableURL = binary
        p.arguments = ["--version"]
        var env = ProcessInfo.processInfo.environment
        env["MIXMERGE_TEST_MISSING_CPU_FEATURES"] = "avx2 fma"
        p.environment = env
        let err = Pipe()
        p.standardError = err
        p.standardOutput = Pipe()
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 70)
        #expect(text.hasPrefix("error: ") && text.contains("avx2 fma") && text.split(separator: "\n").count == 1)
        // Without the hook the same binary starts.
        let ok = try mixmerge(["--version"])
        #expect(ok.status == 0)
    }
}

@Suite("inspect --against")
struct TaskVectorCLITests {
    @Test("text and JSON reports")
    func report() throws {
        let m = fixtures.appendingPathComponent("models/llama")
        let text = try mixmerge(["inspect", m.appendingPathComponent("ft1").path, m.appendingPathComponent("ft2").path,
            "--against", m.appendingPathComponent("base").path])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("layer 3") && text.stdout.contains("cos12") && text.stdout.contains("self_attn.q_proj.weight"))
        let json = try mixmerge(["inspect", m.appendingPathComponent("ft1").path, m.appendingPathComponent("ft3").path,
            "--against", m.appendingPathComponent("base").path, "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let layers = object?["layers"] as? [[String: Any]]
        #expect(layers?.count == 5)  // 4 layers + outside
        let overall = object?["overall"] as? [String: Any]
        let pair = (overall?["pairs"] as? [[String: Any]])?.first
        let cosine = pair?["cosine"] as? Double ?? 0
        #expect(cosine > 0.25 && cosine < 0.45)
        let two = try mixmerge(["inspect", m.appendingPathComponent("ft1").path, m.appendingPathComponent("ft2").path])
        #expect(two.status != 0)
        #expect(text.stderr.isEmpty)
        // Against a base of another architecture: the report, and a warning saying what it is.
        let qwen = fixtures.appendingPathComponent("models/qwen2/base").path
        let across = try mixmerge(["inspect", m.appendingPathComponent("ft1").path, "--against", qwen])
        #expect(across.status == 0)
        #expect(across.stderr == "warning: \(m.appendingPathComponent("ft1").path) is a llama model and \(qwen) a qwen2 model: these are not task vectors of one base\n")
    }
}

@Suite("Interrupted merge")
struct InterruptTests {
    @Test("SIGTERM during a merge removes the unfinished output and exits 130")
    func interrupted() throws {
        // A merge big enough to still be running after a moment: 8 repeated layers of a fixture, 2000 times.
        let dir = scratch()
        var yaml = "merge_method: passthrough\nslices:\n"
        for _ in 0..<600 { yaml += "  - sources: [{model: \(fixtures.path)/models/llama/ft1, layer_range: [0, 4]}]\n" }
        try Data(yaml.utf8).write(to: dir.appendingPathComponent("big.yml"))
        let p = Process()
        p.executableURL = binary
        p.arguments = ["merge", dir.appendingPathComponent("big.yml").path, dir.appendingPathComponent("out").path, "--threads", "1"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = Pipe()
        try p.run()
        // Wait until the temporary folder appears, then interrupt.
        let deadline = Date().addingTimeInterval(20)
        func tempExists() -> Bool {
            ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).contains { $0.contains("mixmerge-tmp") }
        }
        while !tempExists() && p.isRunning && Date() < deadline { usleep(2000) }
        guard p.isRunning else { Issue.record("merge finished before it could be interrupted"); return }
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(p.terminationStatus == 130, "\(text)")
        #expect(text.contains("interrupted"))
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(Set(left) == ["big.yml"])
    }
}
