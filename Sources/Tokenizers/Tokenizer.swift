import Dispatch
import Foundation
import Synchronization

/// The result of encoding one text.
public struct Encoding: Sendable, Equatable {
    /// Token ids.
    public var ids: [Int32] = []
    /// The token strings (in the model's alphabet, e.g. `Ġ` for a byte-level space).
    public var tokens: [String] = []
    /// Each token's byte range in the UTF-8 input (`0..<0` for tokens the post-processor added).
    public var offsets: [Range<Int>] = []
    /// Whether each token was added by the post-processor (BOS/EOS of the template).
    public var specialTokensMask: [Bool] = []

    public init() {}

    mutating func reserve(_ n: Int) {
        ids.reserveCapacity(n)
        tokens.reserveCapacity(n)
        offsets.reserveCapacity(n)
        specialTokensMask.reserveCapacity(n)
    }

    @inline(__always)
    mutating func append(_ id: Int32, _ token: String, _ offsets: Range<Int>) {
        ids.append(id)
        tokens.append(token)
        self.offsets.append(offsets)
        specialTokensMask.append(false)
    }
}

/// A Hugging Face `tokenizer.json` tokenizer (BPE models) giving the same ids, tokens and decodes
/// as the `tokenizers` library: added tokens → normalizer → pre-tokenizer → BPE → post-processor,
/// and decoders for the way back.
public struct Tokenizer: Sendable {
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let model: BPEModel
    let postProcessor: PostProcessor?
    let decoder: Decoder?
    var added: AddedVocabulary
    let specialContents: Set<String>

    /// The number of distinct tokens, added tokens included (`get_vocab_size(with_added_tokens=True)`).
    public let vocabSize: Int

    /// Loads `tokenizer.json` from `url`.
    public init(contentsOf url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            let exists = FileManager.default.fileExists(atPath: url.path)
            throw TokenizerError(exists ? .unreadable : .notFound, path: url.path,
                                 exists ? "cannot be read" : "no such file")
        }
        try self.init(data: data, fileName: url.lastPathComponent)
    }

    /// Parses the text of a `tokenizer.json`; `fileName` names it in errors.
    public init(data: Data, fileName: String = "tokenizer.json") throws {
        try self.init(json: try JSONParser.parse(data, file: fileName), fileName: fileName)
    }

    /// Builds the tokenizer from a parsed `tokenizer.json` value.
    init(json: JSON, fileName: String) throws {
        let parts = try TokenizerLoader(file: fileName).load(json)
        normalizer = parts.normalizer
        preTokenizer = parts.preTokenizer
        model = parts.model
        postProcessor = parts.postProcessor
        decoder = parts.decoder
        added = parts.added
        added.build(normalizer: parts.normalizer)
        specialContents = Set(parts.added.tokens.filter(\.special).map(\.content))
        var extra = Set<TokenKey>()
        for t in parts.added.tokens where !parts.model.vocab.contains(t.content) { extra.insert(TokenKey(t.content)) }
        vocabSize = parts.model.vocab.count + extra.count
    }

    /// The added tokens (`added_tokens` of the file), in id order.
    public var addedTokens: [AddedToken] { added.tokens.sorted { $0.id < $1.id } }

    /// The ids of the added tokens marked `special`, ascending.
    public var specialTokenIds: [Int32] { added.tokens.filter(\.special).map(\.id).sorted() }

    /// The id of `token` (an added token or a model token), or nil.
    public func tokenToId(_ token: String) -> Int32? {
        if let k = added.byContent[TokenKey(token)] { return added.tokens[k].id }
        if let k = added.reported.firstIndex(where: { $0.utf8.elementsEqual(token.utf8) }) { return added.tokens[k].id }
        return model.vocab[token]
    }

    /// The token string of `id`, or nil when no token has that id.
    public func idToToken(_ id: Int32) -> String? {
        if let k = added.byId[id] { return added.reported[k] }
        return model.token(id)
    }

    // MARK: - Encoding

    /// Encodes `text`; `addSpecialTokens` applies the post-processor's template (BOS/EOS).
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> Encoding {
        var t = text
        return t.withUTF8 { bytes in
            let ws = BPEWorkspace()
            return encode(validUTF8: bytes, addSpecialTokens: addSpecialTokens, workspace: ws)
        }
    }

    /// Encodes UTF-8 bytes, throwing (with the byte offset) when they are not valid UTF-8.
    public func encode(utf8 bytes: [UInt8], addSpecialTokens: Bool = true) throws -> Encoding {
        if let bad = Tokenizer.firstInvalidUTF8(bytes) {
            throw TokenizerError(.invalidInput, path: "input", "invalid UTF-8 at byte \(bad)")
        }
        return bytes.withUnsafeBufferPointer { buf in
            encode(validUTF8: buf, addSpecialTokens: addSpecialTokens, workspace: BPEWorkspace())
        }
    }

    /// Encodes every text on up to `threads` threads; results are in input order.
    public func encodeBatch(_ texts: [String], addSpecialTokens: Bool = true, threads: Int? = nil) -> [Encoding] {
        let n = texts.count
        if n == 0 { return [] }
        let workers = max(1, min(threads ?? ProcessInfo.processInfo.activeProcessorCount, n))
        if workers == 1 {
            let ws = BPEWorkspace()
            return texts.map { text in
                var t = text
                return t.withUTF8 { encode(validUTF8: $0, addSpecialTokens: addSpecialTokens, workspace: ws) }
            }
        }
        var results = [Encoding](repeating: Encoding(), count: n)
        let next = Atomic<Int>(0)
        results.withUnsafeMutableBufferPointer { out in
            let box = OutputBox(out)
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                let ws = BPEWorkspace()
                while true {
                    let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    if i >= n { break }
                    var t = texts[i]
                    box.buffer[i] = t.withUTF8 {
                        encode(validUTF8: $0, addSpecialTokens: addSpecialTokens, workspace: ws)
                    }
                }
            }
        }
        return results
    }

    /// The byte offset of the first invalid UTF-8 sequence in `bytes`, or nil.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            if b < 0x80 {
                i += 1
                continue
            }
            var need = 0
            var minValue: UInt32 = 0
            var v: UInt32 = 0
            if b & 0xE0 == 0xC0 {
                need = 1
                minValue = 0x80
                v = UInt32(b & 0x1F)
            } else if b & 0xF0 == 0xE0 {
                need = 2
                minValue = 0x800
                v = UInt32(b & 0x0F)
            } else if b & 0xF8 == 0xF0 {
                need = 3
                minValue = 0x10000
                v = UInt32(b & 0x07)
            } else {
                return i
            }
            for k in 1...need {
                guard i + k < n, bytes[i + k] & 0xC0 == 0x80 else { return i }
                v = v << 6 | UInt32(bytes[i + k] & 0x3F)
            }
            if v < minValue || v > 0x10FFFF || (v >= 0xD800 && v < 0xE000) { return i }
            i += need + 1
        }
        return nil
    }

    /// Decodes valid UTF-8 into scalars with the byte range of each.
    static func scalars(of bytes: UnsafeBufferPointer<UInt8>) -> NormalizedString {
        var ns = NormalizedString()
        ns.reserve(bytes.count)
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            var v: UInt32
            var len: Int
            if b < 0x80 {
                v = UInt32(b)
                len = 1
            } else if b & 0xE0 == 0xC0 {
                v = UInt32(b & 0x1F)
                len = 2
            } else if b & 0xF0 == 0xE0 {
                v = UInt32(b & 0x0F)
                len = 3
            } else {
                v = UInt32(b & 0x07)
                len = 4
            }
            if len > 1 {
                for k in 1..<len where i + k < n { v = v << 6 | UInt32(bytes[i + k] & 0x3F) }
            }
            let end = min(i + len, n)
            ns.append(v, Int32(i), Int32(end))
            i = end
        }
        return ns
    }

    func encode(validUTF8 bytes: UnsafeBufferPointer<UInt8>, addSpecialTokens: Bool,
                workspace ws: BPEWorkspace) -> Encoding {
        let raw = Tokenizer.scalars(of: bytes)
        var enc = Encoding()
        enc.reserve(bytes.count / 3 + 4)
        for seg in added.split(raw.scalars[...], normalizedTokens: false) {
            if let k = seg.token {
                let t = added.tokens[k]
                enc.append(t.id, raw.slice(seg.range).string,
                           Int(raw.starts[seg.range.lowerBound])..<Int(raw.ends[seg.range.upperBound - 1]))
                continue
            }
            let piece = raw.slice(seg.range)
            let norm = normalizer.map { $0.apply(piece, stack: &ws.stack, cache: ws.normalization) } ?? piece
            for seg2 in added.split(norm.scalars[...], normalizedTokens: true) {
                if let k = seg2.token {
                    let t = added.tokens[k]
                    let lo = Int(norm.starts[seg2.range.lowerBound])
                    let hi = Int(norm.ends[seg2.range.upperBound - 1])
                    enc.append(t.id, norm.slice(seg2.range).string, lo..<max(lo, hi))
                    continue
                }
                let whole = Piece(text: norm, range: seg2.range)
                if let pre = preTokenizer {
                    for p in pre.apply([whole], stack: &ws.stack) { tokenize(p, into: &enc, ws) }
                } else {
                    tokenize(whole, into: &enc, ws)
                }
            }
        }
        postProcessor?.process(&enc, addSpecialTokens: addSpecialTokens)
        return enc
    }

    private func tokenize(_ piece: Piece, into enc: inout Encoding, _ ws: BPEWorkspace) {
        if piece.isEmpty { return }
        // Work on local arrays (no exclusivity checks on the class in the loops), then hand back.
        var units = ws.units
        var unitScalar = ws.unitScalar
        ws.units = []
        ws.unitScalar = []
        units.removeAll(keepingCapacity: true)
        unitScalar.removeAll(keepingCapacity: true)
        let text = piece.text
        text.scalars.withUnsafeBufferPointer { scalars in
            if piece.byteLevel {
                for k in piece.range {
                    let c = scalars[k]
                    let k32 = Int32(k)
                    if c < 0x80 {
                        units.append(c)
                        unitScalar.append(k32)
                    } else if c < 0x800 {
                        units.append(0xC0 | (c >> 6))
                        units.append(0x80 | (c & 0x3F))
                        unitScalar.append(k32)
                        unitScalar.append(k32)
                    } else if c < 0x10000 {
                        units.append(0xE0 | (c >> 12))
                        units.append(0x80 | ((c >> 6) & 0x3F))
                        units.append(0x80 | (c & 0x3F))
                        unitScalar.append(k32)
                        unitScalar.append(k32)
                        unitScalar.append(k32)
                    } else {
                        units.append(0xF0 | (c >> 18))
                        units.append(0x80 | ((c >> 12) & 0x3F))
                        units.append(0x80 | ((c >> 6) & 0x3F))
                        units.append(0x80 | (c & 0x3F))
                        for _ in 0..<4 { unitScalar.append(k32) }
                    }
                }
            } else {
                for k in piece.range {
                    let c = scalars[k]
                    units.append(c)
                    for _ in 0..<BPEModel.utf8Length(c) { unitScalar.append(Int32(k)) }
                }
            }
        }
        let word = model.tokenize(units, byteLevel: piece.byteLevel, workspace: ws)
        let last = unitScalar.count - 1
        for t in word {
            let lo = Int(text.starts[Int(unitScalar[min(Int(t.start), last)])])
            let hi = Int(text.ends[Int(unitScalar[min(max(Int(t.end) - 1, 0), last)])])
            enc.append(t.id, model.token(t.id) ?? "", lo..<hi)
        }
        ws.units = units
        ws.unitScalar = unitScalar
    }

    // MARK: - Decoding

    /// Decodes ids to text; `skipSpecialTokens` drops added tokens marked `special`.
    /// Unknown ids are skipped, as the tokenizers library does.
    public func decode<S: Sequence>(_ ids: S, skipSpecialTokens: Bool = false) -> String
    where S.Element: BinaryInteger {
        var tokens: [String] = []
        for raw in ids {
            guard let id = Int32(exactly: raw), let token = idToToken(id) else { continue }
            if skipSpecialTokens, let k = added.byId[id], added.tokens[k].special { continue }
            if skipSpecialTokens && specialContents.contains(token) { continue }
            tokens.append(token)
        }
        if let d = decoder { return d.decodeChain(tokens).joined() }
        return tokens.joined(separator: " ")
    }
}

/// Carries the output buffer into the batch workers; each index is written by exactly one worker
/// and the buffer outlives `concurrentPerform`.
private struct OutputBox: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<Encoding>
    init(_ buffer: UnsafeMutableBufferPointer<Encoding>) { self.buffer = buffer }
}
