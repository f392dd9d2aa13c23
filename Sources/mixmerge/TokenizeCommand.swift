import ArgumentParser
import Datasets
import Foundation
import Jinja
import Tokenizers

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Encode JSON lines {\"text\": …} to {\"ids\", \"tokens\"}, or decode {\"ids\"} to {\"text\"}, as the tokenizers library does.",
        discussion: """
            Reads standard input and writes one line per input line, in order. MODEL_OR_TOKENIZER_DIR is a model \
            folder (its tokenizer.json is used) or a tokenizer.json file. Encoding applies the post-processor's \
            special tokens (BOS…) unless --no-special-tokens; special tokens written in the text are matched either \
            way. --decode keeps special tokens unless --skip-special-tokens.
            """)

    @Argument(help: "A model folder or a tokenizer.json file.") var tokenizer: String
    @Flag(help: "Do not add the post-processor's special tokens when encoding.") var noSpecialTokens = false
    @Flag(help: "Decode {\"ids\": […]} lines instead of encoding.") var decode = false
    @Flag(help: "With --decode: leave special tokens out of the text.") var skipSpecialTokens = false
    @Option(help: "Worker threads for encoding (default: all cores).") var threads: Int?

    func run() throws {
        do {
            let url = URL(fileURLWithPath: tokenizer)
            var isFolder: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder)
            guard exists else { throw ValidationError("\(tokenizer): no such file or folder") }
            let file = isFolder.boolValue ? url.appendingPathComponent("tokenizer.json") : url
            let tok = try Tokenizer(contentsOf: file)
            let input = FileHandle.standardInput.readDataToEndOfFile()
            guard let text = String(data: input, encoding: .utf8) else {
                throw ValidationError("stdin: the input is not valid UTF-8")
            }
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            if lines.last == "" { lines.removeLast() }
            let batch = 4096
            var start = 0
            while start < lines.count {
                let chunk = Array(lines[start..<min(lines.count, start + batch)])
                var out: [UInt8] = []
                if decode {
                    for (k, line) in chunk.enumerated() {
                        let ids = try Self.ids(line, at: start + k + 1)
                        if let bad = ids.first(where: { tok.idToToken($0) == nil }) {
                            throw ValidationError("stdin:\(start + k + 1): id \(bad) is not in the vocabulary")
                        }
                        out += Array("{\"text\": ".utf8)
                        JSONWriter.appendQuoted(tok.decode(ids, skipSpecialTokens: skipSpecialTokens), to: &out)
                        out += Array("}\n".utf8)
                    }
                } else {
                    let texts = try chunk.enumerated().map { k, line in try Self.text(line, at: start + k + 1) }
                    let encodings = tok.encodeBatch(texts, addSpecialTokens: !noSpecialTokens, threads: threads)
                    for e in encodings {
                        out += Array("{\"ids\": [".utf8)
                        out += Array(e.ids.map(String.init).joined(separator: ", ").utf8)
                        out += Array("], \"tokens\": [".utf8)
                        for (i, t) in e.tokens.enumerated() {
                            if i > 0 { out += Array(", ".utf8) }
                            JSONWriter.appendQuoted(t, to: &out)
                        }
                        out += Array("]}\n".utf8)
                    }
                }
                FileHandle.standardOutput.write(Data(out))
                start += batch
            }
        } catch { throw fail(error) }
    }

    static func object(_ line: String, at n: Int) throws -> Value.Object {
        let value: Value
        do { value = try Value.parseJSON(line) } catch { throw ValidationError("stdin:\(n): \(error)") }
        guard case .object(let o) = value else { throw ValidationError("stdin:\(n): expected a JSON object") }
        return o
    }

    static func text(_ line: String, at n: Int) throws -> String {
        guard case .string(let s)? = try object(line, at: n)["text"] else {
            throw ValidationError("stdin:\(n): expected {\"text\": \"…\"}")
        }
        return s
    }

    static func ids(_ line: String, at n: Int) throws -> [Int32] {
        guard case .array(let list)? = try object(line, at: n)["ids"] else {
            throw ValidationError("stdin:\(n): expected {\"ids\": [integers]}")
        }
        return try list.map { v in
            guard case .int(let i) = v, let id = Int32(exactly: i) else {
                throw ValidationError("stdin:\(n): \"ids\" must hold integers")
            }
            return id
        }
    }
}

struct TemplateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "template",
        abstract: "Render a conversation with a model's chat template exactly as transformers' apply_chat_template does.",
        discussion: """
            CONVERSATION.json is an OpenAI-style {"messages": [...], "tools": [...], "documents": [...]} object (or a \
            bare list of messages; "-" reads standard input). Prints the rendered prompt with nothing added, or \
            with --ids its token ids (encoded without the post-processor's special tokens, as \
            apply_chat_template(tokenize=True) does). A template that raises is an error.
            """)

    @Argument(help: "A model folder (chat_template.jinja or tokenizer_config.json's chat_template).") var model: String
    @Argument(help: "The conversation (JSON).") var conversation: String
    @Flag(help: "Add the generation prompt (add_generation_prompt=True).") var generationPrompt = false
    @Flag(help: "Print the token ids instead of the text.") var ids = false
    @Option(help: "A named template (tokenizer_config.json's list form, e.g. tool_use).") var template: String?

    func run() throws {
        do {
            let folder = URL(fileURLWithPath: model)
            guard FileManager.default.fileExists(atPath: folder.path) else { throw ValidationError("\(model): no such folder") }
            let data: Data
            if conversation == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let d = FileManager.default.contents(atPath: conversation) else {
                    throw ValidationError("\(conversation): no such file")
                }
                data = d
            }
            guard let text = String(data: data, encoding: .utf8) else { throw ValidationError("\(conversation): not UTF-8 text") }
            let parsed: Value
            do { parsed = try Value.parseJSON(text) } catch { throw ValidationError("\(conversation): \(error)") }
            var messages: Value
            var tools: Value?
            var documents: Value?
            switch parsed {
            case .array: messages = parsed
            case .object(let o):
                guard let m = o["messages"] else { throw ValidationError("\(conversation): expected a \"messages\" list") }
                messages = m
                tools = o["tools"].flatMap { if case .none = $0 { nil } else { $0 } }
                documents = o["documents"].flatMap { if case .none = $0 { nil } else { $0 } }
            default: throw ValidationError("\(conversation): expected {\"messages\": [...]} or a list of messages")
            }
            guard case .array = messages else { throw ValidationError("\(conversation): \"messages\" must be a list") }
            let format = try PromptFormat(folder: folder, templateName: template)
            let rendered = try format.render(messages: messages, tools: tools, documents: documents, addGenerationPrompt: generationPrompt)
            if ids {
                let list = format.tokenizer.encode(rendered, addSpecialTokens: false).ids
                print("[" + list.map(String.init).joined(separator: ", ") + "]")
            } else {
                FileHandle.standardOutput.write(Data(rendered.utf8))
            }
        } catch { throw fail(error) }
    }
}
