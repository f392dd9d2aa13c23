/// The keys and values of one sequence's past positions, per layer, in float32.
///
/// Layout per layer: `[position][kvHead][headDim]`. Keys are stored after RoPE (as attention
/// uses them). A cache belongs to one model shape; `LanguageModel` checks that it matches.
public struct KVCache: Sendable {
    /// Positions stored (the next token's position).
    public internal(set) var count: Int = 0
    /// Floats per position and layer (`kvHeads · headDim`).
    public let width: Int
    var keys: [[Float]]
    var values: [[Float]]

    /// An empty cache for `layers` layers of `width` floats per position.
    public init(layers: Int, width: Int, reservingPositions capacity: Int = 0) {
        self.width = width
        keys = Array(repeating: [], count: layers)
        values = Array(repeating: [], count: layers)
        if capacity > 0 {
            for l in 0..<layers {
                keys[l].reserveCapacity(capacity * width)
                values[l].reserveCapacity(capacity * width)
            }
        }
    }

    public var layerCount: Int { keys.count }

    /// Forgets every position after the first `count` (to rewind or re-use a prefix).
    public mutating func truncate(to count: Int) {
        guard count < self.count else { return }
        let keep = max(0, count) * width
        for l in keys.indices {
            keys[l].removeSubrange(keep...)
            values[l].removeSubrange(keep...)
        }
        self.count = max(0, count)
    }

    /// Keys of `layer` at `position` (`width` floats: kv heads in order).
    public func key(layer: Int, position: Int) -> ArraySlice<Float> {
        keys[layer][(position * width)..<((position + 1) * width)]
    }

    /// Values of `layer` at `position`.
    public func value(layer: Int, position: Int) -> ArraySlice<Float> {
        values[layer][(position * width)..<((position + 1) * width)]
    }
}
