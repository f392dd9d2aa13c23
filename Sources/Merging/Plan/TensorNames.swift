/// Finds layers in tensor names generically, so that architectures nobody declared still merge:
/// the first dot-separated component made only of digits is the layer index
/// (`model.layers.12.mlp.up_proj.weight` → prefix `model.layers.`, layer 12, suffix `.mlp.up_proj.weight`).
public struct LayerName: Hashable, Sendable {
    public let prefix: String
    public let index: Int
    public let suffix: String

    public init?(_ name: String) {
        var start = name.startIndex
        while start < name.endIndex {
            let end = name[start...].firstIndex(of: ".") ?? name.endIndex
            let component = name[start..<end]
            if !component.isEmpty, component.allSatisfy(\.isASCII), component.allSatisfy(\.isNumber),
                start != name.startIndex, let i = Int(component)
            {
                prefix = String(name[..<start])
                index = i
                suffix = String(name[end...])
                return
            }
            if end == name.endIndex { break }
            start = name.index(after: end)
        }
        return nil
    }

    public func renamed(to layer: Int) -> String { prefix + String(layer) + suffix }
    public var key: String { prefix + "#" + suffix }
}

enum TensorNames {
    /// Whether a tensor outside the layers comes after them (final norm, LM head) rather than
    /// before (embeddings). Decides which slice provides it in a frankenmerge.
    static func isPostLayer(_ name: String) -> Bool {
        let n = name.lowercased()
        if n.contains("embed") || n.contains("wte") || n.contains("wpe") { return false }
        return ["lm_head", "final", "ln_f", "norm", "head", "score"].contains { n.contains($0) }
    }

    /// Names a model may hold instead of `name` when its embeddings are tied.
    static func tiedAlternatives(_ name: String) -> [String] {
        switch name {
        case "lm_head.weight": ["model.embed_tokens.weight", "transformer.wte.weight", "model.embed.weight"]
        default: []
        }
    }

    /// mergekit's execution order: ascending code-point order of the names.
    static func precedes(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }
}
