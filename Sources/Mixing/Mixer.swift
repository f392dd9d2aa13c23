import Checkpoints
import Datasets
import Foundation
import Tensors

public struct MixOptions: Sendable {
    public var threads: Int
    public var overwrite: Bool
    public var skipInvalid: Bool
    /// Replaces the file's seed when set.
    public var seed: UInt64?
    public var dryRun: Bool

    public init(threads: Int = ParallelFor.defaultThreads, overwrite: Bool = false, skipInvalid: Bool = false,
                seed: UInt64? = nil, dryRun: Bool = false) {
        self.threads = threads
        self.overwrite = overwrite
        self.skipInvalid = skipInvalid
        self.seed = seed
        self.dryRun = dryRun
    }
}

public struct MixSummary: Sendable, Codable {
    public struct Mixture: Sendable, Codable {
        public var name: String
        public var trainRecords: Int
        public var heldOutRecords: Int
        /// `shares` or `pool` (see `MixtureSpec.HeldOutMode`); nil without a held-out split.
        public var heldOutMode: String?
        public var shares: [String: Double]
        public var files: [String]
    }
    public var output: String
    public var records: Int
    public var duplicates: Int
    public var skippedInvalid: Int
    public var mixtures: [Mixture]
    public var seconds: Double
    public var peakRSSBytes: Int?
}

/// `mixmerge mix`: reads the pool once, then draws and writes every mixture of the file.
public enum Mixer {
    public static let toolVersion = "mixmerge 0.1.0"

    public static func run(configPath: String, output: URL, options: MixOptions) throws -> MixSummary {
        let start = Date()
        let text: String
        do { text = try String(contentsOfFile: configPath, encoding: .utf8) } catch {
            throw MixError("\(configPath): cannot read the mixture file (\(FileManager.default.fileExists(atPath: configPath) ? "not UTF-8 text" : "no such file"))")
        }
        var config = try MixtureParser(fileName: configPath).parse(text)
        if let seed = options.seed { config.seed = seed }
        let output = output.standardizedFileURL
        if !options.dryRun { do { try OutputFolder.check(output, overwrite: options.overwrite) } catch { throw MixError(error.message) } }
        let base = URL(fileURLWithPath: configPath).deletingLastPathComponent().path
        let trace = ProcessInfo.processInfo.environment["MIXMERGE_TRACE"] != nil
        func phase(_ name: String) {
            if trace { FileHandle.standardError.write(Data(String(format: "[%.3f s] %@\n", Date().timeIntervalSince(start), name).utf8)) }
        }
        let pool = try Pool.load(config, baseDirectory: base, skipInvalid: options.skipInvalid, threads: options.threads)
        phase("pool read: \(pool.entries.count) entries")
        let draws = try config.mixtures.map { try Draw.make($0, pool: pool) }
        phase("drawn")
        var summary = MixSummary(
            output: output.path, records: pool.sourceStats.reduce(0) { $0 + $1.records },
            duplicates: pool.sourceStats.reduce(0) { $0 + $1.duplicatesExact + $1.duplicatesNormalized },
            skippedInvalid: pool.sourceStats.reduce(0) { $0 + $1.skippedInvalid }, mixtures: [], seconds: 0, peakRSSBytes: nil)
        for d in draws {
            summary.mixtures.append(.init(
                name: d.spec.name, trainRecords: d.train.count, heldOutRecords: d.heldOut.count,
                heldOutMode: config.heldOut == nil ? nil : d.spec.heldOutMode.rawValue,
                shares: Dictionary(uniqueKeysWithValues: d.realisedShares()), files: MixWriter.fileNames(d)))
        }
        if !options.dryRun {
            let temp: URL
            do { temp = try OutputFolder.begin(output) } catch { throw MixError(error.message) }
            do {
                for d in draws {
                    let folder = temp.appendingPathComponent(d.spec.name)
                    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
                    try MixWriter.write(d, pool: pool, into: folder, threads: options.threads)
                    phase("wrote \(d.spec.name)")
                }
                do { try OutputFolder.commit(temp, to: output) } catch { throw MixError(error.message) }
            } catch {
                try? FileManager.default.removeItem(at: temp)
                let message = "\(error)"
                if message.contains(temp.path) { throw MixError(OutputFolder.naming(message, temp: temp, as: output)) }
                throw error
            }
        }
        summary.seconds = Date().timeIntervalSince(start)
        summary.peakRSSBytes = peakResidentBytes()
        return summary
    }
}
