import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where a data source's records are: one file, a folder of shards, or a glob pattern — the layouts the
/// Hugging Face hub serves (`data/train_prefs-00000-of-00001.parquet`, `train/0000.parquet`, …).
public enum DataFiles {
    /// File name endings read as data.
    public static let extensions = [".jsonl", ".json", ".csv", ".tsv", ".parquet"]

    /// The files of `path`, sorted by name: the file itself; every data file under a folder (recursively);
    /// or the files a glob pattern (`*`, `?`, `[…]` in the last component) matches. With `split`, only the
    /// files of that split: a name starting with `split-` or `split.`, or a file inside a folder
    /// named `split` (the hub's `train_prefs-00000-of-00001.parquet` and `train/…` layouts).
    /// - Throws: a `RecordFileError` naming the path when nothing matches.
    public static func resolve(_ path: String, split: String? = nil) throws(RecordFileError) -> [String] {
        let fm = FileManager.default
        var isFolder: ObjCBool = false
        var found: [String]
        if fm.fileExists(atPath: path, isDirectory: &isFolder) {
            if !isFolder.boolValue {
                guard let split else { return [path] }
                guard matches(path, split: split) else {
                    throw RecordFileError(path, "is not a file of split '\(split)' (its name should start with '\(split)-')")
                }
                return [path]
            }
            found = []
            if let walker = fm.enumerator(atPath: path) {
                for case let relative as String in walker {
                    let full = (path as NSString).appendingPathComponent(relative)
                    let name = (relative as NSString).lastPathComponent
                    guard !name.hasPrefix("."), extensions.contains(where: { name.lowercased().hasSuffix($0) }) else { continue }
                    var dir: ObjCBool = false
                    if fm.fileExists(atPath: full, isDirectory: &dir), !dir.boolValue { found.append(full) }
                }
            }
        } else if path.contains(where: { "*?[".contains($0) }) {
            let folder = (path as NSString).deletingLastPathComponent
            let pattern = (path as NSString).lastPathComponent
            guard !folder.contains(where: { "*?[".contains($0) }) else {
                throw RecordFileError(path, "a pattern may only have wildcards in its last component")
            }
            let names = (try? fm.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder)) ?? []
            found = names.filter { fnmatch(pattern, $0, 0) == 0 && !$0.hasPrefix(".") }
                .map { folder.isEmpty ? $0 : (folder as NSString).appendingPathComponent($0) }
        } else {
            throw RecordFileError(path, "no such file")
        }
        if let split { found = found.filter { matches($0, split: split) } }
        found.sort()
        guard !found.isEmpty else {
            throw RecordFileError(path, split.map { "no data files of split '\($0)'" } ?? "no data files (\(extensions.joined(separator: ", ")))")
        }
        return found
    }

    static func matches(_ file: String, split: String) -> Bool {
        let name = (file as NSString).lastPathComponent
        if name.hasPrefix(split + "-") || name.hasPrefix(split + ".") { return true }
        return ((file as NSString).deletingLastPathComponent as NSString).lastPathComponent == split
    }
}
