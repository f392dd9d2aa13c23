/// Merge ranks keyed by packed id pairs: open addressing with linear probing.
struct PairTable: Sendable {
    private var keys: [UInt64]
    private var values: [UInt64]  // rank << 32 | new id
    private let mask: Int
    private let shift: UInt64
    private static let empty = UInt64.max

    init(capacityFor n: Int) {
        var size = 16
        var bits: UInt64 = 4
        while size < n * 2 {
            size <<= 1
            bits += 1
        }
        keys = [UInt64](repeating: PairTable.empty, count: size)
        values = [UInt64](repeating: 0, count: size)
        mask = size - 1
        shift = 64 - bits
    }

    @inline(__always)
    private func slot(_ key: UInt64) -> Int { Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    /// Inserts or overwrites the merge of (a, b).
    mutating func insert(_ a: Int32, _ b: Int32, rank: Int32, newId: Int32) {
        let key = UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
        var i = slot(key)
        while keys[i] != PairTable.empty && keys[i] != key { i = (i + 1) & mask }
        keys[i] = key
        values[i] = UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(UInt32(bitPattern: newId))
    }

    /// The (rank, new id) of merging (a, b), or nil.
    @inline(__always)
    func get(_ a: Int32, _ b: Int32) -> (rank: Int32, newId: Int32)? {
        let key = UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
        return keys.withUnsafeBufferPointer { k -> (Int32, Int32)? in
            var i = slot(key)
            while true {
                let stored = k[i]
                if stored == key {
                    let v = values[i]
                    return (Int32(truncatingIfNeeded: v >> 32), Int32(truncatingIfNeeded: v))
                }
                if stored == PairTable.empty { return nil }
                i = (i + 1) & mask
            }
        }
    }
}

/// One token of a word: its id and the byte range (of the model's input text: the byte-level
/// bytes, or the UTF-8 of the scalars) it covers.
struct WordToken: Sendable {
    var id: Int32
    var start: Int32
    var end: Int32
}

/// Per-call scratch and the bounded word cache of the BPE model (one per thread).
final class BPEWorkspace {
    var cache: [[UInt8]: [WordToken]] = [:]
    var key: [UInt8] = []
    var units: [UInt32] = []
    var unitScalar: [Int32] = []
    var stack: [Regex.Frame] = []
    let normalization = NormalizationCache()
    static let cacheLimit = 50_000
    static let cacheableUnits = 256

    init() {
        key.reserveCapacity(64)
        units.reserveCapacity(64)
        unitScalar.reserveCapacity(64)
        stack.reserveCapacity(64)
    }
}

/// The BPE model of `tokenizer.json`, with the tokenizers library's semantics (`merge_word`,
/// `Word::merge_all`): the pair with the lowest rank merges first, the leftmost among equal ranks.
struct BPEModel: Sendable {
    let vocab: Vocabulary
    let idToToken: [String?]
    let merges: PairTable
    let unkId: Int32?
    let unkToken: String?
    let byteFallback: Bool
    let fuseUnk: Bool
    let ignoreMerges: Bool
    let prefix: String?
    let suffix: String?
    /// Vocabulary ids of the byte-level characters (by byte), -1 when absent.
    let byteLevelIds: [Int32]
    /// Vocabulary ids of single ASCII scalars, -1 when absent.
    let asciiIds: [Int32]
    /// Vocabulary ids of `<0xXX>` tokens (by byte), -1 when absent.
    let fallbackIds: [Int32]

    init(vocab: Vocabulary, merges: [(String, String)], unkToken: String?, byteFallback: Bool,
         fuseUnk: Bool, ignoreMerges: Bool, prefix: String?, suffix: String?,
         mergeError: (Int, String) -> TokenizerError, unkError: () -> TokenizerError) throws {
        self.vocab = vocab
        var maxId: Int32 = -1
        for (_, id) in vocab.pairs where id > maxId { maxId = id }
        var r = [String?](repeating: nil, count: Int(maxId) + 1)
        for (token, id) in vocab.pairs where id >= 0 { r[Int(id)] = token }
        idToToken = r
        var table = PairTable(capacityFor: merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            guard let ida = vocab[a] else { throw mergeError(rank, "token '\(a)' is not in the vocabulary") }
            guard let idb = vocab[b] else { throw mergeError(rank, "token '\(b)' is not in the vocabulary") }
            let right = b
            var merged = a + right
            if let p = prefix, !p.isEmpty, b.utf8.starts(with: p.utf8) {
                merged = a + String(decoding: b.utf8.dropFirst(p.utf8.count), as: UTF8.self)
            }
            guard let idm = vocab[merged] else {
                throw mergeError(rank, "the merged token '\(merged)' is not in the vocabulary")
            }
            table.insert(ida, idb, rank: Int32(rank), newId: idm)
        }
        self.merges = table
        self.unkToken = unkToken
        if let u = unkToken {
            unkId = vocab[u]
        } else {
            unkId = nil
        }
        self.byteFallback = byteFallback
        self.fuseUnk = fuseUnk
        self.ignoreMerges = ignoreMerges
        self.prefix = (prefix?.isEmpty ?? true) ? nil : prefix
        self.suffix = (suffix?.isEmpty ?? true) ? nil : suffix
        byteLevelIds = ByteLevelTable.byteStrings.map { vocab[$0] ?? -1 }
        asciiIds = (0..<128).map { vocab[String(Character(Unicode.Scalar(UInt8($0))))] ?? -1 }
        fallbackIds = (0..<256).map { b in
            let hex = String(b, radix: 16, uppercase: true)
            return vocab["<0x\(hex.count == 1 ? "0" + hex : hex)>"] ?? -1
        }
        _ = unkError
    }

    @inline(__always)
    static func utf8Length(_ c: UInt32) -> Int { c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4 }

    func token(_ id: Int32) -> String? {
        id >= 0 && Int(id) < idToToken.count ? idToToken[Int(id)] : nil
    }

    /// The string form of unit `u` (a byte in byte-level mode, else a scalar).
    private func unitString(_ u: UInt32, byteLevel: Bool) -> String {
        if byteLevel { return ByteLevelTable.byteStrings[Int(u)] }
        return String(Character(Unicode.Scalar(u) ?? "\u{FFFD}"))
    }

    @inline(__always)
    private func unitId(_ u: UInt32, byteLevel: Bool) -> Int32 {
        if byteLevel { return byteLevelIds[Int(u)] }
        if u < 128 { return asciiIds[Int(u)] }
        return vocab[unitString(u, byteLevel: false)] ?? -1
    }

    /// Tokenizes one pre-token given as model units (bytes when `byteLevel`, else scalars).
    func tokenize(_ units: [UInt32], byteLevel: Bool, workspace ws: BPEWorkspace) -> [WordToken] {
        let n = units.count
        if n == 0 { return [] }
        let cacheable = n <= BPEWorkspace.cacheableUnits
        if !cacheable { return tokenizeUncached(units, byteLevel: byteLevel) }
        var key = ws.key
        ws.key = []
        key.removeAll(keepingCapacity: true)
        key.append(byteLevel ? 1 : 0)
        if byteLevel {
            for u in units { key.append(UInt8(truncatingIfNeeded: u)) }
        } else {
            for u in units {
                if u < 0x80 {
                    key.append(UInt8(u))
                } else if let s = Unicode.Scalar(u) {
                    key.append(contentsOf: String(Character(s)).utf8)
                }
            }
        }
        if let hit = ws.cache[key] {
            ws.key = key
            return hit
        }
        let result = tokenizeUncached(units, byteLevel: byteLevel)
        if ws.cache.count >= BPEWorkspace.cacheLimit { ws.cache.removeAll(keepingCapacity: true) }
        ws.cache[key] = result
        ws.key = key
        return result
    }

    private func tokenizeUncached(_ units: [UInt32], byteLevel: Bool) -> [WordToken] {
        let n = units.count
        if ignoreMerges {
            var s = ""
            for u in units { s += unitString(u, byteLevel: byteLevel) }
            if let id = vocab[s] {
                var bytes = n
                if !byteLevel { bytes = units.reduce(0) { $0 + BPEModel.utf8Length($1) } }
                return [WordToken(id: id, start: 0, end: Int32(bytes))]
            }
        }
        var symbols: [WordToken] = []
        symbols.reserveCapacity(n)
        var unk: WordToken?
        // The library places symbols by their running byte length, so a dropped unit (no unk
        // token, no byte fallback) shifts the offsets of everything after it; `cursor` does too.
        var cursor: Int32 = 0
        for k in 0..<n {
            let u = units[k]
            let width = byteLevel ? 1 : Int32(BPEModel.utf8Length(u))
            var id: Int32
            var text: String?
            if prefix == nil && suffix == nil {
                id = unitId(u, byteLevel: byteLevel)
            } else {
                var s = unitString(u, byteLevel: byteLevel)
                if k > 0, let p = prefix { s = p + s }
                if k == n - 1, let x = suffix { s += x }
                id = vocab[s] ?? -1
                text = s
            }
            let k32 = cursor
            if id >= 0 {
                if let pending = unk {
                    symbols.append(pending)
                    unk = nil
                }
                symbols.append(WordToken(id: id, start: k32, end: k32 + width))
                cursor += width
                continue
            }
            if byteFallback {
                let bytes = Array((text ?? unitString(u, byteLevel: byteLevel)).utf8)
                let ids = bytes.map { fallbackIds[Int($0)] }
                if !ids.contains(-1) {
                    // As in the library, a pending unknown is not flushed here.
                    for fid in ids {
                        symbols.append(WordToken(id: fid, start: cursor, end: cursor + 1))
                        cursor += 1
                    }
                    continue
                }
            }
            if let uid = unkId {
                if let pending = unk {
                    if fuseUnk {
                        unk = WordToken(id: uid, start: pending.start, end: pending.end + width)
                    } else {
                        symbols.append(pending)
                        unk = WordToken(id: uid, start: k32, end: k32 + width)
                    }
                } else {
                    unk = WordToken(id: uid, start: k32, end: k32 + width)
                }
                cursor += width
            }
        }
        if let pending = unk { symbols.append(pending) }
        if symbols.count < 2 { return symbols }
        if symbols.count <= 48 { return mergeSmall(symbols) }
        return mergeLarge(symbols)
    }

    /// Repeatedly merges the lowest-ranked adjacent pair (leftmost on ties): O(n²), for short words.
    private func mergeSmall(_ input: [WordToken]) -> [WordToken] {
        var s = input
        while s.count > 1 {
            var bestRank = Int32.max
            var bestIndex = -1
            var bestId: Int32 = 0
            for i in 0..<(s.count - 1) {
                if let m = merges.get(s[i].id, s[i + 1].id), m.rank < bestRank {
                    bestRank = m.rank
                    bestIndex = i
                    bestId = m.newId
                }
            }
            if bestIndex < 0 { break }
            s[bestIndex] = WordToken(id: bestId, start: s[bestIndex].start, end: s[bestIndex + 1].end)
            s.remove(at: bestIndex + 1)
        }
        return s
    }

    /// The same merge order with a binary heap over a linked list: O(n log n) for long words.
    private func mergeLarge(_ input: [WordToken]) -> [WordToken] {
        var s = input
        let n = s.count
        var prev = [Int](0..<n).map { $0 - 1 }
        var next = [Int](0..<n).map { $0 + 1 < n ? $0 + 1 : -1 }
        var alive = [Bool](repeating: true, count: n)
        var heap = MergeHeap()
        for i in 0..<(n - 1) {
            if let m = merges.get(s[i].id, s[i + 1].id) { heap.push(rank: m.rank, pos: i, newId: m.newId) }
        }
        while let top = heap.pop() {
            let p = top.pos
            guard alive[p], next[p] >= 0 else { continue }
            let q = next[p]
            guard let m = merges.get(s[p].id, s[q].id), m.newId == top.newId else { continue }
            s[p] = WordToken(id: top.newId, start: s[p].start, end: s[q].end)
            alive[q] = false
            next[p] = next[q]
            if next[q] >= 0 { prev[next[q]] = p }
            if prev[p] >= 0, let mp = merges.get(s[prev[p]].id, s[p].id) {
                heap.push(rank: mp.rank, pos: prev[p], newId: mp.newId)
            }
            if next[p] >= 0, let mn = merges.get(s[p].id, s[next[p]].id) {
                heap.push(rank: mn.rank, pos: p, newId: mn.newId)
            }
        }
        var out: [WordToken] = []
        out.reserveCapacity(n)
        for i in 0..<n where alive[i] { out.append(s[i]) }
        return out
    }
}

/// A binary min-heap of merge candidates ordered by (rank, position).
struct MergeHeap {
    struct Entry {
        var rank: Int32
        var pos: Int
        var newId: Int32
    }

    private var items: [Entry] = []

    @inline(__always)
    private static func less(_ a: Entry, _ b: Entry) -> Bool {
        a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos
    }

    mutating func push(rank: Int32, pos: Int, newId: Int32) {
        items.append(Entry(rank: rank, pos: pos, newId: newId))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if MergeHeap.less(items[i], items[parent]) {
                items.swapAt(i, parent)
                i = parent
            } else {
                break
            }
        }
    }

    mutating func pop() -> Entry? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            let n = items.count
            while true {
                let l = 2 * i + 1
                let r = l + 1
                var m = i
                if l < n && MergeHeap.less(items[l], items[m]) { m = l }
                if r < n && MergeHeap.less(items[r], items[m]) { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return first
    }
}
