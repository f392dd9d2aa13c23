import ArgumentParser
import Foundation
import Inference
import Serving
import Synchronization

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve local models over an OpenAI-compatible HTTP API (chat and text completions, streaming).",
        discussion: """
            Each MODEL is a Hugging Face folder (config.json, safetensors, tokenizer.json, tokenizer_config.json), \
            optionally MODEL=NAME to choose the name clients send as "model" (default: the folder's name). \
            Endpoints: GET /v1/models, POST /v1/chat/completions, POST /v1/completions, GET /health. Listens on \
            loopback unless --host says otherwise. SIGTERM or Ctrl-C stops accepting requests, lets the running ones \
            finish (a second signal cancels them) and exits 0.
            """)

    @Argument(help: "Model folders, each optionally PATH=NAME.") var models: [String]
    @Option(help: "Port to listen on (0: any free port; the URL is printed).") var port = 8000
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: ArgumentHelp("Require Authorization: Bearer <key>, the key read from this environment variable.",
                               valueName: "VAR"))
    var apiKeyEnv: String?
    @Option(help: "Sequences decoded together per model (continuous batching).") var maxBatch = 8
    @Option(help: "Requests that may wait for a free sequence slot; more are answered 429.") var maxQueue = 64
    @Option(help: "Worker threads (default: all cores).") var threads: Int?

    func run() throws {
        do {
            var key: String?
            if let apiKeyEnv {
                guard let k = ProcessInfo.processInfo.environment[apiKeyEnv], !k.isEmpty else {
                    throw ValidationError("--api-key-env: the environment variable \(apiKeyEnv) is not set")
                }
                key = k
            }
            let loaded = try models.map { spec -> LocalModel in
                let (path, name) = Self.split(spec)
                return try LocalModel(folder: URL(fileURLWithPath: path), name: name, maxBatch: maxBatch, maxQueued: maxQueue,
                                      threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
            }
            let names = loaded.map(\.name)
            if Set(names).count != names.count {
                throw ValidationError("two models have the same name; name them with PATH=NAME")
            }
            let server = OpenAIServer(models: loaded, options: .init(host: host, port: port, apiKey: key))
            let bound: Int
            do { bound = try server.start() } catch {
                throw ValidationError("cannot listen on \(host):\(port): \(error)")
            }
            print("serving \(names.joined(separator: ", ")) at http://\(host):\(bound)/v1")
            fflush(nil)  // every stream: the address line must reach a pipe at once
            ServeSignals.install()
            ServeSignals.waitForFirst()
            FileHandle.standardError.write(Data("stopping: finishing running requests (signal again to cancel them)\n".utf8))
            server.shutdown()
            let done = DispatchSemaphore(value: 0)
            DispatchQueue.global().async {
                for m in loaded { m.engine.shutdown() }
                done.signal()
            }
            while done.wait(timeout: .now() + 0.05) == .timedOut {
                if ServeSignals.count >= 2 { for m in loaded { m.engine.shutdown(cancelRunning: true) } }
            }
        } catch { throw fail(error) }
    }

    /// `PATH=NAME` → (PATH, NAME); a plain path has no name (an `=` inside an existing path is kept).
    static func split(_ spec: String) -> (String, String?) {
        if FileManager.default.fileExists(atPath: spec) { return (spec, nil) }
        guard let eq = spec.lastIndex(of: "=") else { return (spec, nil) }
        let name = String(spec[spec.index(after: eq)...])
        return (String(spec[..<eq]), name.isEmpty ? nil : name)
    }
}

/// SIGINT/SIGTERM while serving: the handler only counts (one atomic add).
enum ServeSignals {
    static let counter = Atomic<Int>(0)
    static var count: Int { counter.load(ordering: .relaxed) }

    static func install() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig) { _ in ServeSignals.counter.wrappingAdd(1, ordering: .relaxed) }
        }
    }

    static func waitForFirst() {
        while count == 0 { usleep(20_000) }
    }
}
