import ArgumentParser
import Checkpoints
import Foundation
import Merging
import Tensors

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Describe a model, or compare task vectors against a base.",
        discussion: """
            With --against BASE, prints for every layer and tensor kind the norm of each model's task
            vector (model − base), the cosine between the task vectors of every pair of models, and the
            share of sign conflicts — what decides between linear, SLERP and TIES.
            """)

    @Argument(help: "A model folder or a .safetensors file (several with --against).") var models: [String]
    @Option(help: "A base model: compare the models' task vectors against it.") var against: String?
    @Flag(help: "List every tensor (with --against: every tensor's statistics).") var tensors = false
    @Flag(help: "Print JSON instead of text.") var json = false
    @Option(help: "Worker threads (default: all cores).") var threads: Int?

    func run() throws {
        do {
            if let against {
                try TaskVectorReport(models: models, base: against, perTensor: tensors, json: json,
                    threads: threads ?? ParallelFor.defaultThreads).run()
            } else {
                guard models.count == 1 else { throw ValidationError("give one model, or several with --against BASE") }
                try execute(models[0])
            }
        } catch let code as ExitCode { throw code } catch let e as ValidationError { throw e } catch { throw fail(error) }
    }

    func execute(_ model: String) throws {
        let checkpoint = try Checkpoint(path: model)
        let config = try ModelConfig.read(folder: checkpoint.directory)
        var dtypeCounts: [String: Int] = [:]
        var parameters = 0
        for name in checkpoint.names {
            let info = checkpoint.info(name)!
            dtypeCounts[info.dtype.rawValue, default: 0] += info.count
            parameters += info.count
        }
        let layers = checkpoint.names.compactMap { LayerName($0)?.index }.max().map { $0 + 1 } ?? 0
        let shards = checkpoint.files.map { (URL(fileURLWithPath: $0.path).lastPathComponent, $0.file.size, $0.tensors.count) }
        if json {
            var members: [(String, JSONValue)] = [
                ("path", .string(checkpoint.directory.path)),
                ("architectures", .array((config?.architectures ?? []).map { .string($0) })),
                ("model_type", config?.modelType.map { .string($0) } ?? .null),
                ("config_dtype", config?.dtypeName.map { .string($0) } ?? .null),
                ("layers", .int(layers)),
                ("parameters", .int(parameters)),
                ("bytes", .int(checkpoint.dataBytes)),
                ("dtypes", .object(dtypeCounts.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) })),
                ("shards", .array(shards.map { .object([("file", .string($0.0)), ("bytes", .int($0.1)), ("tensors", .int($0.2))]) })),
            ]
            if tensors {
                members.append(("tensors", .array(checkpoint.names.map { name in
                    let i = checkpoint.info(name)!
                    return .object([("name", .string(name)), ("dtype", .string(i.dtype.rawValue)), ("shape", .array(i.shape.map { .int($0) }))])
                })))
            }
            print(JSONValue.object(members).serialized(indent: 2))
            return
        }
        print("model:        \(checkpoint.directory.path)")
        print("architecture: \(config?.architectures.joined(separator: ", ") ?? "(no config.json)")\(config?.modelType.map { " (\($0))" } ?? "")")
        print("layers:       \(layers)\(config?.layerCount.map { $0 != layers ? " (config.json says \($0))" : "" } ?? "")")
        print("parameters:   \(formatCount(parameters)) (\(parameters))")
        print("dtypes:       " + dtypeCounts.sorted { $0.key < $1.key }.map { "\($0.key) \(formatCount($0.value))" }.joined(separator: ", ")
            + (config?.dtypeName.map { "; config.json: \($0)" } ?? ""))
        print("size:         \(formatBytes(checkpoint.dataBytes)) in \(shards.count) file\(shards.count == 1 ? "" : "s")")
        for s in shards { print("  \(s.0)  \(formatBytes(s.1))  \(s.2) tensors") }
        if tensors {
            print("tensors:")
            for name in checkpoint.names {
                let i = checkpoint.info(name)!
                print("  \(name)  \(i.dtype.rawValue)  \(i.shape)")
            }
        }
    }
}
