/// A token added on top of the model's vocabulary (`added_tokens` in `tokenizer.json`).
public struct AddedToken: Sendable, Equatable, Hashable {
    public let id: Int32
    public let content: String
    public let special: Bool
    public let singleWord: Bool
    public let lstrip: Bool
    public let rstrip: Bool
    public let normalized: Bool

    public init(id: Int32, content: String, special: Bool, singleWord: Bool = false, lstrip: Bool = false,
                rstrip: Bool = false, normalized: Bool = false) {
        self.id = id
        self.content = content
        self.special = special
        self.singleWord = singleWord
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.normalized = normalized
    }
}

/// A trie over Unicode scalars for leftmost-longest matching of added tokens (what the
/// tokenizers library's Aho-Corasick automaton with `LeftmostLongest` finds).
struct ScalarTrie: Sendable {
    private var children: [[UInt32: Int32]] = [[:]]
    private var terminal: [Int32] = [-1]
    private var firstASCII = [Bool](repeating: false, count: 128)
    private(set) var isEmpty = true

    mutating func insert(_ pattern: [UInt32], value: Int32) {
        guard !pattern.isEmpty else { return }
        isEmpty = false
        if pattern[0] < 128 { firstASCII[Int(pattern[0])] = true }
        var node = 0
        for c in pattern {
            if let nextNode = children[node][c] {
                node = Int(nextNode)
            } else {
                children.append([:])
                terminal.append(-1)
                let created = Int32(children.count - 1)
                children[node][c] = created
                node = Int(created)
            }
        }
        if terminal[node] < 0 { terminal[node] = value }
    }

    /// Non-overlapping leftmost-longest matches: (range, value).
    func matches(_ text: ArraySlice<UInt32>) -> [(Range<Int>, Int32)] {
        var out: [(Range<Int>, Int32)] = []
        if isEmpty { return out }
        let base = text.startIndex
        let n = text.count
        var i = 0
        while i < n {
            let c0 = text[base + i]
            if c0 < 128 && !firstASCII[Int(c0)] {
                i += 1
                continue
            }
            var node = 0
            var j = i
            var best = -1
            var bestValue: Int32 = -1
            while j < n, let nextNode = children[node][text[base + j]] {
                node = Int(nextNode)
                j += 1
                if terminal[node] >= 0 {
                    best = j
                    bestValue = terminal[node]
                }
            }
            if best > 0 {
                out.append((i..<best, bestValue))
                i = best
            } else {
                i += 1
            }
        }
        return out
    }
}

/// The added tokens and the two matchers of the tokenizers library's `AddedVocabulary`: tokens
/// with `normalized: false` are found in the raw text first, then the `normalized: true` ones in
/// each normalized remaining segment.
struct AddedVocabulary: Sendable {
    var tokens: [AddedToken] = []
    var byId: [Int32: Int] = [:]
    var byContent: [TokenKey: Int] = [:]
    /// What `id_to_token` gives for each token: its content, normalized for `normalized` tokens
    /// (as the library reports them).
    var reported: [String] = []
    var rawTrie = ScalarTrie()
    var normalizedTrie = ScalarTrie()

    /// A segment of text: `token` is the index of a matched added token, or nil for plain text.
    struct Segment {
        var range: Range<Int>
        var token: Int?
    }

    /// Builds the matchers; normalized tokens are matched in their normalized form.
    mutating func build(normalizer: Normalizer?) {
        rawTrie = ScalarTrie()
        normalizedTrie = ScalarTrie()
        reported = tokens.map(\.content)
        // Special tokens first, then the others, as the library chains them.
        let order = tokens.indices.filter { tokens[$0].special } + tokens.indices.filter { !tokens[$0].special }
        for k in order {
            let t = tokens[k]
            let scalars = t.content.unicodeScalars.map(\.value)
            if t.normalized {
                var ns = NormalizedString()
                for c in scalars { ns.append(c, 0, 0) }
                let norm = normalizer?.apply(ns) ?? ns
                normalizedTrie.insert(norm.scalars, value: Int32(k))
                reported[k] = norm.string
            } else {
                rawTrie.insert(scalars, value: Int32(k))
            }
        }
    }

    /// The library's `find_matches`: splits `text` into plain segments and added-token matches,
    /// honouring `single_word`, `lstrip` and `rstrip`.
    func split(_ text: ArraySlice<UInt32>, normalizedTokens: Bool) -> [Segment] {
        let n = text.count
        if n == 0 { return [] }
        let trie = normalizedTokens ? normalizedTrie : rawTrie
        let found = trie.matches(text)
        if found.isEmpty { return [Segment(range: 0..<n, token: nil)] }
        let base = text.startIndex
        func at(_ k: Int) -> UInt32 { text[base + k] }
        var out: [Segment] = []
        var startOffset = 0
        for (range, value) in found {
            var start = range.lowerBound
            var stop = range.upperBound
            let t = tokens[Int(value)]
            if start < startOffset { continue }
            if t.singleWord {
                let startSpace = start == 0 || !UnicodeData.isWordCharacter(at(start - 1))
                let stopSpace = stop == n || !UnicodeData.isWordCharacter(at(stop))
                if !startSpace || !stopSpace { continue }
            }
            if t.lstrip {
                var s = start
                while s > 0 && UnicodeData.isWhitespace(at(s - 1)) { s -= 1 }
                start = max(s, startOffset)
            }
            if t.rstrip {
                while stop < n && UnicodeData.isWhitespace(at(stop)) { stop += 1 }
            }
            if startOffset < start { out.append(Segment(range: startOffset..<start, token: nil)) }
            out.append(Segment(range: start..<stop, token: Int(value)))
            startOffset = stop
        }
        if startOffset < n { out.append(Segment(range: startOffset..<n, token: nil)) }
        return out
    }
}
