import Foundation
import Evaluation
import Jinja
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@Suite("complete, score and bad models")
struct LocalModelCLITests {
    @Test("complete --greedy --json continues the fixture prompts as transformers does")
    func complete() throws {
        for name in ["llama-base", "gemma2-base"] {
            let c = try reference("inference/\(name)/case.json")
            let model = fixtures.appendingPathComponent("inference/\(name)").appendingPathComponent(c["model"]?.string ?? "").standardizedFileURL.path
            for s in c["sequences"]?.list ?? [] {
                let ids = (s["input_ids"]?.ints ?? []).map(String.init).joined(separator: " ")
                let expected = s["greedy_new_tokens"]?.ints ?? []
                let r = try mixmerge(["complete", model, "--ids", ids, "--max-tokens", "\(expected.count)", "--greedy", "--json", "--ignore-eos"])
                #expect(r.status == 0, "\(r.stderr)")
                #expect(try Value.parseJSON(r.stdout)["ids"]?.ints == expected, "\(name) \(ids)")
            }
        }
    }

    @Test("score --ids --dump-logits writes transformers' logits as .npy")
    func dumpLogits() throws {
        let c = try reference("inference/qwen2-base/case.json")
        let model = fixtures.appendingPathComponent("inference/qwen2-base").appendingPathComponent(c["model"]?.string ?? "").standardizedFileURL.path
        let s = try #require(c["sequences"]?.list.first)
        let out = scratch().appendingPathComponent("logits.npy")
        let ids = (s["input_ids"]?.ints ?? []).map(String.init).joined(separator: ",")
        let r = try mixmerge(["score", model, "--ids", ids, "--dump-logits", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        let mine = try npyFloats(out)
        let theirs = try npyFloats(fixtures.appendingPathComponent("inference/qwen2-base/\(s["logits_file"]?.string ?? "")"))
        #expect(mine.count == theirs.count)
        let scale = theirs.map(abs).max() ?? 1
        let worst = zip(mine, theirs).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-4 * scale)
        #expect(try Value.parseJSON(r.stdout)["tokens"].map { if case .int(let n) = $0 { n } else { -1 } } == (s["input_ids"]?.ints.count ?? 0) - 1)
    }

    @Test("bad models: an unsupported architecture names itself and the supported list; a prompt too long is refused")
    func badModels() throws {
        let dir = scratch()
        let folder = dir.appendingPathComponent("odd")
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("models/llama/base"), to: folder)
        let config = folder.appendingPathComponent("config.json")
        let text = try String(contentsOf: config, encoding: .utf8).replacingOccurrences(of: "LlamaForCausalLM", with: "MambaForCausalLM")
        try text.write(to: config, atomically: true, encoding: .utf8)
        let r = try mixmerge(["complete", folder.path, "--ids", "1 2", "--greedy"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("MambaForCausalLM") && r.stderr.contains("LlamaForCausalLM"), "\(r.stderr)")
        let long = (0..<200).map { _ in "5" }.joined(separator: " ")
        let l = try mixmerge(["complete", fixtures.appendingPathComponent("models/llama/base").path, "--ids", long, "--greedy"])
        #expect(l.status == 1)
        #expect(l.stderr.contains("context length"), "\(l.stderr)")
    }
}

/// Float32 values of a little-endian C-order .npy file.
func npyFloats(_ url: URL) throws -> [Float] {
    let data = try Data(contentsOf: url)
    let headerLength = Int(data[8]) | Int(data[9]) << 8
    let start = 10 + headerLength
    return data[start...].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
}

/// `mixmerge serve` in a child process on a free loopback port.
final class LocalServer {
    let process = Process()
    let url: String

    init(_ arguments: [String]) throws {
        process.executableURL = binary
        process.arguments = ["serve", "--port", "0"] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        // "serving NAME at http://127.0.0.1:PORT/v1"
        url = String(decoding: line, as: UTF8.self).split(separator: " ").last.map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
    }

    /// SIGTERM, then the exit status.
    func stop() -> Int32 {
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// A fixture model with a ChatML template, for chat requests.
func chatModel(_ family: String = "llama") throws -> URL {
    let folder = scratch("chatmodel").appendingPathComponent(family)
    try FileManager.default.copyItem(at: fixtures.appendingPathComponent("models/\(family)/base"), to: folder)
    let chatml = """
        {% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}
        """
    try chatml.write(to: folder.appendingPathComponent("chat_template.jinja"), atomically: true, encoding: .utf8)
    return folder
}

func post(_ url: String, _ body: String) async throws -> (Int, String) {
    var request = URLRequest(url: try #require(URL(string: url)))
    request.httpMethod = "POST"
    request.httpBody = Data(body.utf8)
    request.setValue("application/json", forHTTPHeaderField: "Content-Type")
    let (data, response) = try await URLSession.shared.data(for: request)
    return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
}

@Suite("mixmerge serve end to end", .serialized)
struct ServeCLITests {
    @Test("serve a fixture model; streamed and whole answers agree; two clients at once; generate and judge against it")
    func serveGenerateJudge() async throws {
        let model = try chatModel()
        let server = try LocalServer(["\(model.path)=tiny"])
        #expect(server.url.hasPrefix("http://127.0.0.1:"), "\(server.url)")
        let body = #"{"model": "tiny", "messages": [{"role": "user", "content": "Hello there"}], "max_tokens": 12, "temperature": 0, "ignore_eos": true}"#
        let (status, whole) = try await post(server.url + "/chat/completions", body)
        #expect(status == 200, "\(whole)")
        let answer = try Value.parseJSON(whole)["choices"]?.list.first?["message"]?["content"]?.string
        #expect(answer != nil && !(answer ?? "").isEmpty)
        let (_, events) = try await post(server.url + "/chat/completions", body.replacingOccurrences(of: "\"temperature\": 0", with: "\"temperature\": 0, \"stream\": true"))
        var streamed = ""
        for line in events.split(separator: "\n") where line.hasPrefix("data: {") {
            streamed += try Value.parseJSON(String(line.dropFirst(6)))["choices"]?.list.first?["delta"]?["content"]?.string ?? ""
        }
        #expect(events.hasSuffix("data: [DONE]\n\n"))
        #expect(streamed == answer)
        let base = server.url
        async let a = post(base + "/chat/completions", body)
        async let b = post(base + "/chat/completions", body.replacingOccurrences(of: "Hello there", with: "Another question"))
        let (ra, rb) = try await (a, b)
        #expect(ra.0 == 200 && rb.0 == 200)
        #expect(try Value.parseJSON(ra.1)["choices"]?.list.first?["message"]?["content"]?.string == answer)

        // The evaluation harness against the local server, judged by a scripted judge.
        let judge = try FakeServer()
        let store = scratch().appendingPathComponent("run.sqlite").path
        let gen = try mixmerge(["generate", store, "--prompts", redteaming, "--format", "preference",
                                "--candidate", "name=tiny,url=\(server.url),model=tiny,temperature=0,max_tokens=6", "--json"])
        #expect(gen.status == 0, "\(gen.stderr)")
        let harm = try mixmerge(["judge", "harm", store, "--judge", "url=\(judge.url),model=judge-harm", "--json"])
        #expect(harm.status == 0, "\(harm.stderr)")
        let summary = try Value.parseJSON(harm.stdout)
        #expect(summary["succeeded"].map { if case .int(let n) = $0 { n > 0 } else { false } } == true, "\(harm.stdout)")
        #expect(server.stop() == 0)

        // The same folder as a local candidate (no url=): served in-process, same greedy answers as the server gave.
        let local = try mixmerge(["generate", store, "--set", "safety",
                                  "--candidate", "name=inproc,model=\(model.path),temperature=0,max_tokens=6", "--json"])
        #expect(local.status == 0, "\(local.stderr)")
        let answers = try RunStore(path: store, create: false).generations()
        let byPrompt = Dictionary(grouping: answers, by: \.promptID)
        #expect(!byPrompt.isEmpty)
        for (_, pair) in byPrompt {
            let t = pair.first { $0.candidate == "tiny" }?.response, l = pair.first { $0.candidate == "inproc" }?.response
            #expect(t != nil && t == l, "prompt answered differently in-process: \(String(describing: t)) vs \(String(describing: l))")
        }
        let missing = try mixmerge(["generate", store, "--set", "safety", "--candidate", "name=x,model=/no/such/folder"])
        #expect(missing.status != 0 && missing.stderr.contains("/no/such/folder"), "\(missing.stderr)")
    }
}
