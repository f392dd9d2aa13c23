import Foundation
import Jinja
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Runs the binary with `input` on standard input.
func mixmerge(_ arguments: [String], input: String) throws -> Run {
    let p = Process()
    p.executableURL = binary
    p.arguments = arguments
    p.currentDirectoryURL = repositoryRoot
    let inPipe = Pipe(), out = Pipe(), err = Pipe()
    p.standardInput = inPipe
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let writer = Thread {
        inPipe.fileHandleForWriting.write(Data(input.utf8))
        try? inPipe.fileHandleForWriting.close()
    }
    writer.start()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return Run(status: p.terminationReason == .exit ? p.terminationStatus : -1,
               stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
}

/// A fixture reference file, keys in their order (Jinja's JSON parser).
func reference(_ path: String) throws -> Value.Object {
    let text = try String(contentsOf: fixtures.appendingPathComponent(path), encoding: .utf8)
    guard case .object(let o) = try Value.parseJSON(text) else { throw CancellationError() }
    return o
}

extension Value {
    subscript(_ key: String) -> Value? { if case .object(let o) = self { o[key] } else { nil } }
    var list: [Value] { if case .array(let a) = self { a } else { [] } }
    var string: String? { if case .string(let s) = self { s } else { nil } }
    var ints: [Int] { list.compactMap { if case .int(let i) = $0 { i } else { nil } } }
    var strings: [String] { list.compactMap(\.string) }
}

@Suite("tokenize and template")
struct TokenizeCLITests {
    @Test("tokenize reproduces the tokenizers library's ids, tokens and decodes on the fixture strings", arguments: ["llama3", "sentencepiece"])
    func tokenize(_ style: String) throws {
        let cases = try reference("tokenizers/\(style)/reference.json")["cases"]?.list ?? []
        #expect(cases.count > 100)
        var lines: [String] = []
        for c in cases { lines.append(try Value.object(Value.Object([("text", c["text"] ?? .none)])).toJSON()) }
        let folder = fixtures.appendingPathComponent("tokenizers/\(style)").path
        let encoded = try mixmerge(["tokenize", folder], input: lines.joined(separator: "\n") + "\n")
        #expect(encoded.status == 0, "\(encoded.stderr)")
        let plain = try mixmerge(["tokenize", folder, "--no-special-tokens"], input: lines.joined(separator: "\n"))
        let outputs = encoded.stdout.split(separator: "\n").map { try? Value.parseJSON(String($0)) }
        let outputsPlain = plain.stdout.split(separator: "\n").map { try? Value.parseJSON(String($0)) }
        #expect(outputs.count == cases.count)
        #expect(outputsPlain.count == cases.count)
        var decodeInput: [String] = []
        for (i, c) in cases.enumerated() where i < outputs.count && i < outputsPlain.count {
            #expect(outputs[i]?["ids"]?.ints == c["ids"]?.ints, "case \(i)")
            #expect(outputs[i]?["tokens"]?.strings == c["tokens"]?.strings, "case \(i)")
            #expect(outputsPlain[i]?["ids"]?.ints == c["ids_no_special"]?.ints, "case \(i)")
            decodeInput.append("{\"ids\": [" + (c["ids"]?.ints ?? []).map(String.init).joined(separator: ", ") + "]}")
        }
        let decoded = try mixmerge(["tokenize", folder, "--decode"], input: decodeInput.joined(separator: "\n"))
        let skipped = try mixmerge(["tokenize", folder, "--decode", "--skip-special-tokens"], input: decodeInput.joined(separator: "\n"))
        let d = decoded.stdout.split(separator: "\n").map { try? Value.parseJSON(String($0)) }
        let s = skipped.stdout.split(separator: "\n").map { try? Value.parseJSON(String($0)) }
        for (i, c) in cases.enumerated() where i < d.count && i < s.count {
            #expect(d[i]?["text"]?.string == c["decoded"]?.string, "case \(i)")
            #expect(s[i]?["text"]?.string == c["decoded_skip_special"]?.string, "case \(i)")
        }
    }

    @Test("tokenize: a bad line is one error naming the line; a missing tokenizer names the path")
    func tokenizeErrors() throws {
        let folder = fixtures.appendingPathComponent("tokenizers/qwen2").path
        let r = try mixmerge(["tokenize", folder], input: "{\"text\": \"ok\"}\n{\"txt\": 1}\n")
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("error: stdin:2:"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
        let m = try mixmerge(["tokenize", "/nonexistent/tok"], input: "")
        #expect(m.status != 0)
        #expect(m.stderr.contains("/nonexistent/tok"))
        let d = try mixmerge(["tokenize", folder, "--decode"], input: "{\"ids\": [1, 999999]}\n")
        #expect(d.status == 1)
        #expect(d.stderr.contains("999999"))
    }

    @Test("template prints transformers' apply_chat_template text and ids, and refuses what the template refuses",
          arguments: ["qwen2", "cohere", "sentencepiece", "llama3"])
    func template(_ style: String) throws {
        let configs = try reference("tokenizers/\(style)/reference.json")["chat_references"]?["configs"]
        let conversations = configs?["tokenizer_config.json"]?["conversations"]?.list ?? []
        #expect(conversations.count >= 10)
        let dir = scratch("template\(style)")
        let folder = fixtures.appendingPathComponent("tokenizers/\(style)").path
        // Every conversation is checked at the library level (JinjaTests); here a sample through the binary,
        // always including the ones the template refuses.
        for (n, conversation) in conversations.enumerated()
        where n % 4 == 0 || conversation["add_generation_prompt_false"]?["raises"].map({ if case .bool(true) = $0 { true } else { false } }) == true {
            var object = Value.Object()
            object["messages"] = conversation["messages"] ?? .array([])
            if let tools = conversation["tools"], case .array = tools { object["tools"] = tools }
            let file = dir.appendingPathComponent("c\(n).json")
            try Data(try Value.object(object).toJSON(indent: 2).utf8).write(to: file)
            for (flag, key) in [(false, "add_generation_prompt_false"), (true, "add_generation_prompt_true")] {
                guard let expected = conversation[key] else { continue }
                let args = ["template", folder, file.path] + (flag ? ["--generation-prompt"] : [])
                let r = try mixmerge(args)
                if case .bool(true)? = expected["raises"] {
                    #expect(r.status == 1, "\(style) \(conversation["name"]?.string ?? "") should raise")
                    #expect(r.stderr.split(separator: "\n").count == 1)
                    continue
                }
                #expect(r.status == 0, "\(r.stderr)")
                #expect(r.stdout == expected["text"]?.string, "\(style) \(conversation["name"]?.string ?? "") \(key)")
                let ids = try mixmerge(args + ["--ids"])
                let parsed = try Value.parseJSON(ids.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
                #expect(parsed.ints == expected["ids"]?.ints)
            }
        }
    }

}
