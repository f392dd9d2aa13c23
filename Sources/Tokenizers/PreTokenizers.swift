/// A pre-token: a range of a normalized string. `byteLevel` marks a piece whose model input is
/// the UTF-8 bytes of its scalars, each mapped through GPT-2's byte table (a ByteLevel
/// pre-tokenizer's output, kept lazy so that the common pipeline never builds the mapped text).
struct Piece {
    var text: NormalizedString
    var range: Range<Int>
    var byteLevel = false

    var isEmpty: Bool { range.isEmpty }
    var scalars: ArraySlice<UInt32> { text.scalars[range] }

    /// The piece as plain scalars (the byte-level mapping applied if pending).
    func materialized() -> Piece {
        if !byteLevel { return self }
        var out = NormalizedString()
        out.reserve(range.count * 2)
        for k in range {
            let c = text.scalars[k]
            let s = text.starts[k]
            let e = text.ends[k]
            if c < 0x80 {
                out.append(ByteLevelTable.byteToScalar[Int(c)], s, e)
            } else if let u = Unicode.Scalar(c) {
                for b in String(Character(u)).utf8 { out.append(ByteLevelTable.byteToScalar[Int(b)], s, e) }
            }
        }
        return Piece(text: out, range: 0..<out.count)
    }

    /// A standalone copy of the piece's text.
    func owned() -> NormalizedString { text.slice(range) }
}

/// How a split treats the matched delimiters (the `behavior` of `Split`).
enum SplitBehavior: String, Sendable {
    case removed = "Removed", isolated = "Isolated", mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext", contiguous = "Contiguous"
}

/// One pre-tokenizer component of `tokenizer.json`.
indirect enum PreTokenizer: Sendable {
    case split(Pattern, SplitBehavior, invert: Bool)
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case metaspace(replacement: UInt32, prepend: PrependScheme, split: Bool)
    case whitespace
    case whitespaceSplit
    case punctuation(SplitBehavior)
    case digits(individual: Bool)
    case bert
    case charDelimiter(UInt32)
    case sequence([PreTokenizer])

    enum PrependScheme: String, Sendable { case always, first, never }

    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let gpt2Regex: Regex? = try? Regex(gpt2Pattern) { TokenizerError(.unsupported, path: "gpt2", $0) }
    static let whitespaceRegex: Regex? = try? Regex(#"\w+|[^\w\s]+"#) { TokenizerError(.unsupported, path: "ws", $0) }

    /// Splits every piece in `pieces`.
    func apply(_ pieces: [Piece], stack: inout [Regex.Frame]) -> [Piece] {
        switch self {
        case .sequence(let items):
            var p = pieces
            for item in items { p = item.apply(p, stack: &stack) }
            return p
        default:
            var out: [Piece] = []
            out.reserveCapacity(pieces.count * 4)
            for piece in pieces { apply(piece, into: &out, stack: &stack) }
            return out
        }
    }

    private func apply(_ input: Piece, into out: inout [Piece], stack: inout [Regex.Frame]) {
        switch self {
        case .split(let pattern, let behavior, let invert):
            let piece = input.materialized()
            let ms = pattern.matches(piece.scalars, stack: &stack)
            PreTokenizer.split(piece, ms, behavior, invert: invert, into: &out)
        case .byteLevel(let addPrefixSpace, let useRegex):
            var piece = input.materialized()
            if addPrefixSpace && piece.scalars.first != 0x20 {
                let t = piece.owned().prepending([0x20])
                piece = Piece(text: t, range: 0..<t.count)
            }
            if useRegex, let re = PreTokenizer.gpt2Regex {
                let start = out.count
                PreTokenizer.split(piece, Pattern.regex(re).matches(piece.scalars, stack: &stack), .isolated,
                                   invert: false, into: &out)
                for k in start..<out.count { out[k].byteLevel = true }
            } else if !piece.isEmpty {
                piece.byteLevel = true
                out.append(piece)
            }
        case .metaspace(let replacement, let scheme, let split):
            let piece = input.materialized()
            var t = piece.owned()
            let spaces = Pattern.literal([0x20]).matches(t.scalars[...], stack: &stack)
            t = t.replacing(spaces, with: [replacement])
            let startsWith = t.scalars.first == replacement
            switch scheme {
            case .always: if !startsWith { t = t.prepending([replacement]) }
            case .first: if !startsWith && t.starts.first == 0 { t = t.prepending([replacement]) }
            case .never: break
            }
            let whole = Piece(text: t, range: 0..<t.count)
            if split {
                PreTokenizer.split(whole, Pattern.literal([replacement]).matches(t.scalars[...], stack: &stack),
                                   .mergedWithNext, invert: false, into: &out)
            } else if !whole.isEmpty {
                out.append(whole)
            }
        case .whitespace:
            let piece = input.materialized()
            if let re = PreTokenizer.whitespaceRegex {
                PreTokenizer.split(piece, Pattern.regex(re).matches(piece.scalars, stack: &stack), .removed,
                                   invert: true, into: &out)
            }
        case .whitespaceSplit:
            let piece = input.materialized()
            let ms = Pattern.scalar(UnicodeData.isWhitespace).matches(piece.scalars, stack: &stack)
            PreTokenizer.split(piece, ms, .removed, invert: false, into: &out)
        case .punctuation(let behavior):
            let piece = input.materialized()
            let ms = Pattern.scalar(PreTokenizer.isBertPunctuation).matches(piece.scalars, stack: &stack)
            PreTokenizer.split(piece, ms, behavior, invert: false, into: &out)
        case .digits(let individual):
            let piece = input.materialized()
            let ms = Pattern.scalar(UnicodeData.isNumeric).matches(piece.scalars, stack: &stack)
            PreTokenizer.split(piece, ms, individual ? .isolated : .contiguous, invert: false, into: &out)
        case .bert:
            let piece = input.materialized()
            var words: [Piece] = []
            let ws = Pattern.scalar(UnicodeData.isWhitespace).matches(piece.scalars, stack: &stack)
            PreTokenizer.split(piece, ws, .removed, invert: false, into: &words)
            for w in words {
                let ms = Pattern.scalar(PreTokenizer.isBertPunctuation).matches(w.scalars, stack: &stack)
                PreTokenizer.split(w, ms, .isolated, invert: false, into: &out)
            }
        case .charDelimiter(let delimiter):
            let piece = input.materialized()
            let ms = Pattern.scalar({ $0 == delimiter }).matches(piece.scalars, stack: &stack)
            PreTokenizer.split(piece, ms, .removed, invert: false, into: &out)
        case .sequence:
            out.append(contentsOf: apply([input], stack: &stack))
        }
    }

    @Sendable static func isBertPunctuation(_ c: UInt32) -> Bool {
        if c < 128 {
            return (0x21...0x2F).contains(c) || (0x3A...0x40).contains(c) || (0x5B...0x60).contains(c)
                || (0x7B...0x7E).contains(c)
        }
        return UnicodeData.isPunctuation(c)
    }

    /// The tokenizers library's `NormalizedString::split`: `matches` are ranges relative to the
    /// piece; empty results are dropped.
    static func split(_ piece: Piece, _ matches: [Range<Int>], _ behavior: SplitBehavior, invert: Bool,
                      into out: inout [Piece]) {
        let n = piece.range.count
        if n == 0 { return }
        // (range, isMatch) covering the whole piece.
        var parts: [(Range<Int>, Bool)] = []
        parts.reserveCapacity(matches.count * 2 + 1)
        var prev = 0
        for m in matches {
            if prev != m.lowerBound { parts.append((prev..<m.lowerBound, false)) }
            parts.append((m, true))
            prev = m.upperBound
        }
        if prev != n { parts.append((prev..<n, false)) }
        if invert { parts = parts.map { ($0.0, !$0.1) } }
        var kept: [Range<Int>] = []
        kept.reserveCapacity(parts.count)
        switch behavior {
        case .removed:
            for (r, m) in parts where !m { kept.append(r) }
        case .isolated:
            for (r, _) in parts { kept.append(r) }
        case .mergedWithPrevious:
            var previousMatch = false
            for (r, m) in parts {
                if m && !previousMatch, let last = kept.last {
                    kept[kept.count - 1] = last.lowerBound..<r.upperBound
                } else {
                    kept.append(r)
                }
                previousMatch = m
            }
        case .mergedWithNext:
            var previousMatch = false
            var rev: [Range<Int>] = []
            for (r, m) in parts.reversed() {
                if m && !previousMatch, let last = rev.last {
                    rev[rev.count - 1] = r.lowerBound..<last.upperBound
                } else {
                    rev.append(r)
                }
                previousMatch = m
            }
            kept = rev.reversed()
        case .contiguous:
            var previousMatch = false
            for (r, m) in parts {
                if m == previousMatch, let last = kept.last {
                    kept[kept.count - 1] = last.lowerBound..<r.upperBound
                } else {
                    kept.append(r)
                }
                previousMatch = m
            }
        }
        let base = piece.range.lowerBound
        for r in kept where !r.isEmpty {
            out.append(Piece(text: piece.text, range: (base + r.lowerBound)..<(base + r.upperBound),
                             byteLevel: piece.byteLevel))
        }
    }
}
