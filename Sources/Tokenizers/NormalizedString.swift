import Foundation

/// Text being normalized: Unicode scalars, each with the byte range of the original text it came
/// from (so token offsets can be mapped back to the input).
struct NormalizedString: Sendable {
    var scalars: [UInt32] = []
    var starts: [Int32] = []
    var ends: [Int32] = []

    init() {}

    init(scalars: [UInt32], starts: [Int32], ends: [Int32]) {
        self.scalars = scalars
        self.starts = starts
        self.ends = ends
    }

    var count: Int { scalars.count }
    var isEmpty: Bool { scalars.isEmpty }

    mutating func reserve(_ n: Int) {
        scalars.reserveCapacity(n)
        starts.reserveCapacity(n)
        ends.reserveCapacity(n)
    }

    @inline(__always)
    mutating func append(_ c: UInt32, _ start: Int32, _ end: Int32) {
        scalars.append(c)
        starts.append(start)
        ends.append(end)
    }

    /// The sub-range `range` as its own string.
    func slice(_ range: Range<Int>) -> NormalizedString {
        if range == 0..<count { return self }
        return NormalizedString(scalars: Array(scalars[range]), starts: Array(starts[range]), ends: Array(ends[range]))
    }

    /// Prepends `text`, every new scalar aligned with the current first scalar (no-op when empty).
    func prepending(_ text: [UInt32]) -> NormalizedString {
        guard !isEmpty, !text.isEmpty else { return self }
        var out = NormalizedString()
        out.reserve(count + text.count)
        for c in text { out.append(c, starts[0], ends[0]) }
        out.scalars += scalars
        out.starts += starts
        out.ends += ends
        return out
    }

    /// Replaces every range in `matches` (sorted, non-overlapping) by `content`.
    func replacing(_ matches: [Range<Int>], with content: [UInt32]) -> NormalizedString {
        guard !matches.isEmpty else { return self }
        var out = NormalizedString()
        out.reserve(count + matches.count * max(0, content.count - 1))
        var prev = 0
        for m in matches {
            for k in prev..<m.lowerBound { out.append(scalars[k], starts[k], ends[k]) }
            if !m.isEmpty {
                // As the library's `replace`: the removed scalars come first, so the new ones take
                // the alignments of the last replaced scalars (extra ones repeat the last).
                let n = m.count
                let skip = max(0, n - content.count)
                for (j, c) in content.enumerated() {
                    let src = m.lowerBound + min(skip + j, n - 1)
                    out.append(c, starts[src], ends[src])
                }
            }
            prev = m.upperBound
        }
        for k in prev..<count { out.append(scalars[k], starts[k], ends[k]) }
        return out
    }

    /// Every scalar replaced by the scalars `transform` returns for it (nil: unchanged), each new
    /// scalar aligned with the one it came from.
    func mapping(_ transform: (UInt32) -> [UInt32]?) -> NormalizedString {
        var out: NormalizedString?
        for k in 0..<count {
            if let repl = transform(scalars[k]) {
                if out == nil {
                    var o = NormalizedString()
                    o.reserve(count + 8)
                    for j in 0..<k { o.append(scalars[j], starts[j], ends[j]) }
                    out = o
                }
                for c in repl { out?.append(c, starts[k], ends[k]) }
            } else if out != nil {
                out?.append(scalars[k], starts[k], ends[k])
            }
        }
        return out ?? self
    }

    /// The UTF-8 encoding of the scalars.
    var string: String {
        var s = String.UnicodeScalarView()
        for c in scalars { if let u = Unicode.Scalar(c) { s.append(u) } }
        return String(s)
    }

    /// Unicode normalization into `form`. Only regions around scalars that may change (a quick
    /// check per scalar, cached in `cache`) are normalized, each with Foundation; a composed scalar
    /// takes the alignment of the first scalar it absorbed, decomposed scalars that of their source.
    func normalized(_ form: UnicodeForm, cache: NormalizationCache) -> NormalizedString {
        let limit = form.quickCheckLimit
        let n = count
        var firstUnstable = -1
        for k in 0..<n where scalars[k] >= limit && !cache.isStable(scalars[k], form) {
            firstUnstable = k
            break
        }
        if firstUnstable < 0 { return self }
        var out = NormalizedString()
        var changed = false
        var copied = 0
        var i = firstUnstable
        func stable(_ c: UInt32) -> Bool { c < limit || cache.isStable(c, form) }
        while i < n {
            let c = scalars[i]
            if stable(c) {
                i += 1
                continue
            }
            // The region: back to a starter that cannot compose with what precedes it, forward to
            // the next stable scalar.
            var lo = i
            while lo > copied {
                lo -= 1
                let p = scalars[lo]
                if UnicodeData.combiningClass(p) == 0 && !UnicodeData.composesWithPrevious(p) { break }
            }
            var hi = i + 1
            while hi < n && !stable(scalars[hi]) { hi += 1 }
            let region = Array(scalars[lo..<hi])
            let result = cache.region(region, form)
            if result.out == region {
                i = hi
                continue
            }
            if !changed {
                out.reserve(n + 8)
                changed = true
            }
            for k in copied..<lo { out.append(scalars[k], starts[k], ends[k]) }
            let s = starts[lo..<hi].min() ?? 0
            let e = ends[lo..<hi].max() ?? 0
            for (j, o) in result.out.enumerated() {
                let m = result.map.isEmpty ? -1 : result.map[j]
                if m >= 0 { out.append(o, starts[lo + m], ends[lo + m]) } else { out.append(o, s, e) }
            }
            copied = hi
            i = hi
        }
        if !changed { return self }
        for k in copied..<n { out.append(scalars[k], starts[k], ends[k]) }
        return out
    }

    /// Normalizes a region on its own: the output scalars and, for each, the region index whose
    /// alignment it takes (empty when every output takes the whole region's).
    static func normalizeRegion(_ region: [UInt32], _ form: UnicodeForm) -> (out: [UInt32], map: [Int]) {
        var str = String.UnicodeScalarView()
        for c in region { if let u = Unicode.Scalar(c) { str.append(u) } }
        let whole = String(str)
        var out: [UInt32] = []
        var map: [Int] = []
        var k = 0
        let decomposition = form.decomposition
        func decomposedCount(_ c: UInt32) -> Int {
            guard let u = Unicode.Scalar(c) else { return 1 }
            return decomposition.apply(String(Character(u))).unicodeScalars.count
        }
        for ch in whole {
            let n = ch.unicodeScalars.count
            let group = k..<(k + n)
            let text = String(ch)
            let norm = form.apply(text)
            let outScalars = norm.unicodeScalars.map(\.value)
            if norm.unicodeScalars.elementsEqual(text.unicodeScalars) {
                out += outScalars
                map += Array(group)
            } else {
                var mapped: [Int] = []
                if outScalars.count > n {
                    for j in group { mapped += Array(repeating: j, count: decomposedCount(region[j])) }
                } else {
                    var p = 0
                    for o in outScalars {
                        mapped.append(group.lowerBound + min(p, n - 1))
                        p += decomposedCount(o)
                    }
                }
                if mapped.count != outScalars.count { mapped = Array(repeating: -1, count: outScalars.count) }
                out += outScalars
                map += mapped
            }
            k += n
        }
        if map.contains(-1) { map = [] }
        return (out, map)
    }
}

/// Per-thread memo of the normalization quick check and of normalized regions.
final class NormalizationCache {
    private var stableScalars: [UInt32: Bool] = [:]
    private var regions: [[UInt32]: (out: [UInt32], map: [Int])] = [:]

    /// Whether `c` is unchanged by `form` in any context (combining class 0, no mapping, and not
    /// able to compose with a preceding scalar).
    func isStable(_ c: UInt32, _ form: UnicodeForm) -> Bool {
        let key = UInt32(form.index) << 21 | c
        if let hit = stableScalars[key] { return hit }
        var result = false
        if let u = Unicode.Scalar(c), UnicodeData.combiningClass(c) == 0, !UnicodeData.composesWithPrevious(c) {
            result = form.apply(String(Character(u))).unicodeScalars.elementsEqual([u])
        }
        if stableScalars.count > 200_000 { stableScalars.removeAll() }
        stableScalars[key] = result
        return result
    }

    func region(_ region: [UInt32], _ form: UnicodeForm) -> (out: [UInt32], map: [Int]) {
        var key = region
        key.append(0x110000 + UInt32(form.index))
        if let hit = regions[key] { return hit }
        let result = NormalizedString.normalizeRegion(region, form)
        if regions.count > 50_000 { regions.removeAll() }
        regions[key] = result
        return result
    }
}

/// The four Unicode normalization forms.
enum UnicodeForm: Sendable {
    case nfc, nfd, nfkc, nfkd

    var index: Int {
        switch self {
        case .nfc: return 0
        case .nfd: return 1
        case .nfkc: return 2
        case .nfkd: return 3
        }
    }

    /// Scalars below this are unchanged by the form in any context.
    var quickCheckLimit: UInt32 {
        switch self {
        case .nfc: return 0x300
        case .nfd: return 0xC0
        case .nfkc, .nfkd: return 0xA0
        }
    }

    /// The decomposing form of the same kind (canonical or compatibility).
    var decomposition: UnicodeForm { self == .nfc || self == .nfd ? .nfd : .nfkd }

    func apply(_ s: String) -> String {
        switch self {
        case .nfc: return s.precomposedStringWithCanonicalMapping
        case .nfd: return s.decomposedStringWithCanonicalMapping
        case .nfkc: return s.precomposedStringWithCompatibilityMapping
        case .nfkd: return s.decomposedStringWithCompatibilityMapping
        }
    }
}

/// Finds the ranges a split or replace acts on: a regex, a literal string, or single scalars
/// matching a predicate.
enum Pattern: Sendable {
    case regex(Regex)
    case literal([UInt32])
    case scalar(@Sendable (UInt32) -> Bool)

    func matches(_ text: ArraySlice<UInt32>, stack: inout [Regex.Frame]) -> [Range<Int>] {
        switch self {
        case .regex(let re):
            return text.withUnsafeBufferPointer { re.matches(in: $0, stack: &stack) }
        case .literal(let lit):
            guard !lit.isEmpty, text.count >= lit.count else { return [] }
            var out: [Range<Int>] = []
            let base = text.startIndex
            var k = 0
            let n = text.count
            while k + lit.count <= n {
                var hit = true
                for j in 0..<lit.count where text[base + k + j] != lit[j] {
                    hit = false
                    break
                }
                if hit {
                    out.append(k..<(k + lit.count))
                    k += lit.count
                } else {
                    k += 1
                }
            }
            return out
        case .scalar(let pred):
            var out: [Range<Int>] = []
            var k = 0
            for c in text {
                if pred(c) { out.append(k..<(k + 1)) }
                k += 1
            }
            return out
        }
    }
}

/// One normalizer component of `tokenizer.json`.
indirect enum Normalizer: Sendable {
    case unicode(UnicodeForm)
    case lowercase
    case replace(Pattern, [UInt32])
    case prepend([UInt32])
    case strip(left: Bool, right: Bool)
    case stripAccents
    case bert(cleanText: Bool, chineseChars: Bool, stripAccents: Bool, lowercase: Bool)
    case byteLevel
    case sequence([Normalizer])

    func apply(_ s: NormalizedString) -> NormalizedString {
        var stack: [Regex.Frame] = []
        return apply(s, stack: &stack, cache: NormalizationCache())
    }

    func apply(_ s: NormalizedString, stack: inout [Regex.Frame], cache: NormalizationCache) -> NormalizedString {
        switch self {
        case .unicode(let form):
            return s.normalized(form, cache: cache)
        case .lowercase:
            return s.mapping(Normalizer.lowercase)
        case .replace(let pattern, let content):
            let ms = pattern.matches(s.scalars[...], stack: &stack).filter { !$0.isEmpty }
            return s.replacing(ms, with: content)
        case .prepend(let text):
            return s.prepending(text)
        case .strip(let left, let right):
            var lo = 0
            var hi = s.count
            if left { while lo < hi && UnicodeData.isWhitespace(s.scalars[lo]) { lo += 1 } }
            if right { while hi > lo && UnicodeData.isWhitespace(s.scalars[hi - 1]) { hi -= 1 } }
            return s.slice(lo..<hi)
        case .stripAccents:
            return s.mapping { UnicodeData.isMark($0) ? [] : nil }
        case .bert(let cleanText, let chinese, let stripAccents, let lower):
            var t = s
            if cleanText {
                t = t.mapping { c in
                    if c == 0 || c == 0xFFFD { return [] }
                    if c == 0x09 || c == 0x0A || c == 0x0D { return [0x20] }
                    let cat = UnicodeData.category(c)
                    if cat == UnicodeData.cc || cat == UnicodeData.cf { return [] }
                    if cat == UnicodeData.zs && c != 0x20 { return [0x20] }
                    return nil
                }
            }
            if chinese { t = t.mapping { Normalizer.isChinese($0) ? [0x20, $0, 0x20] : nil } }
            if stripAccents {
                t = t.normalized(.nfd, cache: cache).mapping { UnicodeData.category($0) == UnicodeData.mn ? [] : nil }
            }
            if lower { t = t.mapping(Normalizer.lowercase) }
            return t
        case .byteLevel:
            var out = NormalizedString()
            out.reserve(s.count * 2)
            for k in 0..<s.count {
                guard let u = Unicode.Scalar(s.scalars[k]) else { continue }
                for b in String(Character(u)).utf8 {
                    out.append(ByteLevelTable.byteToScalar[Int(b)], s.starts[k], s.ends[k])
                }
            }
            return out
        case .sequence(let items):
            var t = s
            for n in items { t = n.apply(t, stack: &stack, cache: cache) }
            return t
        }
    }

    @Sendable static func lowercase(_ c: UInt32) -> [UInt32]? {
        if c < 128 {
            return c >= 0x41 && c <= 0x5A ? [c + 32] : nil
        }
        guard let u = Unicode.Scalar(c) else { return nil }
        let m = u.properties.lowercaseMapping.unicodeScalars.map(\.value)
        return m == [c] ? nil : m
    }

    static func isChinese(_ c: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(c) || (0x3400...0x4DBF).contains(c) || (0x20000...0x2A6DF).contains(c)
            || (0x2A700...0x2B73F).contains(c) || (0x2B740...0x2B81F).contains(c) || (0x2B920...0x2CEAF).contains(c)
            || (0xF900...0xFAFF).contains(c) || (0x2F800...0x2FA1F).contains(c)
    }
}

/// GPT-2's bytes-to-unicode table: every byte as a printable scalar.
enum ByteLevelTable {
    static let byteToScalar: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var n: UInt32 = 0
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = UInt32(b)
            } else {
                table[b] = 256 + n
                n += 1
            }
        }
        return table
    }()

    /// The inverse: scalar → byte, for scalars below 512 (-1 where none).
    static let scalarToByte: [Int16] = {
        var inverse = [Int16](repeating: -1, count: 512)
        for (b, s) in byteToScalar.enumerated() { inverse[Int(s)] = Int16(b) }
        return inverse
    }()

    /// The byte-level form of a byte as a one-character string.
    static let byteStrings: [String] = byteToScalar.map { String(Character(Unicode.Scalar($0) ?? " ")) }
}
