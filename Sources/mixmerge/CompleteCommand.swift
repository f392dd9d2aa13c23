import ArgumentParser
import Foundation
import Datasets
import Inference

struct CompleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "complete",
        abstract: "Continue a prompt (token ids or text) with a local model.",
        discussion: """
            Generation stops after --max-tokens, at an EOS id of generation_config.json (unless --ignore-eos) \
            or at a --stop string. Prints the new text, or with --json {"ids": [...], "text": "...", \
            "finish_reason": "..."} (the ids exclude the prompt).
            """)

    @Argument(help: "A model folder.") var model: String
    @Option(help: "Prompt token ids, separated by spaces or commas.") var ids: String?
    @Option(help: "A prompt text (encoded with the tokenizer's special tokens).") var prompt: String?
    @Option(help: "New tokens at most.") var maxTokens = 64
    @Flag(help: "Greedy decoding (the same as --temperature 0).") var greedy = false
    @Option(help: "Sampling temperature.") var temperature = 1.0
    @Option(help: "Nucleus sampling.") var topP = 1.0
    @Option(help: "Keep the k most likely tokens (0: off).") var topK = 0
    @Option(help: "Seed of the sampling stream.") var seed: UInt64 = 0
    @Option(help: "Stop strings (repeatable).") var stop: [String] = []
    @Flag(help: "Do not stop at EOS ids.") var ignoreEos = false
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "Worker threads (default: all cores).") var threads: Int?

    func run() throws {
        do {
            guard (ids == nil) != (prompt == nil) else { throw ValidationError("give --ids or --prompt (one of them)") }
            let local = try LocalModel(folder: URL(fileURLWithPath: model), maxBatch: 1,
                                       threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
            let promptIds: [Int32]
            if let ids {
                promptIds = try ScoreCommand.parseIds(ids).map(Int32.init)
                if let bad = promptIds.first(where: { $0 < 0 || Int($0) >= local.runner.vocabularySize }) {
                    throw ValidationError("--ids: \(bad) is outside the vocabulary (0..<\(local.runner.vocabularySize))")
                }
            } else {
                promptIds = local.tokenizer.encode(prompt ?? "", addSpecialTokens: true).ids
            }
            let sampling = greedy ? SamplingParameters.greedy : SamplingParameters(temperature: temperature, topP: topP, topK: topK, seed: seed)
            let request = GenerationRequest(prompt: promptIds, sampling: sampling, maxTokens: maxTokens, stop: stop,
                                            stopTokens: ignoreEos ? [] : local.stopTokens)
            let result = try local.generate(request)
            if json {
                var quoted: [UInt8] = []
                JSONWriter.appendQuoted(result.text, to: &quoted)
                let text = String(decoding: quoted, as: UTF8.self)
                print("{\"ids\": [\(result.tokens.map(String.init).joined(separator: ", "))], \"text\": \(text), \"finish_reason\": \"\(result.reason.rawValue)\"}")
            } else {
                print(result.text)
            }
        } catch { throw fail(error) }
    }
}
