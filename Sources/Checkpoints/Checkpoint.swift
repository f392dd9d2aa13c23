import Foundation
import Tensors

/// The tensors of a Hugging Face model folder: `model.safetensors`, or the shards that
/// `model.safetensors.index.json` names (each checked to stay inside the folder and to hold
/// exactly the tensors the index assigns to it). A path to a single `.safetensors` file also works.
public final class Checkpoint: Sendable {
    public struct Location: Sendable {
        public let file: SafetensorsFile
        public let info: TensorInfo
        public var data: UnsafeRawPointer { file.data(info) }
        public init(file: SafetensorsFile, info: TensorInfo) {
            self.file = file
            self.info = info
        }
    }

    /// The folder (or the file's folder when opened from a file).
    public let directory: URL
    public let files: [SafetensorsFile]
    /// Tensor names in file order, then data order.
    public let names: [String]
    private let locations: [String: Location]

    public init(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointError(.notFound, path: path, "model not found")
        }
        let url = URL(fileURLWithPath: path).standardizedFileURL
        var files: [SafetensorsFile] = []
        var expected: [String: String]? = nil  // tensor -> shard file name, from the index
        if !isDirectory.boolValue {
            guard path.hasSuffix(".safetensors") else {
                throw CheckpointError(.unsupported, path: path, "not a .safetensors file or a model folder")
            }
            directory = url.deletingLastPathComponent()
            files = [try SafetensorsFile(path: url.path)]
        } else {
            directory = url
            let index = url.appendingPathComponent("model.safetensors.index.json")
            let single = url.appendingPathComponent("model.safetensors")
            if FileManager.default.fileExists(atPath: index.path) {
                let map = try Checkpoint.readIndex(index)
                expected = map
                var order: [String] = []
                for shard in map.values where !order.contains(shard) { order.append(shard) }
                order.sort()
                for shard in order {
                    let shardURL = url.appendingPathComponent(shard)
                    guard FileManager.default.fileExists(atPath: shardURL.path) else {
                        throw CheckpointError(.notFound, path: shardURL.path, "shard named in model.safetensors.index.json is missing")
                    }
                    files.append(try SafetensorsFile(path: shardURL.path))
                }
            } else if FileManager.default.fileExists(atPath: single.path) {
                files = [try SafetensorsFile(path: single.path)]
            } else if FileManager.default.fileExists(atPath: url.appendingPathComponent("pytorch_model.bin").path)
                || FileManager.default.fileExists(atPath: url.appendingPathComponent("pytorch_model.bin.index.json").path)
            {
                throw CheckpointError(.unsupported, path: path,
                    "only PyTorch .bin weights found; convert them to safetensors first (transformers: save_pretrained(..., safe_serialization=True))")
            } else {
                throw CheckpointError(.notFound, path: path, "no model.safetensors or model.safetensors.index.json in this folder")
            }
        }
        var locations: [String: Location] = [:]
        var names: [String] = []
        for file in files {
            let shardName = URL(fileURLWithPath: file.path).lastPathComponent
            for info in file.tensors {
                if let expected {
                    guard expected[info.name] == shardName else {
                        throw CheckpointError(.corrupt, path: file.path,
                            "holds tensor '\(info.name)' which model.safetensors.index.json assigns to \(expected[info.name].map { "'\($0)'" } ?? "no shard")")
                    }
                }
                guard locations[info.name] == nil else {
                    throw CheckpointError(.corrupt, path: file.path, "tensor '\(info.name)' appears in two shards")
                }
                locations[info.name] = Location(file: file, info: info)
                names.append(info.name)
            }
        }
        if let expected {
            for (name, shard) in expected where locations[name] == nil {
                throw CheckpointError(.corrupt, path: directory.appendingPathComponent(shard).path,
                    "tensor '\(name)' listed in model.safetensors.index.json is not in this shard")
            }
        }
        self.files = files
        self.names = names
        self.locations = locations
    }

    public func location(_ name: String) -> Location? { locations[name] }
    public func info(_ name: String) -> TensorInfo? { locations[name]?.info }
    public func contains(_ name: String) -> Bool { locations[name] != nil }

    /// Total bytes of tensor data.
    public var dataBytes: Int { files.reduce(0) { $0 + $1.tensors.reduce(0) { $0 + $1.byteCount } } }

    static func readIndex(_ url: URL) throws -> [String: String] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CheckpointError(.unreadable, path: url.path, "cannot read")
        }
        let json: JSONValue
        do {
            json = try data.withUnsafeBytes { try JSONValue.parse($0) }
        } catch {
            throw CheckpointError(.corrupt, path: url.path, "not valid JSON (\(error))")
        }
        guard let map = json["weight_map"]?.objectValue else {
            throw CheckpointError(.corrupt, path: url.path, "has no \"weight_map\" object")
        }
        var result: [String: String] = [:]
        for (tensor, value) in map {
            guard let shard = value.stringValue else {
                throw CheckpointError(.corrupt, path: url.path, "weight_map entry for '\(tensor)' is not a file name")
            }
            guard isSafeShardName(shard) else {
                throw CheckpointError(.unsafePath, path: url.path,
                    "weight_map entry for '\(tensor)' points outside the model folder: '\(shard)'")
            }
            result[tensor] = shard
        }
        return result
    }

    /// A shard name must be a plain file name in the model folder: no separators, no `..`.
    static func isSafeShardName(_ name: String) -> Bool {
        !name.isEmpty && !name.contains("/") && !name.contains("\\") && name != "." && name != ".."
            && !name.contains("\0") && name.hasSuffix(".safetensors")
    }
}
