/// A set of Unicode scalars for the regex engine: ranges and category/property items, optionally
/// negated, with a precomputed bitmap for ASCII.
struct CharClass: Sendable {
    enum Item: Sendable {
        case range(UInt32, UInt32)
        case categories(UInt32, negated: Bool)
        case whitespace(negated: Bool)
        case word(negated: Bool)
        case scalars([UInt32])
    }

    var items: [Item] = []
    var negated = false
    var caseInsensitive = false
    private(set) var asciiLow: UInt64 = 0
    private(set) var asciiHigh: UInt64 = 0

    /// Fills the ASCII bitmap; call once after the items are final.
    mutating func seal() {
        asciiLow = 0
        asciiHigh = 0
        for c in UInt32(0)..<128 where slowContains(c) {
            if c < 64 { asciiLow |= 1 << UInt64(c) } else { asciiHigh |= 1 << UInt64(c - 64) }
        }
    }

    @inline(__always)
    func contains(_ c: UInt32) -> Bool {
        if c < 64 { return (asciiLow >> UInt64(c)) & 1 != 0 }
        if c < 128 { return (asciiHigh >> UInt64(c - 64)) & 1 != 0 }
        return slowContains(c)
    }

    private func itemsContain(_ c: UInt32) -> Bool {
        for item in items {
            switch item {
            case .range(let lo, let hi): if c >= lo && c <= hi { return true }
            case .categories(let mask, let neg): if UnicodeData.inMask(c, mask) != neg { return true }
            case .whitespace(let neg): if UnicodeData.isWhitespace(c) != neg { return true }
            case .word(let neg): if UnicodeData.isWordCharacter(c) != neg { return true }
            case .scalars(let list): if list.contains(c) { return true }
            }
        }
        return false
    }

    func slowContains(_ c: UInt32) -> Bool {
        var hit = itemsContain(c)
        if !hit && caseInsensitive {
            for v in UnicodeData.caseVariants(c) where v != c && itemsContain(v) {
                hit = true
                break
            }
        }
        return hit != negated
    }
}

/// A compiled regular expression with Oniguruma's (Ruby syntax) semantics as the `tokenizers`
/// library uses it: leftmost-first backtracking over Unicode scalars. Supports literals, classes
/// (`[...]`, `\s \S \d \D \w \W \h \p{..} \P{..}`, `.`), alternation, groups `( )`, `(?: )`,
/// `(?i: )`, `(?i)`, atomic groups `(?> )`, lookahead `(?= )` / `(?! )`, greedy, lazy and
/// possessive quantifiers `* + ? {n,m}`, and the anchors `^ $ \A \z \Z \b \B`. Anything else is
/// refused when the pattern is compiled, with an error naming the pattern.
struct Regex: Sendable {
    struct Inst: Sendable {
        var op: UInt8
        var a: Int32 = 0
        var b: Int32 = 0
        var c: Int32 = 0
        var d: Int32 = 0
    }

    static let opChar: UInt8 = 0, opSet: UInt8 = 1, opSplit: UInt8 = 2, opJump: UInt8 = 3
    static let opRepeat: UInt8 = 4, opPeek: UInt8 = 5, opLook: UInt8 = 6, opAtomic: UInt8 = 7
    static let opAssert: UInt8 = 8, opMatch: UInt8 = 9

    static let assertLineStart: Int32 = 0, assertLineEnd: Int32 = 1, assertTextStart: Int32 = 2
    static let assertTextEnd: Int32 = 3, assertTextEndNewline: Int32 = 4, assertWordBoundary: Int32 = 5
    static let assertNotWordBoundary: Int32 = 6

    let pattern: String
    private(set) var programs: [[Inst]] = []
    private(set) var sets: [CharClass] = []

    /// Compiles `pattern`; `describe` names it in errors (e.g. `tokenizer.json: pre_tokenizer.pattern.Regex`).
    init(_ pattern: String, errorPrefix: (String) -> TokenizerError) throws {
        self.pattern = pattern
        var parser = RegexParser(Array(pattern.unicodeScalars.map(\.value)))
        let node: RegexNode
        do {
            node = try parser.parse()
        } catch let e as RegexParser.Failure {
            throw errorPrefix("regex \(Regex.quote(pattern)) is not supported: \(e.message)")
        }
        var compiler = RegexCompiler()
        do {
            _ = try compiler.compileProgram(node)
        } catch let e as RegexParser.Failure {
            throw errorPrefix("regex \(Regex.quote(pattern)) is not supported: \(e.message)")
        }
        programs = compiler.programs
        sets = compiler.sets
    }

    static func quote(_ s: String) -> String {
        var out = "'"
        for ch in s.unicodeScalars {
            switch ch {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out + "'"
    }

    /// A backtracking stack frame.
    struct Frame {
        var kind: Int32  // 0 alternative, 1 greedy repeat, 2 lazy repeat
        var pc: Int32
        var pos: Int
        var aux: Int
    }

    /// All non-overlapping matches in `text` (as scalar index ranges), leftmost-first, scanning
    /// left to right; an empty match advances the scan by one scalar.
    func matches(in text: UnsafeBufferPointer<UInt32>, stack: inout [Frame]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var start = 0
        let n = text.count
        while start <= n {
            var found = false
            var s = start
            while s <= n {
                if let e = run(0, at: s, text, &stack) {
                    out.append(s..<e)
                    start = e > s ? e : s + 1
                    found = true
                    break
                }
                s += 1
            }
            if !found { break }
        }
        return out
    }

    @inline(__always)
    private func setContains(_ i: Int32, _ c: UInt32) -> Bool { sets[Int(i)].contains(c) }

    private func isWordAt(_ text: UnsafeBufferPointer<UInt32>, _ i: Int) -> Bool {
        i >= 0 && i < text.count && UnicodeData.isWordCharacter(text[i])
    }

    private func checkAssert(_ kind: Int32, _ text: UnsafeBufferPointer<UInt32>, _ pos: Int) -> Bool {
        let n = text.count
        switch kind {
        case Regex.assertLineStart: return pos == 0 || text[pos - 1] == 0x0A
        case Regex.assertLineEnd: return pos == n || text[pos] == 0x0A
        case Regex.assertTextStart: return pos == 0
        case Regex.assertTextEnd: return pos == n
        case Regex.assertTextEndNewline: return pos == n || (pos == n - 1 && text[pos] == 0x0A)
        case Regex.assertWordBoundary: return isWordAt(text, pos - 1) != isWordAt(text, pos)
        default: return isWordAt(text, pos - 1) == isWordAt(text, pos)
        }
    }

    /// Runs program `p` anchored at `start`; returns the end of the first match found.
    private func run(_ p: Int, at start: Int, _ text: UnsafeBufferPointer<UInt32>, _ stack: inout [Frame]) -> Int? {
        let base = stack.count
        let n = text.count
        return programs[p].withUnsafeBufferPointer { insts -> Int? in
            var pc = 0
            var pos = start
            while true {
                let inst = insts[pc]
                var ok = true
                switch inst.op {
                case Regex.opChar:
                    if pos < n && text[pos] == UInt32(bitPattern: inst.a) {
                        pos += 1
                        pc += 1
                    } else { ok = false }
                case Regex.opSet:
                    if pos < n && setContains(inst.a, text[pos]) {
                        pos += 1
                        pc += 1
                    } else { ok = false }
                case Regex.opSplit:
                    stack.append(Frame(kind: 0, pc: inst.b, pos: pos, aux: 0))
                    pc = Int(inst.a)
                case Regex.opJump:
                    pc = Int(inst.a)
                case Regex.opRepeat:
                    let minCount = Int(inst.b)
                    let maxCount = inst.c < 0 ? n - pos : min(Int(inst.c), n - pos)
                    if inst.d != 0 {
                        var k = 0
                        while k < maxCount && setContains(inst.a, text[pos + k]) { k += 1 }
                        if k < minCount {
                            ok = false
                        } else {
                            if k > minCount {
                                stack.append(Frame(kind: 1, pc: Int32(pc + 1), pos: pos + k, aux: pos + minCount))
                            }
                            pos += k
                            pc += 1
                        }
                    } else {
                        var k = 0
                        while k < minCount && k < maxCount && setContains(inst.a, text[pos + k]) { k += 1 }
                        if k < minCount {
                            ok = false
                        } else {
                            pos += k
                            let remaining = inst.c < 0 ? -1 : Int(inst.c) - minCount
                            if remaining != 0 { stack.append(Frame(kind: 2, pc: Int32(pc), pos: pos, aux: remaining)) }
                            pc += 1
                        }
                    }
                case Regex.opPeek:
                    let hit = pos < n && setContains(inst.a, text[pos])
                    if hit != (inst.b != 0) { pc += 1 } else { ok = false }
                case Regex.opLook:
                    let r = run(Int(inst.a), at: pos, text, &stack)
                    if (r != nil) != (inst.b != 0) { pc += 1 } else { ok = false }
                case Regex.opAtomic:
                    if let r = run(Int(inst.a), at: pos, text, &stack) {
                        pos = r
                        pc += 1
                    } else { ok = false }
                case Regex.opAssert:
                    if checkAssert(inst.a, text, pos) { pc += 1 } else { ok = false }
                default:  // match
                    stack.removeSubrange(base...)
                    return pos
                }
                if ok { continue }
                // Backtrack.
                var resumed = false
                while stack.count > base {
                    let f = stack.removeLast()
                    if f.kind == 0 {
                        pc = Int(f.pc)
                        pos = f.pos
                        resumed = true
                    } else if f.kind == 1 {
                        let np = f.pos - 1
                        if np > f.aux { stack.append(Frame(kind: 1, pc: f.pc, pos: np, aux: f.aux)) }
                        pos = np
                        pc = Int(f.pc)
                        resumed = true
                    } else {
                        let rep = insts[Int(f.pc)]
                        if f.pos < n && setContains(rep.a, text[f.pos]) {
                            let np = f.pos + 1
                            let left = f.aux < 0 ? -1 : f.aux - 1
                            if left != 0 { stack.append(Frame(kind: 2, pc: f.pc, pos: np, aux: left)) }
                            pos = np
                            pc = Int(f.pc) + 1
                            resumed = true
                        }
                    }
                    if resumed { break }
                }
                if !resumed { return nil }
            }
        }
    }
}

indirect enum RegexNode {
    case empty
    case char(UInt32)
    case set(CharClass)
    case concat([RegexNode])
    case alt([RegexNode])
    case repetition(RegexNode, min: Int, max: Int, greedy: Bool, possessive: Bool)  // max -1 = unbounded
    case look(RegexNode, negate: Bool)
    case atomic(RegexNode)
    case assertion(Int32)

    var nullable: Bool {
        switch self {
        case .empty, .look, .assertion: return true
        case .char, .set: return false
        case .concat(let items): return items.allSatisfy(\.nullable)
        case .alt(let items): return items.contains(where: \.nullable)
        case .repetition(let node, let min, _, _, _): return min == 0 || node.nullable
        case .atomic(let node): return node.nullable
        }
    }
}

/// Parses Oniguruma (Ruby syntax) patterns into `RegexNode`s.
struct RegexParser {
    struct Failure: Error { let message: String }

    private let s: [UInt32]
    private var i = 0
    private var caseInsensitive = false
    private var dotAll = false

    init(_ scalars: [UInt32]) { s = scalars }

    mutating func parse() throws -> RegexNode {
        let node = try parseAlternation()
        if i < s.count { throw Failure(message: "unmatched ')' at position \(i)") }
        return node
    }

    private var atEnd: Bool { i >= s.count }
    private func peek(_ k: Int = 0) -> UInt32? { i + k < s.count ? s[i + k] : nil }
    private func isChar(_ c: Character, _ k: Int = 0) -> Bool {
        guard let v = peek(k), let a = c.unicodeScalars.first?.value else { return false }
        return v == a
    }

    private mutating func parseAlternation() throws -> RegexNode {
        var branches = [try parseConcat()]
        while isChar("|") {
            i += 1
            branches.append(try parseConcat())
        }
        return branches.count == 1 ? branches[0] : .alt(branches)
    }

    private mutating func parseConcat() throws -> RegexNode {
        var items: [RegexNode] = []
        while !atEnd && !isChar("|") && !isChar(")") {
            // Inline flags `(?i)` apply to the rest of the enclosing group.
            if isChar("("), isChar("?", 1), let flags = inlineFlagsLength() {
                try applyFlags(from: i + 2, to: i + flags - 1)
                i += flags
                continue
            }
            var atom = try parseAtom()
            atom = try parseQuantifiers(atom)
            items.append(atom)
        }
        if items.isEmpty { return .empty }
        return items.count == 1 ? items[0] : .concat(items)
    }

    /// Length of `(?flags)` at the cursor (through ')'), or nil when it is not an inline-flags group.
    private func inlineFlagsLength() -> Int? {
        var k = 2
        while let c = peek(k) {
            if c == 0x29 { return k > 2 ? k + 1 : nil }  // ')'
            if c == 0x69 || c == 0x6D || c == 0x78 || c == 0x2D { k += 1 } else { return nil }  // i m x -
        }
        return nil
    }

    private mutating func applyFlags(from: Int, to: Int) throws {
        var on = true
        for k in from..<to {
            switch s[k] {
            case 0x2D: on = false
            case 0x69: caseInsensitive = on
            case 0x6D: dotAll = on
            default: throw Failure(message: "the 'x' (extended) flag")
            }
        }
    }

    private mutating func parseQuantifiers(_ atom: RegexNode) throws -> RegexNode {
        var node = atom
        while let c = peek() {
            var minCount = 0
            var maxCount = -1
            if c == 0x2A {  // *
                i += 1
            } else if c == 0x2B {  // +
                minCount = 1
                i += 1
            } else if c == 0x3F {  // ?
                maxCount = 1
                i += 1
            } else if c == 0x7B, let (lo, hi, len) = interval() {  // {
                minCount = lo
                maxCount = hi
                i += len
            } else {
                break
            }
            var greedy = true
            var possessive = false
            if isChar("?") {
                greedy = false
                i += 1
            } else if isChar("+") && c != 0x7B {
                possessive = true
                i += 1
            }
            if case .empty = node { throw Failure(message: "a quantifier with nothing to repeat") }
            if case .assertion = node { throw Failure(message: "a quantifier on an anchor") }
            if maxCount >= 0 && maxCount < minCount { throw Failure(message: "a {n,m} interval with m < n") }
            if minCount > 1000 || maxCount > 1000 { throw Failure(message: "a repetition count above 1000") }
            node = .repetition(node, min: minCount, max: maxCount, greedy: greedy, possessive: possessive)
        }
        return node
    }

    /// Parses `{n}`, `{n,}`, `{n,m}`, `{,m}` at the cursor: (min, max or -1, length).
    private func interval() -> (Int, Int, Int)? {
        var k = 1
        func number(_ k: inout Int) -> Int? {
            var v = 0
            var any = false
            while let c = peek(k), c >= 0x30, c <= 0x39 {
                v = min(v * 10 + Int(c - 0x30), 100_000)
                any = true
                k += 1
            }
            return any ? v : nil
        }
        let lo = number(&k)
        if peek(k) == 0x7D {  // }
            guard let lo else { return nil }
            return (lo, lo, k + 1)
        }
        guard peek(k) == 0x2C else { return nil }  // ,
        k += 1
        let hi = number(&k)
        guard peek(k) == 0x7D else { return nil }
        if lo == nil && hi == nil { return nil }
        return (lo ?? 0, hi ?? -1, k + 1)
    }

    private func literal(_ c: UInt32) -> RegexNode {
        if caseInsensitive {
            let variants = UnicodeData.caseVariants(c)
            if variants.count > 1 {
                var cls = CharClass()
                cls.items = [.scalars(variants)]
                cls.seal()
                return .set(cls)
            }
        }
        return .char(c)
    }

    private mutating func parseAtom() throws -> RegexNode {
        let c = s[i]
        switch c {
        case 0x28:  // (
            return try parseGroup()
        case 0x5B:  // [
            return .set(try parseClass())
        case 0x2E:  // .
            i += 1
            var cls = CharClass()
            cls.items = dotAll ? [] : [.scalars([0x0A])]
            cls.negated = true
            cls.seal()
            return .set(cls)
        case 0x5E:  // ^
            i += 1
            return .assertion(Regex.assertLineStart)
        case 0x24:  // $
            i += 1
            return .assertion(Regex.assertLineEnd)
        case 0x5C:  // backslash
            return try parseEscape()
        case 0x2A, 0x2B, 0x3F:
            throw Failure(message: "a quantifier with nothing to repeat at position \(i)")
        default:
            i += 1
            return literal(c)
        }
    }

    private mutating func parseGroup() throws -> RegexNode {
        let open = i
        i += 1
        let savedCase = caseInsensitive
        let savedDot = dotAll
        defer {
            caseInsensitive = savedCase
            dotAll = savedDot
        }
        var kind = 0  // 0 plain, 1 lookahead, 2 negative lookahead, 3 atomic
        if isChar("?") {
            i += 1
            guard let c = peek() else { throw Failure(message: "unterminated group at position \(open)") }
            switch c {
            case 0x3A: i += 1  // (?:
            case 0x3D: i += 1; kind = 1  // (?=
            case 0x21: i += 1; kind = 2  // (?!
            case 0x3E: i += 1; kind = 3  // (?>
            case 0x23:  // (?# comment )
                while let d = peek(), d != 0x29 { i += 1 }
                if atEnd { throw Failure(message: "unterminated comment") }
                i += 1
                return .empty
            case 0x3C:  // (?<
                if isChar("=", 1) || isChar("!", 1) { throw Failure(message: "lookbehind (?<= / (?<!") }
                while let d = peek(), d != 0x3E { i += 1 }
                if atEnd { throw Failure(message: "unterminated group name") }
                i += 1
            case 0x50:  // (?P<name>
                guard isChar("<", 1) else { throw Failure(message: "(?P without a name") }
                while let d = peek(), d != 0x3E { i += 1 }
                if atEnd { throw Failure(message: "unterminated group name") }
                i += 1
            default:
                // (?i-m:...)
                var k = 0
                while let d = peek(k), d == 0x69 || d == 0x6D || d == 0x78 || d == 0x2D { k += 1 }
                guard k > 0, peek(k) == 0x3A else { throw Failure(message: "the group syntax at position \(open)") }
                try applyFlags(from: i, to: i + k)
                i += k + 1
            }
        }
        let inner = try parseAlternation()
        guard isChar(")") else { throw Failure(message: "unterminated group at position \(open)") }
        i += 1
        switch kind {
        case 1: return .look(inner, negate: false)
        case 2: return .look(inner, negate: true)
        case 3: return .atomic(inner)
        default: return inner
        }
    }

    private mutating func hexDigits(maxCount: Int, braced: Bool) throws -> UInt32 {
        var v: UInt32 = 0
        var count = 0
        while count < maxCount, let c = peek() {
            var d: UInt32 = 99
            if c >= 0x30 && c <= 0x39 { d = c - 0x30 }
            if c >= 0x41 && c <= 0x46 { d = c - 0x41 + 10 }
            if c >= 0x61 && c <= 0x66 { d = c - 0x61 + 10 }
            if d == 99 {
                if braced && c == 0x7D { break }
                if !braced && count > 0 { return v }
                throw Failure(message: "an invalid hexadecimal escape")
            }
            v = v &* 16 &+ d
            count += 1
            i += 1
        }
        if count == 0 { throw Failure(message: "an empty hexadecimal escape") }
        if v > 0x10FFFF { throw Failure(message: "a code point above U+10FFFF") }
        return v
    }

    /// One escape: returns either a single scalar or a class item.
    private enum EscapeResult {
        case scalar(UInt32)
        case item(CharClass.Item)
        case node(RegexNode)
    }

    private mutating func escape(inClass: Bool) throws -> EscapeResult {
        i += 1
        guard let c = peek() else { throw Failure(message: "a trailing backslash") }
        i += 1
        switch c {
        case 0x74: return .scalar(0x09)  // t
        case 0x6E: return .scalar(0x0A)  // n
        case 0x72: return .scalar(0x0D)  // r
        case 0x66: return .scalar(0x0C)  // f
        case 0x76: return .scalar(0x0B)  // v
        case 0x61: return .scalar(0x07)  // a
        case 0x65: return .scalar(0x1B)  // e
        case 0x30: return .scalar(0)  // \0
        case 0x78:  // x
            if isChar("{") {
                i += 1
                let v = try hexDigits(maxCount: 8, braced: true)
                guard isChar("}") else { throw Failure(message: "an unterminated \\x{...} escape") }
                i += 1
                return .scalar(v)
            }
            return .scalar(try hexDigits(maxCount: 2, braced: false))
        case 0x75:  // u
            return .scalar(try hexDigits(maxCount: 4, braced: false))
        case 0x73: return .item(.whitespace(negated: false))  // s
        case 0x53: return .item(.whitespace(negated: true))  // S
        case 0x64: return .item(.categories(1 << UnicodeData.nd, negated: false))  // d
        case 0x44: return .item(.categories(1 << UnicodeData.nd, negated: true))  // D
        case 0x77: return .item(.word(negated: false))  // w
        case 0x57: return .item(.word(negated: true))  // W
        case 0x68: return .item(.scalars(Array(0x30...0x39) + Array(0x41...0x46) + Array(0x61...0x66)))  // h
        case 0x70, 0x50:  // p P
            return .item(try property(negated: c == 0x50))
        case 0x41 where !inClass: return .node(.assertion(Regex.assertTextStart))
        case 0x7A where !inClass: return .node(.assertion(Regex.assertTextEnd))
        case 0x5A where !inClass: return .node(.assertion(Regex.assertTextEndNewline))
        case 0x62 where !inClass: return .node(.assertion(Regex.assertWordBoundary))
        case 0x42 where !inClass: return .node(.assertion(Regex.assertNotWordBoundary))
        case 0x62 where inClass: return .scalar(0x08)
        default:
            let isAlnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
            if isAlnum {
                let name = String(Character(Unicode.Scalar(c) ?? "?"))
                throw Failure(message: "the escape \\\(name)")
            }
            return .scalar(c)
        }
    }

    private mutating func property(negated: Bool) throws -> CharClass.Item {
        var neg = negated
        var name = ""
        if isChar("{") {
            i += 1
            if isChar("^") {
                neg.toggle()
                i += 1
            }
            while let c = peek(), c != 0x7D {
                if let u = Unicode.Scalar(c) { name.unicodeScalars.append(u) }
                i += 1
            }
            guard isChar("}") else { throw Failure(message: "an unterminated \\p{...}") }
            i += 1
        } else if let c = peek(), let u = Unicode.Scalar(c) {
            name = String(Character(u))
            i += 1
        }
        let key = name.lowercased().filter { $0 != "_" && $0 != " " && $0 != "-" }
        let masks: [String: UInt32] = [
            "l": UnicodeData.letterMask, "letter": UnicodeData.letterMask,
            "lu": 1 << UnicodeData.lu, "uppercaseletter": 1 << UnicodeData.lu,
            "ll": 1 << UnicodeData.ll, "lowercaseletter": 1 << UnicodeData.ll,
            "lt": 1 << UnicodeData.lt, "titlecaseletter": 1 << UnicodeData.lt,
            "lm": 1 << UnicodeData.lm, "modifierletter": 1 << UnicodeData.lm,
            "lo": 1 << UnicodeData.lo, "otherletter": 1 << UnicodeData.lo,
            "m": UnicodeData.markMask, "mark": UnicodeData.markMask, "combiningmark": UnicodeData.markMask,
            "mn": 1 << UnicodeData.mn, "nonspacingmark": 1 << UnicodeData.mn,
            "mc": 1 << UnicodeData.mc, "spacingmark": 1 << UnicodeData.mc,
            "me": 1 << UnicodeData.me, "enclosingmark": 1 << UnicodeData.me,
            "n": UnicodeData.numberMask, "number": UnicodeData.numberMask,
            "nd": 1 << UnicodeData.nd, "decimalnumber": 1 << UnicodeData.nd, "digit": 1 << UnicodeData.nd,
            "nl": 1 << UnicodeData.nl, "letternumber": 1 << UnicodeData.nl,
            "no": 1 << UnicodeData.no, "othernumber": 1 << UnicodeData.no,
            "p": UnicodeData.punctuationMask, "punctuation": UnicodeData.punctuationMask,
            "pc": 1 << UnicodeData.pc, "connectorpunctuation": 1 << UnicodeData.pc,
            "pd": 1 << UnicodeData.pd, "dashpunctuation": 1 << UnicodeData.pd,
            "ps": 1 << UnicodeData.ps, "openpunctuation": 1 << UnicodeData.ps,
            "pe": 1 << UnicodeData.pe, "closepunctuation": 1 << UnicodeData.pe,
            "pi": 1 << UnicodeData.pi, "initialpunctuation": 1 << UnicodeData.pi,
            "pf": 1 << UnicodeData.pf, "finalpunctuation": 1 << UnicodeData.pf,
            "po": 1 << UnicodeData.po, "otherpunctuation": 1 << UnicodeData.po,
            "s": UnicodeData.symbolMask, "symbol": UnicodeData.symbolMask,
            "sm": 1 << UnicodeData.sm, "mathsymbol": 1 << UnicodeData.sm,
            "sc": 1 << UnicodeData.sc, "currencysymbol": 1 << UnicodeData.sc,
            "sk": 1 << UnicodeData.sk, "modifiersymbol": 1 << UnicodeData.sk,
            "so": 1 << UnicodeData.so, "othersymbol": 1 << UnicodeData.so,
            "z": UnicodeData.separatorMask, "separator": UnicodeData.separatorMask,
            "zs": 1 << UnicodeData.zs, "spaceseparator": 1 << UnicodeData.zs,
            "zl": 1 << UnicodeData.zl, "lineseparator": 1 << UnicodeData.zl,
            "zp": 1 << UnicodeData.zp, "paragraphseparator": 1 << UnicodeData.zp,
            "c": UnicodeData.otherMask, "other": UnicodeData.otherMask,
            "cc": 1 << UnicodeData.cc, "control": 1 << UnicodeData.cc, "cntrl": 1 << UnicodeData.cc,
            "cf": 1 << UnicodeData.cf, "format": 1 << UnicodeData.cf,
            "cs": 1 << UnicodeData.cs, "surrogate": 1 << UnicodeData.cs,
            "co": 1 << UnicodeData.co, "privateuse": 1 << UnicodeData.co,
            "cn": 1 << UnicodeData.cn, "unassigned": 1 << UnicodeData.cn,
            "alnum": UnicodeData.letterMask | UnicodeData.markMask | (1 << UnicodeData.nd),
        ]
        if let mask = masks[key] { return .categories(mask, negated: neg) }
        if key == "space" || key == "whitespace" { return .whitespace(negated: neg) }
        if key == "word" { return .word(negated: neg) }
        throw Failure(message: "the property \\p{\(name)}")
    }

    private mutating func parseEscape() throws -> RegexNode {
        switch try escape(inClass: false) {
        case .scalar(let c): return literal(c)
        case .node(let n): return n
        case .item(let item):
            var cls = CharClass()
            cls.items = [item]
            cls.caseInsensitive = caseInsensitive
            cls.seal()
            return .set(cls)
        }
    }

    private mutating func parseClass() throws -> CharClass {
        let open = i
        i += 1
        var cls = CharClass()
        cls.caseInsensitive = caseInsensitive
        if isChar("^") {
            cls.negated = true
            i += 1
        }
        var first = true
        while true {
            guard let c = peek() else { throw Failure(message: "an unterminated character class at position \(open)") }
            if c == 0x5D && !first {  // ]
                i += 1
                break
            }
            first = false
            if c == 0x5B {  // [
                if isChar(":", 1) { throw Failure(message: "POSIX bracket classes [:name:]") }
                throw Failure(message: "nested character classes")
            }
            if c == 0x26 && isChar("&", 1) { throw Failure(message: "class intersection &&") }
            var low: UInt32
            if c == 0x5C {
                switch try escape(inClass: true) {
                case .scalar(let v): low = v
                case .item(let item):
                    cls.items.append(item)
                    continue
                case .node: throw Failure(message: "an anchor inside a character class")
                }
            } else {
                low = c
                i += 1
            }
            // A range a-b (a '-' before ']' is literal).
            if isChar("-"), let next = peek(1), next != 0x5D {
                i += 1
                var high: UInt32
                if next == 0x5C {
                    switch try escape(inClass: true) {
                    case .scalar(let v): high = v
                    default: throw Failure(message: "a class range ending in a class escape")
                    }
                } else {
                    high = next
                    i += 1
                }
                if high < low { throw Failure(message: "an inverted class range") }
                cls.items.append(.range(low, high))
                low = 0
                continue
            }
            cls.items.append(.range(low, low))
        }
        cls.seal()
        return cls
    }
}

/// Turns `RegexNode`s into the instruction programs `Regex` runs.
struct RegexCompiler {
    var programs: [[Regex.Inst]] = []
    var sets: [CharClass] = []

    mutating func addSet(_ cls: CharClass) -> Int32 {
        sets.append(cls)
        return Int32(sets.count - 1)
    }

    /// Compiles `node` as a new program ending in a match; returns its index.
    mutating func compileProgram(_ node: RegexNode) throws -> Int {
        let index = programs.count
        programs.append([])
        var code: [Regex.Inst] = []
        try emit(node, into: &code)
        code.append(Regex.Inst(op: Regex.opMatch))
        programs[index] = code
        return index
    }

    private func singleSet(_ node: RegexNode) -> CharClass? {
        switch node {
        case .set(let cls): return cls
        case .char(let c):
            var cls = CharClass()
            cls.items = [.range(c, c)]
            cls.seal()
            return cls
        default: return nil
        }
    }

    private mutating func emit(_ node: RegexNode, into code: inout [Regex.Inst]) throws {
        switch node {
        case .empty:
            break
        case .char(let c):
            code.append(Regex.Inst(op: Regex.opChar, a: Int32(bitPattern: c)))
        case .set(let cls):
            code.append(Regex.Inst(op: Regex.opSet, a: addSet(cls)))
        case .concat(let items):
            for item in items { try emit(item, into: &code) }
        case .alt(let branches):
            var jumps: [Int] = []
            for (k, branch) in branches.enumerated() {
                if k < branches.count - 1 {
                    let split = code.count
                    code.append(Regex.Inst(op: Regex.opSplit))
                    code[split].a = Int32(code.count)
                    try emit(branch, into: &code)
                    jumps.append(code.count)
                    code.append(Regex.Inst(op: Regex.opJump))
                    code[split].b = Int32(code.count)
                } else {
                    try emit(branch, into: &code)
                }
            }
            for j in jumps { code[j].a = Int32(code.count) }
        case .assertion(let kind):
            code.append(Regex.Inst(op: Regex.opAssert, a: kind))
        case .look(let inner, let negate):
            if let cls = singleSet(inner) {
                code.append(Regex.Inst(op: Regex.opPeek, a: addSet(cls), b: negate ? 1 : 0))
            } else {
                let p = try compileProgram(inner)
                code.append(Regex.Inst(op: Regex.opLook, a: Int32(p), b: negate ? 1 : 0))
            }
        case .atomic(let inner):
            let p = try compileProgram(inner)
            code.append(Regex.Inst(op: Regex.opAtomic, a: Int32(p)))
        case .repetition(let inner, let minCount, let maxCount, let greedy, let possessive):
            if possessive {
                try emit(.atomic(.repetition(inner, min: minCount, max: maxCount, greedy: true, possessive: false)),
                         into: &code)
                return
            }
            if let cls = singleSet(inner) {
                code.append(Regex.Inst(op: Regex.opRepeat, a: addSet(cls), b: Int32(minCount),
                                       c: Int32(maxCount), d: greedy ? 1 : 0))
                return
            }
            if maxCount < 0 && inner.nullable {
                throw RegexParser.Failure(message: "an unbounded repetition of something that can match empty")
            }
            for _ in 0..<minCount { try emit(inner, into: &code) }
            if maxCount < 0 {
                let loop = code.count
                code.append(Regex.Inst(op: Regex.opSplit))
                let bodyStart = code.count
                try emit(inner, into: &code)
                code.append(Regex.Inst(op: Regex.opJump, a: Int32(loop)))
                let exit = Int32(code.count)
                code[loop].a = greedy ? Int32(bodyStart) : exit
                code[loop].b = greedy ? exit : Int32(bodyStart)
            } else if maxCount > minCount {
                var splits: [Int] = []
                for _ in minCount..<maxCount {
                    let split = code.count
                    code.append(Regex.Inst(op: Regex.opSplit))
                    splits.append(split)
                    code[split].a = Int32(code.count)
                    try emit(inner, into: &code)
                }
                let exit = Int32(code.count)
                for split in splits {
                    let body = code[split].a
                    code[split].a = greedy ? body : exit
                    code[split].b = greedy ? exit : body
                }
            }
            if code.count > 200_000 { throw RegexParser.Failure(message: "a pattern that compiles too large") }
        }
    }
}
