import Foundation
import Tensors

/// A model's `config.json`, read in both the transformers 4 keys (`torch_dtype`, `rope_theta`,
/// `rope_scaling`) and the transformers 5 keys (`dtype`, `rope_parameters`), kept as ordered JSON
/// so that it can be written back with only the fields a merge changes.
public struct ModelConfig: Sendable {
    public var json: JSONValue
    public let path: String

    public init(json: JSONValue, path: String = "config.json") {
        self.json = json
        self.path = path
    }

    /// Reads `config.json` from a model folder; `nil` when the folder has none.
    public static func read(folder: URL) throws -> ModelConfig? {
        let url = folder.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw CheckpointError(.unreadable, path: url.path, "cannot read") }
        do {
            let json = try data.withUnsafeBytes { try JSONValue.parse($0) }
            guard case .object = json else { throw CheckpointError(.corrupt, path: url.path, "is not a JSON object") }
            return ModelConfig(json: json, path: url.path)
        } catch let error as JSONParseError {
            throw CheckpointError(.corrupt, path: url.path, "not valid JSON (\(error))")
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError(.corrupt, path: url.path, "\(error)")
        }
    }

    public var architectures: [String] { json["architectures"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
    public var modelType: String? { json["model_type"]?.stringValue }

    /// Which key holds the dtype: `torch_dtype` (transformers 4) or `dtype` (transformers 5).
    public var dtypeKey: String { json["torch_dtype"] != nil && json["dtype"] == nil ? "torch_dtype" : "dtype" }
    public var dtypeName: String? { json[dtypeKey]?.stringValue }

    /// The key holding the layer count (`num_hidden_layers`, `n_layer` or `num_layers`).
    public var layerCountKey: String? {
        ["num_hidden_layers", "n_layer", "num_layers"].first { json[$0]?.intValue != nil }
    }
    public var layerCount: Int? { layerCountKey.flatMap { json[$0]?.intValue } }

    public var ropeTheta: Double? { json["rope_theta"]?.doubleValue ?? json["rope_parameters"]?["rope_theta"]?.doubleValue }
    /// `rope_scaling` (transformers 4) or `rope_parameters` (transformers 5), whichever is present.
    public var ropeScaling: JSONValue? {
        if let v = json["rope_scaling"], v != .null { return v }
        return json["rope_parameters"]
    }
    public var tieWordEmbeddings: Bool? { json["tie_word_embeddings"]?.boolValue }
    public var vocabSize: Int? { json["vocab_size"]?.intValue }

    /// Sets the dtype under whichever key the file already uses.
    public mutating func setDType(_ name: String) { json.set(dtypeKey, .string(name)) }

    /// Sets the layer count, and slices per-layer lists (such as `layer_types`) to the given
    /// source layers so the config stays consistent after a frankenmerge.
    public mutating func setLayers(count: Int, sourceLayers: [Int]?) {
        let old = layerCount
        json.set(layerCountKey ?? "num_hidden_layers", .int(count))
        guard let sourceLayers, let members = json.objectValue, let old else { return }
        for (key, value) in members where ["layer_types", "sliding_window_pattern_list"].contains(key) {
            if let list = value.arrayValue, list.count == old, sourceLayers.allSatisfy({ $0 < list.count }) {
                json.set(key, .array(sourceLayers.map { list[$0] }))
            }
        }
    }

    public func write(to url: URL) throws {
        do {
            try Data((json.serialized(indent: 2) + "\n").utf8).write(to: url)
        } catch {
            throw CheckpointError(.writeFailed, path: url.path, "cannot write")
        }
    }
}

/// Files of a Hugging Face model folder other than weights and config.
public enum ModelFolder {
    /// Tokenizer and generation files copied from the donor model into a merge's output.
    public static let tokenizerFiles = [
        "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
        "added_tokens.json", "merges.txt", "vocab.json", "vocab.txt", "spiece.model",
        "chat_template.jinja", "chat_template.json", "generation_config.json",
        "preprocessor_config.json", "processor_config.json",
    ]

    /// Copies the tokenizer files that exist in `source` to `destination`; returns their names.
    @discardableResult
    public static func copyTokenizerFiles(from source: URL, to destination: URL) throws -> [String] {
        var copied: [String] = []
        for name in tokenizerFiles {
            let from = source.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: from.path) else { continue }
            let to = destination.appendingPathComponent(name)
            do {
                // Read and write rather than copyItem, so a read-only source does not give a read-only copy.
                try Data(contentsOf: from).write(to: to)
            } catch {
                throw CheckpointError(.writeFailed, path: to.path, "cannot copy \(name) from \(source.path)")
            }
            copied.append(name)
        }
        return copied
    }

    /// The chat template a model folder declares (`chat_template.jinja`, or the
    /// `chat_template` string in `tokenizer_config.json`), if any.
    public static func chatTemplate(in folder: URL) -> String? {
        if let text = try? String(contentsOf: folder.appendingPathComponent("chat_template.jinja"), encoding: .utf8) {
            return text
        }
        guard let data = try? Data(contentsOf: folder.appendingPathComponent("tokenizer_config.json")),
            let json = try? data.withUnsafeBytes({ try JSONValue.parse($0) })
        else { return nil }
        return json["chat_template"]?.stringValue
    }

    /// Installs `template` as the chat template of the folder: writes `chat_template.jinja` and
    /// sets `chat_template` in `tokenizer_config.json` when that file exists.
    public static func setChatTemplate(_ template: String, in folder: URL) throws {
        let jinja = folder.appendingPathComponent("chat_template.jinja")
        do { try Data(template.utf8).write(to: jinja) } catch {
            throw CheckpointError(.writeFailed, path: jinja.path, "cannot write")
        }
        let configURL = folder.appendingPathComponent("tokenizer_config.json")
        guard let data = try? Data(contentsOf: configURL),
            var json = try? data.withUnsafeBytes({ try JSONValue.parse($0) })
        else { return }
        json.set("chat_template", .string(template))
        do { try Data((json.serialized(indent: 2) + "\n").utf8).write(to: configURL) } catch {
            throw CheckpointError(.writeFailed, path: configURL.path, "cannot write")
        }
    }
}
