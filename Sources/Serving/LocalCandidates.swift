import Foundation
import Inference

/// Local candidates of `mixmerge generate`: a `--candidate name=X,model=PATH,…` without `url=` whose model
/// is a model folder runs in this process — the folder is served on a free loopback port by the same
/// OpenAI-compatible server as `mixmerge serve`, and the candidate is pointed at it, so the store, resume
/// and statistics are the same as for any endpoint.
public final class LocalCandidates {
    public init() {}

    private var servers: [OpenAIServer] = []
    private var models: [LocalModel] = []

    /// Rewrites the specs of local candidates to point at in-process servers (one per distinct folder).
    public func rewrite(_ specs: [String], maxBatch: Int) throws -> [String] {
        var served: [String: String] = [:]  // folder → base URL
        return try specs.map { spec in
            var fields = spec.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            let pairs = fields.map { f -> (String, String) in
                guard let eq = f.firstIndex(of: "=") else { return (f, "") }
                return (String(f[..<eq]), String(f[f.index(after: eq)...]))
            }
            guard !pairs.contains(where: { $0.0 == "url" }), let modelIndex = pairs.firstIndex(where: { $0.0 == "model" }) else {
                return spec
            }
            let path = pairs[modelIndex].1
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue else {
                throw LocalCandidateError("candidate '\(spec)': without url=, model= must be a local model folder; \(path) is not one")
            }
            let key = URL(fileURLWithPath: path).standardizedFileURL.path
            let name = URL(fileURLWithPath: key).lastPathComponent
            if served[key] == nil {
                let model = try LocalModel(folder: URL(fileURLWithPath: key), name: name, maxBatch: maxBatch, maxQueued: 1 << 16)
                let server = OpenAIServer(models: [model], options: .init(host: "127.0.0.1", port: 0))
                let port = try server.start()
                models.append(model)
                servers.append(server)
                served[key] = "http://127.0.0.1:\(port)/v1"
            }
            fields[modelIndex] = "model=\(name)"
            fields.append("url=\(served[key] ?? "")")
            return fields.joined(separator: ",")
        }
    }

    /// Stops the in-process servers and their engines.
    public func stop() {
        for s in servers { s.shutdown() }
        for m in models { m.engine.shutdown(cancelRunning: true) }
    }
}

/// A local candidate that is not a model folder.
public struct LocalCandidateError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
