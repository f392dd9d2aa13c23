/// One post-processor component of `tokenizer.json`, applied to a single sequence.
indirect enum PostProcessor: Sendable {
    /// A template piece: a special token (its ids and token strings) or the sequence itself.
    enum TemplatePiece: Sendable {
        case special(ids: [Int32], tokens: [String])
        case sequence
    }

    case template(single: [TemplatePiece])
    case byteLevel(trimOffsets: Bool, addPrefixSpace: Bool)
    case roberta(cls: (String, Int32), sep: (String, Int32), trimOffsets: Bool, addPrefixSpace: Bool)
    case bert(cls: (String, Int32), sep: (String, Int32))
    case sequence([PostProcessor])

    func process(_ e: inout Encoding, addSpecialTokens: Bool) {
        switch self {
        case .template(let single):
            guard addSpecialTokens else { return }
            var out = Encoding()
            for piece in single {
                switch piece {
                case .sequence:
                    out.ids += e.ids
                    out.tokens += e.tokens
                    out.offsets += e.offsets
                    out.specialTokensMask += e.specialTokensMask
                case .special(let ids, let tokens):
                    out.ids += ids
                    out.tokens += tokens
                    out.offsets += ids.map { _ in 0..<0 }
                    out.specialTokensMask += ids.map { _ in true }
                }
            }
            e = out
        case .byteLevel(let trim, let addPrefixSpace):
            if trim { PostProcessor.trimOffsets(&e, addPrefixSpace: addPrefixSpace) }
        case .roberta(let cls, let sep, let trim, let addPrefixSpace):
            if trim { PostProcessor.trimOffsets(&e, addPrefixSpace: addPrefixSpace) }
            guard addSpecialTokens else { return }
            e.ids = [cls.1] + e.ids + [sep.1]
            e.tokens = [cls.0] + e.tokens + [sep.0]
            e.offsets = [0..<0] + e.offsets + [0..<0]
            e.specialTokensMask = [true] + e.specialTokensMask + [true]
        case .bert(let cls, let sep):
            guard addSpecialTokens else { return }
            e.ids = [cls.1] + e.ids + [sep.1]
            e.tokens = [cls.0] + e.tokens + [sep.0]
            e.offsets = [0..<0] + e.offsets + [0..<0]
            e.specialTokensMask = [true] + e.specialTokensMask + [true]
        case .sequence(let items):
            for p in items { p.process(&e, addSpecialTokens: addSpecialTokens) }
        }
    }

    /// The ByteLevel processor's `process_offsets`: offsets shrink to exclude leading and
    /// trailing (byte-level) spaces of each token.
    static func trimOffsets(_ e: inout Encoding, addPrefixSpace: Bool) {
        let spaceChar = Unicode.Scalar(ByteLevelTable.byteToScalar[0x20]) ?? " "
        for i in 0..<e.tokens.count {
            let scalars = Array(e.tokens[i].unicodeScalars)
            func isSpace(_ u: Unicode.Scalar) -> Bool { u == spaceChar || UnicodeData.isWhitespace(u.value) }
            var leading = 0
            while leading < scalars.count && isSpace(scalars[leading]) { leading += 1 }
            var trailing = 0
            while trailing < scalars.count && isSpace(scalars[scalars.count - 1 - trailing]) { trailing += 1 }
            guard leading > 0 || trailing > 0 else { continue }
            var lo = e.offsets[i].lowerBound
            var hi = e.offsets[i].upperBound
            if leading > 0 {
                let isFirst = i == 0 || lo == 0
                if isFirst && addPrefixSpace && leading == 1 { leading = 0 }
                lo = min(lo + leading, hi)
            }
            if trailing > 0 && hi >= trailing { hi = max(hi - trailing, lo) }
            e.offsets[i] = lo..<hi
        }
    }
}
