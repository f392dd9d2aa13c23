/// One decoder component of `tokenizer.json` (`decode_chain` semantics of the tokenizers library).
indirect enum Decoder: Sendable {
    case byteLevel
    case metaspace(replacement: Unicode.Scalar, prependScheme: PreTokenizer.PrependScheme)
    case byteFallback
    case fuse
    case replace(Pattern, String)
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    case wordPiece(prefix: String, cleanup: Bool)
    case bpe(suffix: String)
    case sequence([Decoder])

    func decodeChain(_ tokens: [String]) -> [String] {
        switch self {
        case .byteLevel:
            var bytes: [UInt8] = []
            for t in tokens {
                let start = bytes.count
                var ok = true
                for u in t.unicodeScalars {
                    let v = u.value
                    if v < 512, ByteLevelTable.scalarToByte[Int(v)] >= 0 {
                        bytes.append(UInt8(ByteLevelTable.scalarToByte[Int(v)]))
                    } else {
                        ok = false
                        break
                    }
                }
                if !ok {
                    bytes.removeSubrange(start...)
                    bytes.append(contentsOf: t.utf8)
                }
            }
            return [String(decoding: bytes, as: UTF8.self)]
        case .metaspace(let replacement, let scheme):
            return tokens.enumerated().map { i, token in
                var out = String.UnicodeScalarView()
                for u in token.unicodeScalars {
                    if u == replacement {
                        if !(i == 0 && scheme != .never) { out.append(" ") }
                    } else {
                        out.append(u)
                    }
                }
                return String(out)
            }
        case .byteFallback:
            var out: [String] = []
            var pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                if let s = String(validating: pending, as: UTF8.self) {
                    out.append(s)
                } else {
                    for _ in pending { out.append("\u{FFFD}") }
                }
                pending.removeAll()
            }
            for t in tokens {
                let u = Array(t.utf8)
                if u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E,
                   let b = UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16) {
                    pending.append(b)
                } else {
                    flush()
                    out.append(t)
                }
            }
            flush()
            return out
        case .fuse:
            return [tokens.joined()]
        case .replace(let pattern, let content):
            let repl = content.unicodeScalars.map(\.value)
            var stack: [Regex.Frame] = []
            return tokens.map { t in
                let scalars = t.unicodeScalars.map(\.value)
                let ms = pattern.matches(scalars[...], stack: &stack).filter { !$0.isEmpty }
                if ms.isEmpty { return t }
                var out = String.UnicodeScalarView()
                var prev = 0
                for m in ms {
                    for k in prev..<m.lowerBound { if let u = Unicode.Scalar(scalars[k]) { out.append(u) } }
                    for c in repl { if let u = Unicode.Scalar(c) { out.append(u) } }
                    prev = m.upperBound
                }
                for k in prev..<scalars.count { if let u = Unicode.Scalar(scalars[k]) { out.append(u) } }
                return String(out)
            }
        case .strip(let content, let start, let stop):
            return tokens.map { t in
                let chars = Array(t.unicodeScalars)
                var startCut = 0
                for (i, c) in chars.enumerated() {
                    if i < start && c == content { startCut += 1 } else { break }
                }
                var stopCut = 0
                for (i, c) in chars.reversed().enumerated() {
                    if i < stop && c == content { stopCut += 1 } else { break }
                }
                let lo = startCut
                let hi = max(lo, chars.count - stopCut)
                return String(String.UnicodeScalarView(chars[lo..<hi]))
            }
        case .wordPiece(let prefix, let cleanup):
            return tokens.enumerated().map { i, token in
                var t = token
                if i != 0 {
                    if t.utf8.starts(with: prefix.utf8) {
                        t = String(decoding: t.utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
                    } else {
                        t = " " + t
                    }
                }
                return cleanup ? Decoder.cleanup(t) : t
            }
        case .bpe(let suffix):
            let n = tokens.count
            return tokens.enumerated().map { i, t in
                t.replacingAll(suffix, with: i == n - 1 ? "" : " ")
            }
        case .sequence(let items):
            var t = tokens
            for d in items { t = d.decodeChain(t) }
            return t
        }
    }

    /// The WordPiece decoder's `cleanup`: spaces before punctuation and contractions removed.
    static func cleanup(_ s: String) -> String {
        var t = s
        for (from, to) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                           (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")] {
            t = t.replacingAll(from, with: to)
        }
        return t
    }
}

extension String {
    /// Every non-overlapping occurrence of `target` (left to right) replaced by `replacement`.
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        let src = Array(utf8)
        let pat = Array(target.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(src.count)
        var i = 0
        while i < src.count {
            if i + pat.count <= src.count && src[i] == pat[0] && Array(src[i..<(i + pat.count)]) == pat {
                out.append(contentsOf: replacement.utf8)
                i += pat.count
            } else {
                out.append(src[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
