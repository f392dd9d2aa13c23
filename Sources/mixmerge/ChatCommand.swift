import ArgumentParser
import Foundation
import Inference
import Jinja
import Synchronization

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Talk to a local model in the terminal (its chat template, streamed answers).",
        discussion: """
            Type a message and press Enter. /reset forgets the conversation, /system TEXT sets a system \
            message, /quit (or Ctrl-D) leaves. Ctrl-C stops the answer being written, not the program.
            """)

    @Argument(help: "A model folder.") var model: String
    @Option(help: "A system message to start with.") var system: String?
    @Option(help: "Sampling temperature (0: greedy).") var temperature = 0.7
    @Option(help: "Nucleus sampling.") var topP = 0.95
    @Option(help: "New tokens per answer at most.") var maxTokens = 512
    @Option(help: "Seed of the sampling stream.") var seed: UInt64 = 0
    @Option(help: "Worker threads (default: all cores).") var threads: Int?

    func run() throws {
        do {
            let local = try LocalModel(folder: URL(fileURLWithPath: model), maxBatch: 1,
                                       threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
            guard local.prompts.template != nil else {
                throw ValidationError("\(model) has no chat template (chat_template.jinja or tokenizer_config.json's chat_template)")
            }
            var messages: [Value] = []
            if let system { messages.append(["role": "system", "content": .string(system)]) }
            ChatInterrupt.install()
            let terminal = isatty(STDIN_FILENO) == 1
            var turn: UInt64 = 0
            while true {
                if terminal { FileHandle.standardOutput.write(Data("> ".utf8)) }
                guard let line = readLine(strippingNewline: true) else { break }
                let text = line.trimmingCharacters(in: .whitespaces)
                if text.isEmpty { continue }
                if text == "/quit" || text == "/exit" { break }
                if text == "/reset" {
                    messages = system.map { [["role": "system", "content": .string($0)]] } ?? []
                    print("(conversation cleared)")
                    continue
                }
                if text.hasPrefix("/system ") {
                    let s = String(text.dropFirst(8))
                    messages.removeAll { $0.role == "system" }
                    messages.insert(["role": "system", "content": .string(s)], at: 0)
                    continue
                }
                messages.append(["role": "user", "content": .string(line)])
                let prompt: [Int32]
                do {
                    prompt = try local.prompts.encode(messages: .array(messages), addGenerationPrompt: true)
                } catch {
                    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                    messages.removeLast()
                    continue
                }
                turn += 1
                let sampling = SamplingParameters(temperature: temperature, topP: topP, seed: seed &+ turn)
                let answer = try stream(local, GenerationRequest(prompt: prompt, sampling: sampling, maxTokens: maxTokens,
                                                                 stopTokens: local.stopTokens))
                messages.append(["role": "assistant", "content": .string(answer)])
            }
        } catch { throw fail(error) }
    }

    /// Writes the answer as it comes; Ctrl-C cancels it. Returns the text written.
    func stream(_ local: LocalModel, _ request: GenerationRequest) throws -> String {
        final class State: @unchecked Sendable {
            let lock = NSLock()
            var pieces: [String] = []
            var finished: FinishReason?
            var error: String?
        }
        let state = State()
        ChatInterrupt.reset()
        let id = try local.engine.submit(request) { event in
            state.lock.withLock {
                switch event {
                case .token(_, let t, _): state.pieces.append(t)
                case .text(let t): state.pieces.append(t)
                case .finished(let reason, _, _, let error):
                    state.finished = reason
                    state.error = error
                }
            }
        }
        var text = ""
        var cancelled = false
        while true {
            let (pieces, finished) = state.lock.withLock { () -> ([String], FinishReason?) in
                let p = state.pieces
                state.pieces = []
                return (p, state.finished)
            }
            for p in pieces {
                text += p
                FileHandle.standardOutput.write(Data(p.utf8))
            }
            if finished != nil { break }
            if !cancelled && ChatInterrupt.requested {
                local.engine.cancel(id)
                cancelled = true
            }
            usleep(10_000)
        }
        print(cancelled ? " [stopped]" : "")
        if let e = state.lock.withLock({ state.error }) { FileHandle.standardError.write(Data("error: \(e)\n".utf8)) }
        return text
    }
}

extension Value {
    fileprivate var role: String? {
        if case .object(let o) = self, case .string(let r)? = o["role"] { return r }
        return nil
    }
}

/// Ctrl-C during `chat`: stops the current answer (the handler only sets a flag).
enum ChatInterrupt {
    static let flag = Atomic<Bool>(false)
    static var requested: Bool { flag.load(ordering: .relaxed) }
    static func reset() { flag.store(false, ordering: .relaxed) }
    static func install() { signal(SIGINT) { _ in ChatInterrupt.flag.store(true, ordering: .relaxed) } }
}
