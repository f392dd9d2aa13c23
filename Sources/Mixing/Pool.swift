import Checkpoints
import Crypto
import Datasets
import Dispatch
import Foundation
import Tensors

/// Everything the sources hold, read once: one small entry per record (where it is, its
/// language, size, group and duplicate keys), never the records themselves. Mixtures are drawn
/// from these entries; the records are read again from the mapped files only when written.
public final class Pool: @unchecked Sendable {
    // @unchecked: built once by `load`, then only read.
    public let config: MixtureConfig
    public let files: [RecordFile]
    public internal(set) var entries: [PoolEntry] = []
    /// Render plans (see `RenderPlan`) per source and chunk; an entry's `plan` is its offset.
    var arenas: [[[Int32]]] = []
    public internal(set) var sourceStats: [SourceStats]
    public internal(set) var heldOutGroups = 0
    public internal(set) var groups = 0

    public struct SourceStats: Sendable {
        public var path: String
        public var resolvedPath: String
        public var sha256: String = ""
        public var bytes: Int = 0
        public var records = 0
        public var skippedInvalid = 0
        public var skippedExamples: [String] = []
        public var duplicatesExact = 0
        public var duplicatesNormalized = 0
        public var otherLanguages = 0
        /// Records dropped by the pool's `languages:` filter, per canonical language.
        public var otherLanguageCounts: [String: Int] = [:]
        public var heldOut = 0
    }

    init(config: MixtureConfig, files: [RecordFile], stats: [SourceStats]) {
        self.config = config
        self.files = files
        self.sourceStats = stats
    }

    /// Reads every source (in parallel chunks, pages released as they are consumed), removes
    /// duplicates, drops languages outside `config.languages`, and marks the held-out groups.
    public static func load(
        _ config: MixtureConfig, baseDirectory: String?, skipInvalid: Bool, threads: Int
    ) throws -> Pool {
        var files: [RecordFile] = []
        var stats: [SourceStats] = []
        let trace = ProcessInfo.processInfo.environment["MIXMERGE_TRACE"] != nil
        let opened = Date()
        for spec in config.sources {
            let resolved = resolve(spec.path, baseDirectory)
            let file: RecordFile
            do { file = try RecordFile(source: resolved, split: spec.split, displayName: spec.path, columns: spec.reader.keysRead) } catch {
                throw MixError("source '\(spec.name)': \(error)")
            }
            files.append(file)
            stats.append(SourceStats(path: spec.path, resolvedPath: resolved, bytes: file.bytes.count))
        }
        if trace { FileHandle.standardError.write(Data("  opened (and converted) in \(Date().timeIntervalSince(opened)) s\n".utf8)) }
        let pool = Pool(config: config, files: files, stats: stats)
        let t0 = Date()
        for (s, spec) in config.sources.enumerated() {
            try pool.scan(source: s, spec: spec, skipInvalid: skipInvalid, threads: threads)
            let st = pool.sourceStats[s]
            if st.records == 0 {
                let skipped = st.skippedInvalid > 0 ? " (\(st.skippedInvalid) skipped as invalid: \(st.skippedExamples.first ?? ""))" : ""
                throw MixError("source '\(spec.name)': \(spec.path) holds no records\(skipped); give it data or remove it from sources:")
            }
        }
        if trace { FileHandle.standardError.write(Data("  scanned in \(Date().timeIntervalSince(t0)) s\n".utf8)) }
        pool.removeDuplicates()
        if trace { FileHandle.standardError.write(Data("  deduplicated at \(Date().timeIntervalSince(t0)) s\n".utf8)) }
        pool.splitHeldOut()
        return pool
    }

    static func resolve(_ path: String, _ base: String?) -> String {
        // A glob pattern resolves by its folder (`data/train_prefs-*.parquet`).
        func exists(_ p: String) -> Bool {
            if FileManager.default.fileExists(atPath: p) { return true }
            guard p.contains(where: { "*?[".contains($0) }) else { return false }
            let folder = (p as NSString).deletingLastPathComponent
            return FileManager.default.fileExists(atPath: folder.isEmpty ? "." : folder)
        }
        if path.hasPrefix("/") || exists(path) { return path }
        if let base {
            let candidate = URL(fileURLWithPath: base).appendingPathComponent(path).path
            if exists(candidate) { return candidate }
        }
        return path
    }

    // MARK: pass 1

    static let chunk = 8192

    func scan(source s: Int, spec: SourceSpec, skipInvalid: Bool, threads: Int) throws {
        let file = files[s]
        let chunks = (file.spans.count + Self.chunk - 1) / Self.chunk
        var results = [ChunkResult?](repeating: nil, count: chunks)
        if arenas.count <= s { arenas.append([]) }
        let hashed = HashBox()
        let group = DispatchGroup()
        let fileBox = UncheckedBox(file)
        DispatchQueue.global().async(group: group) { hashed.digest = Self.sha256(fileBox.value) }
        let box = UncheckedBox(results.withUnsafeMutableBufferPointer { $0 })
        let languages = config.languages.map(Set.init)
        ParallelFor.run(count: chunks, threads: threads) { c in
            let range = (c * Self.chunk)..<min(file.spans.count, (c + 1) * Self.chunk)
            box.value[c] = Self.scanChunk(file, range, source: s, spec: spec, languages: languages, skipInvalid: skipInvalid)
            // A converted file's row groups land in the order they were converted: not always ascending.
            var low = Int.max, high = 0
            for i in range {
                let span = file.spans[i]
                low = min(low, span.start)
                high = max(high, span.start + Int(span.length))
            }
            file.releasePages(low..<high)
        }
        group.wait()
        sourceStats[s].sha256 = hashed.digest
        for r in results {
            guard let r else { continue }
            if let error = r.error { throw MixError(error) }
            entries.append(contentsOf: r.entries)
            arenas[s].append(r.arena)
            sourceStats[s].records += r.entries.count + r.otherLanguages
            sourceStats[s].otherLanguages += r.otherLanguages
            sourceStats[s].otherLanguageCounts.merge(r.otherLanguageCounts, uniquingKeysWith: +)
            sourceStats[s].skippedInvalid += r.skipped.count
            let room = 10 - sourceStats[s].skippedExamples.count
            if room > 0 { sourceStats[s].skippedExamples += r.skipped.prefix(room) }
        }
    }


    struct ChunkResult {
        var entries: [PoolEntry] = []
        var arena: [Int32] = []
        var skipped: [String] = []
        var otherLanguages = 0
        var otherLanguageCounts: [String: Int] = [:]
        var error: String?
    }

    static func scanChunk(
        _ file: RecordFile, _ range: Range<Int>, source: Int, spec: SourceSpec, languages: Set<String>?, skipInvalid: Bool
    ) -> ChunkResult {
        var out = ChunkResult()
        out.entries.reserveCapacity(range.count)
        var tape = JSONTape()
        var keys = KeyBuilder()
        for i in range {
            do {
                let layout = try read(file, i, spec, &tape)
                guard let language = layout.language else {
                    throw MixError("\(file.location(i)): no language (give source '\(spec.name)' a language: or map a field with fields: {language: KEY})")
                }
                if let languages, !languages.contains(language) {
                    out.otherLanguages += 1
                    out.otherLanguageCounts[language, default: 0] += 1
                    continue
                }
                guard let packed = PoolEntry.pack(language) else {
                    throw MixError("\(file.location(i)): language code '\(language)' is longer than 8 characters")
                }
                var entry = keys.entry(layout, tape, source: source, span: i, language: packed, namespace: spec.groupNamespace)
                entry.plan = Int32(out.arena.count)
                RenderPlan.append(layout, tape, to: &out.arena)
                out.entries.append(entry)
            } catch {
                if skipInvalid { out.skipped.append("\(error)") } else {
                    out.error = "\(error)"
                    return out
                }
            }
        }
        return out
    }

    /// Parses record `index` of a source and locates its parts (errors carry `file:line`).
    static func read(_ file: RecordFile, _ index: Int, _ spec: SourceSpec, _ tape: inout JSONTape) throws -> RecordLayout {
        do { try file.parse(index, into: &tape) } catch { throw MixError("\(error)") }
        do {
            let layout = try spec.reader.layout(tape)
            if layout.harmCategory >= 0 { _ = try spec.reader.harmCategories(tape, Int(layout.harmCategory)) }
            return layout
        } catch {
            throw MixError("\(file.location(index)): \(error.message)")
        }
    }

    /// An entry's render plan, valid while the pool lives.
    func withPlan<T>(_ e: PoolEntry, _ body: (RenderPlan.View) throws -> T) rethrows -> T {
        try arenas[Int(e.source)][Int(e.span) / Self.chunk].withUnsafeBufferPointer { try body(RenderPlan.View(arena: $0, at: Int(e.plan))) }
    }

    final class HashBox: @unchecked Sendable { var digest = "" }

    static func sha256(_ file: RecordFile) -> String {
        var hasher = SHA256()
        let step = 64 << 20
        var offset = 0
        while !file.isConverted, offset < file.bytes.count {
            let n = min(step, file.bytes.count - offset)
            hasher.update(bufferPointer: UnsafeRawBufferPointer(start: file.bytes.base + offset, count: n))
            file.releasePages(offset..<(offset + n))
            offset += n
        }
        if file.isConverted {
            // The inputs' own bytes (CSV, Parquet, the shards of a folder), not their JSON-lines conversion.
            hasher = SHA256()
            for path in file.sourceFiles {
                guard let source = try? MappedFile(path: path) else { continue }
                var at = 0
                while at < source.size {
                    let n = min(step, source.size - at)
                    hasher.update(bufferPointer: UnsafeRawBufferPointer(start: source.bytes + at, count: n))
                    source.release(at..<(at + n))
                    at += n
                }
            }
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    // MARK: duplicates and split

    func removeDuplicates() {
        guard config.dedup != .none else { return }
        var exact = KeySet(capacity: entries.count)
        var normalized = KeySet(capacity: config.dedup == .normalized ? entries.count : 0)
        for i in entries.indices {
            let e = entries[i]
            if !exact.insert(e.exactKey).inserted {
                entries[i].flags.insert(.duplicate)
                sourceStats[Int(e.source)].duplicatesExact += 1
            } else if config.dedup == .normalized && !normalized.insert(e.normalizedKey).inserted {
                entries[i].flags.insert(.duplicate)
                sourceStats[Int(e.source)].duplicatesNormalized += 1
            }
        }
    }

    /// Whole groups go to the held-out side: the distinct group keys are sorted, shuffled with the
    /// "split" stream, and the first round(fraction × groups) are held out.
    func splitHeldOut() {
        var keys = entries.lazy.filter { !$0.flags.contains(.duplicate) }.map(\.group).sorted()
        keys = keys.enumerated().compactMap { i, k in i > 0 && keys[i - 1] == k ? nil : k }
        groups = keys.count
        guard let fraction = config.heldOut?.fraction else { return }
        var rng = Xoshiro256StarStar(seed: config.seed, purpose: "split")
        rng.shuffle(&keys)
        let count = Int((fraction * Double(keys.count)).rounded())
        heldOutGroups = count
        let held = Set(keys.prefix(count))
        for i in entries.indices where !entries[i].flags.contains(.duplicate) && held.contains(entries[i].group) {
            entries[i].flags.insert(.heldOut)
            sourceStats[Int(entries[i].source)].heldOut += 1
        }
    }
}

public struct Key128: Hashable, Sendable {
    var a: UInt64
    var b: UInt64
}

/// A set of 128-bit keys that are already uniform hashes: open addressing on `a`, no rehashing.
struct KeySet {
    private var slots: [Key128]
    private var used: [Bool]
    private let mask: Int

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Key128](repeating: Key128(a: 0, b: 0), count: size)
        used = [Bool](repeating: false, count: size)
        mask = size - 1
    }

    /// Inserts `key`; false when it was already present.
    mutating func insert(_ key: Key128) -> (inserted: Bool, Void) {
        var i = Int(truncatingIfNeeded: key.a) & mask
        while used[i] {
            if slots[i] == key { return (false, ()) }
            i = (i + 1) & mask
        }
        used[i] = true
        slots[i] = key
        return (true, ())
    }
}

/// One record of the pool (48 bytes): where it is, what it is, and its keys.
public struct PoolEntry: Sendable {
    public struct Flags: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let sft = Flags(rawValue: 1)
        public static let dpo = Flags(rawValue: 2)
        public static let duplicate = Flags(rawValue: 4)
        public static let heldOut = Flags(rawValue: 8)
    }

    public var source: Int32
    public var span: Int32
    public var characters: Int32
    public var flags: Flags
    /// Canonical language code, up to 8 ASCII bytes packed little-endian.
    public var language: UInt64
    public var group: UInt64
    /// Offset of the record's render plan in its chunk's arena.
    var plan: Int32 = 0
    var exactKey: Key128
    var normalizedKey: Key128

    init(source: Int32, span: Int32, characters: Int32, flags: Flags, language: UInt64, group: UInt64, exactKey: Key128, normalizedKey: Key128) {
        self.source = source
        self.span = span
        self.characters = characters
        self.flags = flags
        self.language = language
        self.group = group
        self.exactKey = exactKey
        self.normalizedKey = normalizedKey
    }

    static func pack(_ code: String) -> UInt64? {
        let u = Array(code.utf8)
        guard u.count <= 8 else { return nil }
        var v: UInt64 = 0
        for (i, b) in u.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }

    static func unpack(_ v: UInt64) -> String {
        var bytes: [UInt8] = []
        var x = v
        while x != 0 { bytes.append(UInt8(x & 0xFF)); x >>= 8 }
        return String(decoding: bytes, as: UTF8.self)
    }

    public var languageCode: String { Self.unpack(language) }
}

/// Computes a record's pool entry from its layout, with scratch buffers reused across records.
struct KeyBuilder {
    var exact: [UInt8] = []
    var normalized: [UInt8] = []
    var text: [UInt8] = []

    mutating func entry(_ l: RecordLayout, _ tape: JSONTape, source: Int, span: Int, language: UInt64, namespace: String) -> PoolEntry {
        var chars = 0
        for t in l.prompt { chars += tape.characterCount(t.text) }
        for t in l.sftResponse ?? [] { chars += tape.characterCount(t.text) }
        var flags: PoolEntry.Flags = []
        if l.sftResponse != nil { flags.insert(.sft) }
        if l.isPreferencePair { flags.insert(.dpo) }
        exact.removeAll(keepingCapacity: true)
        normalized.removeAll(keepingCapacity: true)
        for t in l.prompt {
            text.removeAll(keepingCapacity: true)
            tape.appendDecoded(t.text, to: &text)
            exact.append(t.role.rawValue); exact.append(1)
            exact.append(contentsOf: text)
            exact.append(2)
            normalized.append(t.role.rawValue); normalized.append(1)
            Normalize.append(text, to: &normalized)
            normalized.append(2)
        }
        let exactKey = exact.withUnsafeBytes { Key128(a: Hash64.hash($0, seed: 1), b: Hash64.hash($0, seed: 2)) }
        let normalizedKey = normalized.withUnsafeBytes { Key128(a: Hash64.hash($0, seed: 1), b: Hash64.hash($0, seed: 2)) }
        // Translations of one source prompt share its source id; without one, a record is its own
        // group, keyed by its normalised prompt (so duplicates that survive dedup stay together).
        var group = normalizedKey.a
        if l.sourceID >= 0 {
            text.removeAll(keepingCapacity: true)
            text.append(contentsOf: Array(namespace.utf8))
            text.append(0)
            tape.appendDecoded(TextRef(token: l.sourceID), to: &text)
            group = text.withUnsafeBytes { Hash64.hash($0, seed: 3) }
        }
        return PoolEntry(source: Int32(source), span: Int32(span), characters: Int32(clamping: chars), flags: flags,
                         language: language, group: group, exactKey: exactKey, normalizedKey: normalizedKey)
    }
}

/// The prompt normalisation behind "normalised duplicates": Unicode compatibility forms (NFKC),
/// case (lower), runs of whitespace (one space), and whitespace, punctuation and symbols at either
/// end dropped.
///
/// Most text takes a fast path: scalars looked up in a table built once for ASCII, Latin,
/// Greek, Cyrillic, Hebrew, Arabic, Devanagari and general punctuation, holding each scalar's
/// lower case and whether it is whitespace or punctuation/symbol. A scalar is in the table only
/// when NFKC maps it to itself, its lower case is one scalar, and it is not a combining mark
/// that could compose or reorder (combining class 0, or one of a few marks that compose with
/// nothing, never two in a row), so for text made only of such scalars NFKC is the identity and
/// the table's answer equals the general path's (a test checks this on random text). Anything else (a
/// combining accent, a presentation form, CJK …) goes through Foundation's NFKC and lowercasing.
public enum Normalize {
    public static func prompt(_ s: String) -> String {
        var out: [UInt8] = []
        append(Array(s.utf8), to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static let fast: UInt32 = 1 << 21, space: UInt32 = 1 << 22, trim: UInt32 = 1 << 23, mark: UInt32 = 1 << 24

    /// Combining marks that compose with nothing (Devanagari virama, Arabic harakat): allowed on
    /// the fast path as long as two of them are never adjacent (canonical reordering).
    static let inertMarks: Set<UInt32> = Set<UInt32>([0x094D]).union(0x064B...0x0652)

    /// Per BMP scalar: lower-case scalar (bits 0–20) | fast | space | trim; 0 = take the general path.
    static let table: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 0x10000)
        let blocks: [ClosedRange<UInt32>] = [
            0x0000...0x024F, 0x0370...0x03FF, 0x0400...0x052F, 0x0590...0x05FF, 0x0600...0x06FF,
            0x0900...0x097F, 0x2000...0x206F, 0x20A0...0x20CF,
        ]
        for block in blocks {
            for v in block {
                guard let u = Unicode.Scalar(v) else { continue }
                let p = u.properties
                let single = String(u)
                let inert = inertMarks.contains(v)
                guard p.canonicalCombiningClass == .notReordered || inert,
                      single.precomposedStringWithCompatibilityMapping.unicodeScalars.elementsEqual([u]),
                      v != 0x03A3  // capital sigma: its lower case depends on context
                else { continue }
                let lower = single.lowercased().unicodeScalars
                guard lower.count == 1, let l = lower.first else { continue }
                if !inert, (0x0900...0x097F).contains(v) == false, [.nonspacingMark, .enclosingMark, .spacingMark].contains(p.generalCategory) {
                    continue  // marks outside Devanagari may start compositions (Bengali, Tamil two-part vowels …)
                }
                var entry = l.value | fast
                if inert { entry |= mark }
                if p.isWhitespace { entry |= space }
                switch p.generalCategory {
                case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
                     .finalPunctuation, .otherPunctuation, .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
                    entry |= trim
                default: break
                }
                t[Int(v)] = entry
            }
        }
        return t
    }()

    /// Appends the normalised form of valid UTF-8 `text` to `result`.
    static func append(_ text: [UInt8], to result: inout [UInt8]) {
        let start = result.count
        var pendingSpace = false
        var lastKept = start  // end of the output up to the last non-trim scalar
        var sawKept = false
        var previousMark = false
        var i = 0
        let n = text.count
        let table = Self.table
        while i < n {
            let c = text[i]
            var v: UInt32
            var len: Int
            if c < 0x80 { v = UInt32(c); len = 1 }
            else if c < 0xE0 { v = UInt32(c & 0x1F) << 6 | UInt32(text[i + 1] & 0x3F); len = 2 }
            else if c < 0xF0 { v = UInt32(c & 0x0F) << 12 | UInt32(text[i + 1] & 0x3F) << 6 | UInt32(text[i + 2] & 0x3F); len = 3 }
            else { v = 0x10000; len = 4 }
            let entry = v < 0x10000 ? table[Int(v)] : 0
            let isMark = entry & mark != 0
            guard entry & fast != 0, !(isMark && previousMark) else {
                result.removeSubrange(start...)
                result.append(contentsOf: Array(general(String(decoding: text, as: UTF8.self)).utf8))
                return
            }
            i += len
            previousMark = isMark
            if entry & space != 0 { pendingSpace = sawKept; continue }
            let isTrim = entry & trim != 0
            if !sawKept && isTrim { continue }  // leading punctuation
            if pendingSpace { result.append(0x20); pendingSpace = false }
            appendUTF8(entry & 0x1F_FFFF, to: &result)
            if !isTrim { sawKept = true; lastKept = result.count }
        }
        result.removeSubrange(lastKept...)  // trailing punctuation and spaces
    }

    @inline(__always) static func appendUTF8(_ v: UInt32, to out: inout [UInt8]) {
        switch v {
        case 0..<0x80: out.append(UInt8(v))
        case 0x80..<0x800: out.append(UInt8(0xC0 | v >> 6)); out.append(UInt8(0x80 | v & 0x3F))
        default:
            out.append(UInt8(0xE0 | v >> 12)); out.append(UInt8(0x80 | (v >> 6) & 0x3F)); out.append(UInt8(0x80 | v & 0x3F))
        }
    }

    /// The general path: NFKC, lower case, whitespace runs, trimming — on Unicode scalars.
    public static func general(_ s: String) -> String {
        let scalars = s.precomposedStringWithCompatibilityMapping.lowercased().unicodeScalars
        var out = String.UnicodeScalarView()
        var pendingSpace = false
        for u in scalars {
            if u.properties.isWhitespace { pendingSpace = !out.isEmpty; continue }
            if pendingSpace { out.append(" "); pendingSpace = false }
            out.append(u)
        }
        func trim(_ u: Unicode.Scalar) -> Bool {
            switch u.properties.generalCategory {
            case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
                 .finalPunctuation, .otherPunctuation, .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
                return true
            default: return u.properties.isWhitespace
            }
        }
        while let last = out.last, trim(last) { out.removeLast() }
        while let first = out.first, trim(first) { out.removeFirst() }
        return String(out)
    }
}
