import Crypto
import Foundation
import Mixing

/// SHA-256 of input files and model folders, remembered by (path, size, modification time) in a
/// small JSON file, so that a rerun does not read a 16 GB checkpoint again to find it unchanged.
public final class FileHashes: @unchecked Sendable {
    private let lock = NSLock()
    private var known: [String: Entry] = [:]
    private let cachePath: URL?

    struct Entry: Codable {
        var size: UInt64
        var mtime: Double
        var sha256: String
    }

    /// A dry run hashes a missing input as `missing:PATH` instead of failing.
    public let lenient: Bool

    public init(cache: URL?, lenient: Bool = false) {
        cachePath = cache
        self.lenient = lenient
        if let cache, let data = try? Data(contentsOf: cache), let k = try? JSONDecoder().decode([String: Entry].self, from: data) { known = k }
    }

    /// Writes the remembered hashes (temporary name, then rename).
    public func save() {
        guard let cachePath else { return }
        let data = lock.withLock { try? JSONEncoder().encode(known) }
        guard let data else { return }
        let temp = cachePath.appendingPathExtension("tmp")
        if (try? data.write(to: temp)) != nil { _ = try? FileManager.default.replaceItemAt(cachePath, withItemAt: temp) }
        if !FileManager.default.fileExists(atPath: cachePath.path) { try? FileManager.default.moveItem(at: temp, to: cachePath) }
    }

    public func file(_ url: URL) throws -> String {
        let path = url.standardizedFileURL.path
        let attrs: [FileAttributeKey: Any]
        do { attrs = try FileManager.default.attributesOfItem(atPath: path) } catch {
            if lenient { return "missing:" + path }
            throw StudyError("\(path): no such file")
        }
        let size = (attrs[.size] as? NSNumber)?.uint64Value ?? 0
        let mtime = (attrs[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        if let e = lock.withLock({ known[path] }), e.size == size, e.mtime == mtime { return e.sha256 }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch { throw StudyError("\(path): cannot read (\(error.localizedDescription))") }
        let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        lock.withLock { known[path] = Entry(size: size, mtime: mtime, sha256: digest) }
        return digest
    }

    /// The files of a model or data folder that its content depends on: not hidden folders
    /// (`.cache/huggingface` of `hf download`), not Markdown (model cards).
    static func counts(_ relative: String) -> Bool {
        !relative.split(separator: "/").contains { $0.hasPrefix(".") } && !relative.hasSuffix(".md")
    }

    /// Every regular file under a folder that counts: its relative name and content hash.
    public func folder(_ url: URL) throws -> String {
        if lenient && !FileManager.default.fileExists(atPath: url.path) { return "missing:" + url.path }
        var parts: [String] = []
        for f in try files(under: url) {
            let relative = String(f.path.dropFirst(url.standardizedFileURL.path.count))
            guard Self.counts(relative) else { continue }
            parts.append(relative)
            parts.append(try file(f))
        }
        return sha(parts)
    }

    func files(under url: URL) throws -> [URL] {
        let root = url.standardizedFileURL
        guard let e = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else {
            throw StudyError("\(root.path): cannot list the folder")
        }
        var out: [URL] = []
        for case let f as URL in e where (try? f.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            out.append(f.standardizedFileURL)
        }
        return out.sorted { $0.path < $1.path }
    }

    /// The data files a mixture file reads, hashed (folders and glob patterns expanded).
    public func mixSources(_ mixFile: URL) throws -> [String] {
        guard let text = try? String(contentsOf: mixFile, encoding: .utf8) else { throw StudyError("\(mixFile.path): not readable") }
        return try mixSources(text: text, base: mixFile.deletingLastPathComponent())
    }

    public func mixSources(text: String, base: URL) throws -> [String] {
        let config: MixtureConfig
        do { config = try MixtureParser().parse(text) } catch { throw StudyError("\(error)") }
        var out: [String] = []
        for s in config.sources {
            let p = s.path.hasPrefix("/") ? s.path : base.appendingPathComponent(s.path).path
            var dir: ObjCBool = false
            if FileManager.default.fileExists(atPath: p, isDirectory: &dir) {
                out.append(dir.boolValue ? try folder(URL(fileURLWithPath: p)) : try file(URL(fileURLWithPath: p)))
            } else {
                var g = glob_t()
                defer { globfree(&g) }
                guard glob(p, 0, nil, &g) == 0 else {
                    if lenient { out.append("missing:" + p); continue }
                    throw StudyError("\(p): no data file matches")
                }
                for i in 0..<Int(g.gl_pathc) {
                    if let c = g.gl_pathv[i] { out.append(try file(URL(fileURLWithPath: String(cString: c)))) }
                }
            }
        }
        return out
    }
}
