import Foundation
import Testing
@testable import Parquet

/// Damaged and hostile files: every one a thrown one-line `ParquetError` naming the file, never a crash.
@Suite struct HostileTests {
    static func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(name))))
    }

    /// Opens and decodes everything; returns the error thrown, if any.
    static func outcome(_ bytes: [UInt8], name: String = "mutated.parquet") -> ParquetError? {
        do {
            let file = try ParquetFile(bytes: bytes, name: name)
            var rows = try file.rows()
            var records: [String] = []
            while let record = try rows.next() { records.append(record.jsonText()) }
            // The direct JSON writer meets the same bytes and must fail (or agree) the same way.
            var direct: [UInt8] = []
            var lengths: [Int] = []
            for g in file.rowGroups.indices { try file.appendJSON(rowGroup: g, into: &direct, lengths: &lengths) }
            #expect(String(decoding: direct, as: UTF8.self) == records.joined(), "\(name): the direct writer differs")
            return nil
        } catch let error as ParquetError {
            return error
        } catch {
            Issue.record("not a ParquetError: \(error)")
            return nil
        }
    }

    static func expectOneLine(_ error: ParquetError, name: String) {
        #expect(error.description.hasPrefix(name + ": "))
        #expect(!error.description.contains("\n"))
    }

    @Test func truncatedFiles() throws {
        let good = try Self.bytes("ultrafeedback.snappy-v1.parquet")
        for keep in [0, 3, 11, good.count / 2, good.count - 1, good.count - 5] {
            let error = try #require(Self.outcome(Array(good[0..<keep]), name: "cut.parquet"))
            #expect(error.code == .corrupt)
            Self.expectOneLine(error, name: "cut.parquet")
        }
        // The tail kept (length and magic), the footer itself cut short.
        let tail = Array(good.suffix(8))
        let error = try #require(Self.outcome(Array(good[0..<100]) + tail, name: "cut.parquet"))
        #expect(error.message.contains("footer"))
    }

    @Test func wrongMagic() throws {
        var bad = try Self.bytes("dolly.zstd.parquet")
        bad[0] = UInt8(ascii: "X")
        let error = try #require(Self.outcome(bad, name: "magic.parquet"))
        #expect(error.code == .corrupt)
        #expect(error.message.contains("PAR1"))
        var badTail = try Self.bytes("dolly.zstd.parquet")
        badTail[badTail.count - 1] = 0
        #expect(Self.outcome(badTail)?.message.contains("PAR1") == true)
    }

    @Test func missingFileIsUnreadable() throws {
        let path = Fixtures.path("no-such-file.parquet")
        let error = try #require(throws: ParquetError.self) { _ = try ParquetFile(path: path) }
        #expect(error.code == .unreadable)
        #expect(error.description.hasPrefix(path + ": "))
    }

    @Test func pageHeaderPointingPastTheEnd() throws {
        var bad = try Self.bytes("aya.plain-v2.parquet")
        // The first page header at offset 4: type, uncompressed size, then the compressed size (3 bytes).
        try #require(Array(bad[4..<14]) == [0x15, 0x06, 0x15, 0xA2, 0xD4, 0x01, 0x15, 0xA2, 0xD4, 0x01])
        bad[11] = 0xFE  // zigzag 2^20 - 1 bytes
        bad[12] = 0xFF
        bad[13] = 0x7F
        let error = try #require(Self.outcome(bad, name: "pages.parquet"))
        #expect(error.code == .corrupt)
        #expect(error.message.contains("column prompt"))
        #expect(error.message.contains("points past the end"))
        Self.expectOneLine(error, name: "pages.parquet")
    }

    @Test func decompressionBombIsRefused() throws {
        let path = Fixtures.path("hostile-bomb.parquet")
        let file = try ParquetFile(path: path)
        let error = try #require(throws: ParquetError.self) { _ = try file.readRowGroup(0) }
        #expect(error.code == .tooLarge)
        #expect(error.message.contains("2147483647"))
        Self.expectOneLine(error, name: path)
    }

    @Test func dictionaryIndexOutOfRange() throws {
        let path = Fixtures.path("hostile-dict-index.parquet")
        let file = try ParquetFile(path: path)
        let error = try #require(throws: ParquetError.self) { _ = try file.readRowGroup(0) }
        #expect(error.code == .corrupt)
        #expect(error.message.contains("dictionary index 5 is out of range"))
        #expect(error.message.contains("column s"))
        Self.expectOneLine(error, name: path)
    }

    @Test func garbageThriftFooter() throws {
        let good = try Self.bytes("aya.gzip-v1.parquet")
        let footer = Int(UInt32(good[good.count - 8]) | UInt32(good[good.count - 7]) << 8
            | UInt32(good[good.count - 6]) << 16 | UInt32(good[good.count - 5]) << 24)
        var rng = SplitMix64(seed: 99)
        for pattern: UInt8 in [0xFF, 0x00, 0x19, 0x1C] {
            var bad = good
            for k in (good.count - 8 - footer)..<(good.count - 8) {
                bad[k] = pattern == 0x1C ? UInt8(truncatingIfNeeded: rng.next()) : pattern
            }
            let error = try #require(Self.outcome(bad, name: "thrift.parquet"))
            #expect(error.code == .corrupt || error.code == .unsupported)
            Self.expectOneLine(error, name: "thrift.parquet")
        }
    }

    @Test func limitsAreHonoured() throws {
        let limits = ParquetLimits(maxPageBytes: 64, maxPageValues: 1 << 20)
        let file = try ParquetFile(path: Fixtures.path("dolly.zstd.parquet"), limits: limits)
        let error = try #require(throws: ParquetError.self) { _ = try file.readRowGroup(0) }
        #expect(error.code == .tooLarge)
    }

    /// Seeded random mutations of the fixtures: each outcome is records or a `ParquetError`.
    /// `PARQUET_FUZZ_ROUNDS` (default 60 per file) and `PARQUET_FUZZ_SEED` run it longer or elsewhere.
    @Test(arguments: ["ultrafeedback.snappy-v1.parquet", "nested.zstd-v2.parquet", "types.plain-v1.parquet",
                      "delta.v1.parquet", "aya.gzip-v1.parquet", "ultrafeedback.gzip-dict-v2.parquet"])
    func fuzz(_ name: String) throws {
        let good = try Self.bytes(name)
        let environment = ProcessInfo.processInfo.environment
        let rounds = environment["PARQUET_FUZZ_ROUNDS"].flatMap { Int($0) } ?? 60
        let seed = environment["PARQUET_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0
        var rng = SplitMix64(seed: (UInt64(name.utf8.count) &* 0x9E37_79B9) ^ seed)
        var failures = 0
        for round in 0..<rounds {
            var bad = good
            switch round % 4 {
            case 0:
                // A few random bytes anywhere.
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    bad[Int(rng.next() % UInt64(bad.count))] = UInt8(truncatingIfNeeded: rng.next())
                }
            case 1:
                // Inside the footer.
                let footer = min(bad.count - 8, 1 + Int(rng.next() % 2000))
                let k = bad.count - 8 - footer + Int(rng.next() % UInt64(footer))
                bad[k] = UInt8(truncatingIfNeeded: rng.next())
            case 2:
                // Bits flipped in the first kilobytes, where page headers sit.
                for _ in 0..<(1 + Int(rng.next() % 3)) {
                    let k = 4 + Int(rng.next() % UInt64(min(4096, bad.count - 12)))
                    bad[k] ^= 1 << UInt8(rng.next() % 8)
                }
            default:
                // A cut, with the tail restored.
                let keep = Int(rng.next() % UInt64(bad.count))
                bad = Array(bad[0..<keep]) + Array(good.suffix(8))
            }
            if let error = Self.outcome(bad, name: name) {
                failures += 1
                Self.expectOneLine(error, name: name)
            }
        }
        // Most mutations must be caught (not all: a flipped bit in text still decodes).
        #expect(failures > 0)
    }
}

/// Sebastiano Vigna's SplitMix64: a small seeded generator for the fuzz tests.
struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
