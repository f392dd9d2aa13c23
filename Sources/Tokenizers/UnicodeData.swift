/// Unicode character properties the regex engine and the pipeline components need, with a
/// table for the Basic Multilingual Plane so that hot loops do not call into the stdlib tables.
enum UnicodeData {
    /// General categories as bit numbers (for masks).
    static let lu: UInt32 = 0, ll: UInt32 = 1, lt: UInt32 = 2, lm: UInt32 = 3, lo: UInt32 = 4
    static let mn: UInt32 = 5, mc: UInt32 = 6, me: UInt32 = 7
    static let nd: UInt32 = 8, nl: UInt32 = 9, no: UInt32 = 10
    static let pc: UInt32 = 11, pd: UInt32 = 12, ps: UInt32 = 13, pe: UInt32 = 14, pi: UInt32 = 15
    static let pf: UInt32 = 16, po: UInt32 = 17
    static let sm: UInt32 = 18, sc: UInt32 = 19, sk: UInt32 = 20, so: UInt32 = 21
    static let zs: UInt32 = 22, zl: UInt32 = 23, zp: UInt32 = 24
    static let cc: UInt32 = 25, cf: UInt32 = 26, cs: UInt32 = 27, co: UInt32 = 28, cn: UInt32 = 29

    static let letterMask: UInt32 = 0b11111
    static let markMask: UInt32 = 0b111 << 5
    static let numberMask: UInt32 = 0b111 << 8
    static let punctuationMask: UInt32 = 0b1111111 << 11
    static let symbolMask: UInt32 = 0b1111 << 18
    static let separatorMask: UInt32 = 0b111 << 22
    static let otherMask: UInt32 = 0b11111 << 25
    /// `\w` in Oniguruma and Rust regex: letters, marks, decimal digits, connector punctuation.
    static let wordMask: UInt32 = letterMask | markMask | (1 << nd) | (1 << pc)

    private static func computeCategory(_ c: UInt32) -> UInt8 {
        guard let s = Unicode.Scalar(c) else { return UInt8(cs) }
        let v: UInt32
        switch s.properties.generalCategory {
        case .uppercaseLetter: v = lu
        case .lowercaseLetter: v = ll
        case .titlecaseLetter: v = lt
        case .modifierLetter: v = lm
        case .otherLetter: v = lo
        case .nonspacingMark: v = mn
        case .spacingMark: v = mc
        case .enclosingMark: v = me
        case .decimalNumber: v = nd
        case .letterNumber: v = nl
        case .otherNumber: v = no
        case .connectorPunctuation: v = pc
        case .dashPunctuation: v = pd
        case .openPunctuation: v = ps
        case .closePunctuation: v = pe
        case .initialPunctuation: v = pi
        case .finalPunctuation: v = pf
        case .otherPunctuation: v = po
        case .mathSymbol: v = sm
        case .currencySymbol: v = sc
        case .modifierSymbol: v = sk
        case .otherSymbol: v = so
        case .spaceSeparator: v = zs
        case .lineSeparator: v = zl
        case .paragraphSeparator: v = zp
        case .control: v = cc
        case .format: v = cf
        case .surrogate: v = cs
        case .privateUse: v = co
        case .unassigned: v = cn
        @unknown default: v = cn
        }
        var flags = UInt8(v)
        if s.properties.isWhitespace { flags |= 0x80 }
        if s.properties.isAlphabetic { flags |= 0x40 }
        return flags
    }

    /// Category number (low 5 bits) and White_Space flag (0x80) of every BMP code point.
    private static let bmp: [UInt8] = (0..<0x10000).map { computeCategory(UInt32($0)) }

    /// The general category bit number of `c`.
    @inline(__always)
    static func category(_ c: UInt32) -> UInt32 {
        if c < 0x10000 { return UInt32(bmp[Int(c)] & 0x1F) }
        return UInt32(computeCategory(c) & 0x1F)
    }

    /// Whether `c` has the White_Space property (what `\s` matches in Oniguruma and Rust regex,
    /// and Rust's `char::is_whitespace`).
    @inline(__always)
    static func isWhitespace(_ c: UInt32) -> Bool {
        if c < 0x10000 { return bmp[Int(c)] & 0x80 != 0 }
        return false
    }

    @inline(__always)
    static func inMask(_ c: UInt32, _ mask: UInt32) -> Bool { (mask >> category(c)) & 1 != 0 }

    static func isLetter(_ c: UInt32) -> Bool { inMask(c, letterMask) }
    /// Rust's `char::is_numeric`: Nd, Nl, No.
    static func isNumeric(_ c: UInt32) -> Bool { inMask(c, numberMask) }
    /// Rust's `char::is_alphanumeric`: Alphabetic or Numeric (approximated by L, Nl and N categories).
    static func isAlphanumeric(_ c: UInt32) -> Bool {
        if inMask(c, letterMask | numberMask) { return true }
        guard let s = Unicode.Scalar(c) else { return false }
        return s.properties.isAlphabetic
    }
    static func isPunctuation(_ c: UInt32) -> Bool { inMask(c, punctuationMask) }
    static func isMark(_ c: UInt32) -> Bool { inMask(c, markMask) }
    /// `\w` of Oniguruma and Rust regex (Unicode TR18): Alphabetic, marks, decimal digits,
    /// connector punctuation and the joiners U+200C / U+200D.
    static func isWordCharacter(_ c: UInt32) -> Bool {
        if inMask(c, markMask | (1 << nd) | (1 << pc)) || c == 0x200C || c == 0x200D { return true }
        return isAlphabetic(c)
    }

    /// The Alphabetic property.
    static func isAlphabetic(_ c: UInt32) -> Bool {
        if c < 0x10000 { return bmp[Int(c)] & 0x40 != 0 }
        return Unicode.Scalar(c)?.properties.isAlphabetic ?? false
    }

    /// The canonical combining class of `c`.
    @inline(__always)
    static func combiningClass(_ c: UInt32) -> UInt8 {
        if c < 0x300 { return 0 }
        return Unicode.Scalar(c)?.properties.canonicalCombiningClass.rawValue ?? 0
    }

    /// Starters (combining class 0) that canonical composition can join to a preceding scalar
    /// (NFC_Quick_Check = Maybe with ccc 0): Hangul medial vowels and final consonants, and the
    /// Indic and other vowel signs that are second parts of canonical pairs.
    static func composesWithPrevious(_ c: UInt32) -> Bool {
        if c < 0x9BE { return false }
        if (0x1161...0x1175).contains(c) || (0x11A8...0x11C2).contains(c) { return true }
        return composingStarters.contains(c)
    }

    private static let composingStarters: Set<UInt32> = [
        0x09BE, 0x09D7, 0x0B3E, 0x0B56, 0x0B57, 0x0BBE, 0x0BD7, 0x0C56, 0x0CC2, 0x0CD5, 0x0CD6, 0x0D3E,
        0x0D57, 0x0DCF, 0x0DDF, 0x102E, 0x1B35, 0x110BA, 0x11127, 0x1133E, 0x11357, 0x113B8, 0x113BB,
        0x113C2, 0x113C5, 0x113C7, 0x113C8, 0x113C9, 0x114B0, 0x114BA, 0x114BD, 0x115AF, 0x11930,
        0x0CC0, 0x0CC7, 0x0CC8, 0x0CCA, 0x0CCB,
    ]

    /// The single-scalar case variants of `c` used for case-insensitive matching (simple case
    /// folding, including the folds onto ASCII such as U+017F LATIN SMALL LETTER LONG S → s).
    static func caseVariants(_ c: UInt32) -> [UInt32] {
        var out: [UInt32] = [c]
        guard let s = Unicode.Scalar(c) else { return out }
        for m in [s.properties.lowercaseMapping, s.properties.uppercaseMapping, s.properties.titlecaseMapping] {
            let scalars = Array(m.unicodeScalars)
            if scalars.count == 1, !out.contains(scalars[0].value) { out.append(scalars[0].value) }
        }
        let extra: [UInt32: [UInt32]] = [
            0x73: [0x17F], 0x53: [0x17F], 0x17F: [0x73, 0x53],
            0x6B: [0x212A], 0x4B: [0x212A], 0x212A: [0x6B, 0x4B],
            0xE5: [0x212B], 0xC5: [0x212B], 0x212B: [0xE5, 0xC5],
        ]
        for e in extra[c] ?? [] where !out.contains(e) { out.append(e) }
        return out
    }
}
