import Checkpoints
import Foundation
import Models
import Tensors
import Training

/// `mixmerge-bench train`: SFT or DPO optimizer steps on a synthetic ≈20 M-parameter Llama-layout
/// model (batch 8 × 256 tokens, random ids), tokens/s and peak RSS, against PyTorch on the CPU with
/// the same model shape, batch and optimizer (`tools/bench_torch_train.py`) in the same run.
enum TrainBench {
    static func main(_ arguments: [String]) {
        var layers = 8, hidden = 384, intermediate = 1024, vocab = 8192, heads = 6, batch = 8, seq = 256, steps = 3
        var threads = ParallelFor.defaultThreads, objective = "sft", dir = "bench-work/train"
        var python = ProcessInfo.processInfo.environment["MIXMERGE_BENCH_PYTHON"]
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
            case "--layers": layers = int()
            case "--hidden": hidden = int()
            case "--intermediate": intermediate = int()
            case "--vocab": vocab = int()
            case "--heads": heads = int()
            case "--batch": batch = int()
            case "--seq": seq = int()
            case "--steps": steps = int()
            case "--threads": threads = int()
            case "--objective": objective = value()
            case "--dir": dir = value()
            case "--python": python = value()
            case "-h", "--help":
                print("usage: mixmerge-bench train [--objective sft|dpo] [--layers N] [--hidden N] [--intermediate N] [--vocab N] [--heads N] [--batch N] [--seq N] [--steps N] [--threads N] [--python PYTHON]")
                return
            default: Bench.die("unknown option \(a) (see mixmerge-bench train --help)")
            }
        }
        guard objective == "sft" || objective == "dpo" else { Bench.die("--objective must be sft or dpo") }
        do {
            var layout = Bench.Options()
            layout.layers = layers
            layout.hidden = hidden
            layout.intermediate = intermediate
            layout.vocab = vocab
            layout.heads = heads
            layout.kvHeads = heads
            let url = URL(fileURLWithPath: dir).appendingPathComponent("model")
            _ = try LlamaLayout(layout).write(to: url, seed: 0, threads: threads)
            let (model, params) = try TrainableModel.load(folder: url, threads: threads)
            var rng = Xoshiro256StarStar(seed: 1)
            func ids(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.next() % UInt64(vocab - 4) + 4) } }
            var config = TrainerConfig(objective: objective == "sft" ? .sft : .dpo, lr: 1e-4)
            config.weightDecay = 0.01
            config.batchSize = objective == "sft" ? batch : batch / 2
            config.maxSteps = steps + 1
            config.shuffle = false
            let trainer: Trainer
            if objective == "sft" {
                let examples = (0..<batch).map { _ in let x = ids(seq); return SFTExample(ids: x, labels: x.map(Int.init)) }
                trainer = try Trainer(model: model, parameters: params, config: config, sft: examples)
            } else {
                let pairs = (0..<(batch / 2)).map { _ in
                    PreferenceExample(prompt: ids(seq / 2), chosen: ids(seq / 2), rejected: ids(seq / 2))
                }
                trainer = try Trainer(model: model, parameters: params, config: config, pairs: pairs)
            }
            _ = try trainer.runStep()  // warm-up, not timed
            var times: [Double] = []
            for _ in 0..<steps {
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = try trainer.runStep()
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            }
            let median = times.sorted()[times.count / 2]
            let tokens = Double(batch * seq)
            let flops = 6 * Double(model.parameterCount) * tokens
            print(String(format: "%@ on a %.1f M-parameter Llama layout (%d layers, hidden %d, MLP %d, vocab %d), %d × %d tokens, %d threads",
                         objective, Double(model.parameterCount) / 1e6, layers, hidden, intermediate, vocab, batch, seq, threads))
            print("| engine | step (median) | tokens/s | ≈ GFLOP/s (6·N·tokens) | peak RSS |")
            print("| --- | --- | --- | --- | --- |")
            print(String(format: "| mixmerge | %.2f s | %.0f | %.1f | %.0f MiB |", median, tokens / median, flops / median / 1e9,
                         Double(peakResidentBytes() ?? 0) / 1048576))
            guard let python else { print("(PyTorch not measured: give --python PYTHON)"); return }
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("tools/bench_torch_train.py").path
            let p = Process()
            p.executableURL = URL(fileURLWithPath: python)
            p.arguments = [script, "--layers", "\(layers)", "--hidden", "\(hidden)", "--heads", "\(heads)", "--intermediate", "\(intermediate)",
                           "--vocab", "\(vocab)", "--batch", "\(batch)", "--seq", "\(seq)", "--steps", "\(steps)", "--threads", "\(threads)",
                           "--objective", objective]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let tps = o["tokens_per_s"] as? Double, let step = o["step_s"] as? Double else {
                print("(PyTorch not measured: \(python) \(script) failed)")
                return
            }
            let rss = (o["peak_rss_mib"] as? Double) ?? 0
            print(String(format: "| PyTorch %@ | %.2f s | %.0f | %.1f | %.0f MiB |", (o["torch"] as? String) ?? "", step, tps, flops / step / 1e9, rss))
            print(String(format: "mixmerge / PyTorch: %.2f× tokens/s", (tokens / median) / tps))
        } catch {
            Bench.die("\(error)")
        }
    }
}
