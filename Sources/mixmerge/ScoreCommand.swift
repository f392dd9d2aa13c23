import ArgumentParser
import Foundation
import Inference
import Jinja
import Models

struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Log-likelihood and perplexity of a model on a data set (did the merge break it?).",
        discussion: """
            DATA is JSON lines: {"messages": [...]} scores the assistant turns (their content and the template's \
            end-of-turn marker) under the model's chat template; {"text": "..."} the whole text (encoded with the \
            tokenizer's special tokens); {"prompt": "...", "completion": "..."} the completion after the prompt. \
            One JSON line per record ({"line", "tokens", "logprob", "perplexity"}), then {"total": {...}} over all \
            scored tokens. With --ids "1 17 42 …" it scores those token ids instead, and --dump-logits F.npy \
            writes their float32 logits [tokens, vocab] as a NumPy file.
            """)

    @Argument(help: "A model folder.") var model: String
    @Argument(help: "A JSON-lines data file.") var data: String?
    @Option(help: "Token ids to score instead of a data file, separated by spaces or commas.") var ids: String?
    @Option(help: ArgumentHelp("With --ids: write the logits as a float32 .npy file [tokens, vocab].", valueName: "file"))
    var dumpLogits: String?
    @Flag(help: "Score every token of a conversation, not only the assistant turns.") var wholeText = false
    @Option(help: "Worker threads (default: all cores).") var threads: Int?

    func run() throws {
        do {
            let folder = URL(fileURLWithPath: model)
            let threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
            if let ids {
                guard data == nil else { throw ValidationError("give a data file or --ids, not both") }
                let list = try Self.parseIds(ids)
                let lm = try LanguageModel.load(folder: folder, threads: threads)
                if let bad = list.first(where: { $0 < 0 || $0 >= lm.config.vocabSize }) {
                    throw ValidationError("--ids: \(bad) is outside the vocabulary (0..<\(lm.config.vocabSize))")
                }
                if list.count > lm.config.maxPositions {
                    throw ValidationError("--ids: \(list.count) tokens exceed the model's \(lm.config.maxPositions) positions")
                }
                let logits = try lm.logits(forIds: list)
                let v = lm.config.vocabSize
                let (sum, count) = Self.logLikelihood(logits, vocab: v, ids: list, scored: Array(repeating: true, count: list.count))
                print(Self.line([("tokens", "\(count)"), ("logprob", Self.number(sum)), ("perplexity", Self.number(Self.perplexity(sum, count)))]))
                if let dumpLogits { try NumPy.writeFloat32(logits, shape: [list.count, v], to: URL(fileURLWithPath: dumpLogits)) }
                return
            }
            guard let data else { throw ValidationError("give a data file (JSON lines) or --ids") }
            if dumpLogits != nil { throw ValidationError("--dump-logits goes with --ids") }
            let local = try LocalModel(folder: folder, maxBatch: 1, threads: threads)
            let lm = local.model
            guard let text = try? String(contentsOfFile: data, encoding: .utf8) else {
                throw ValidationError(FileManager.default.fileExists(atPath: data) ? "\(data): not readable as UTF-8 text" : "\(data): no such file")
            }
            var total = 0.0
            var totalTokens = 0
            var records = 0
            for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let lineText = raw.trimmingCharacters(in: .whitespaces)
                if lineText.isEmpty { continue }
                let where_ = "\(data):\(n + 1)"
                let record: Value
                do { record = try Value.parseJSON(lineText) } catch { throw ValidationError("\(where_): \(error)") }
                let (ids, scored) = try Self.tokens(of: record, local, wholeText: wholeText, at: where_)
                if ids.count > lm.config.maxPositions {
                    throw ValidationError("\(where_): \(ids.count) tokens exceed the model's \(lm.config.maxPositions) positions")
                }
                let logits = try lm.logits(forIds: ids.map(Int.init))
                let (sum, count) = Self.logLikelihood(logits, vocab: lm.config.vocabSize, ids: ids.map(Int.init), scored: scored)
                total += sum
                totalTokens += count
                records += 1
                print(Self.line([("line", "\(n + 1)"), ("tokens", "\(count)"), ("logprob", Self.number(sum)),
                                 ("perplexity", Self.number(Self.perplexity(sum, count)))]))
            }
            guard records > 0 else { throw ValidationError("\(data): no records") }
            print("{\"total\": " + Self.line([("records", "\(records)"), ("tokens", "\(totalTokens)"), ("logprob", Self.number(total)),
                                                ("perplexity", Self.number(Self.perplexity(total, totalTokens)))]) + "}")
        } catch { throw fail(error) }
    }

    /// The ids of a record and which of them are scored (a token is scored by the logits before it).
    static func tokens(of record: Value, _ local: LocalModel, wholeText: Bool, at place: String) throws -> ([Int32], [Bool]) {
        guard case .object(let o) = record else { throw ValidationError("\(place): a record must be a JSON object") }
        if case .array(let messages)? = o["messages"] {
            do {
                if wholeText {
                    let ids = try local.prompts.encode(messages: .array(messages), addGenerationPrompt: false)
                    return (ids, ids.indices.map { $0 > 0 })
                }
                return try local.prompts.assistantTokens(messages: messages)
            } catch { throw ValidationError("\(place): \(error)") }
        }
        if case .string(let text)? = o["text"] {
            let ids = local.tokenizer.encode(text, addSpecialTokens: true).ids
            return (ids, ids.indices.map { $0 > 0 })
        }
        if case .string(let prompt)? = o["prompt"], case .string(let completion)? = o["completion"] {
            let p = local.tokenizer.encode(prompt, addSpecialTokens: true).ids
            let c = local.tokenizer.encode(completion, addSpecialTokens: false).ids
            return (p + c, p.map { _ in false } + c.map { _ in true })
        }
        throw ValidationError("\(place): a record needs \"messages\", \"text\", or \"prompt\" and \"completion\"")
    }

    /// Σ log p(ids[t] | ids[..<t]) over the scored positions t ≥ 1, and their count.
    static func logLikelihood(_ logits: [Float], vocab: Int, ids: [Int], scored: [Bool]) -> (Double, Int) {
        var sum = 0.0
        var count = 0
        for t in 1..<max(1, ids.count) where scored[t] {
            let row = logits[(t - 1) * vocab..<t * vocab]
            let m = row.max() ?? 0
            var z = 0.0
            for x in row { z += Double(exp(x - m)) }
            sum += Double(row[row.startIndex + ids[t]] - m) - log(z)
            count += 1
        }
        return (sum, count)
    }

    static func perplexity(_ sum: Double, _ count: Int) -> Double { count > 0 ? exp(-sum / Double(count)) : .nan }

    static func number(_ x: Double) -> String { x.isFinite ? String(format: "%.6g", x) : "null" }

    static func line(_ pairs: [(String, String)]) -> String {
        "{" + pairs.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }

    static func parseIds(_ text: String) throws -> [Int] {
        let parts = text.split { $0 == " " || $0 == "," || $0 == "\n" || $0 == "\t" }
        let ids = parts.compactMap { Int($0) }
        guard ids.count == parts.count, !ids.isEmpty else {
            throw ValidationError("--ids: expected integers separated by spaces or commas, got '\(text.prefix(60))'")
        }
        return ids
    }
}

/// NumPy's `.npy` format (version 1.0), written to a temporary name and renamed.
enum NumPy {
    static func writeFloat32(_ values: [Float], shape: [Int], to url: URL) throws {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        data.append(contentsOf: Array(header.utf8))
        values.withUnsafeBytes { data.append(contentsOf: $0) }  // little-endian on every platform we build for
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        do {
            try data.write(to: temporary)
            guard rename(temporary.path, url.path) == 0 else { throw CocoaError(.fileWriteUnknown) }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw ValidationError("\(url.path): cannot write: \(error.localizedDescription)")
        }
    }
}
