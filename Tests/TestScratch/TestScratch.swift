import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Scratch folders for tests: all inside one folder per test process, which is removed when the
/// process exits, so `swift test` leaves nothing behind in the temporary directory.
public enum TestScratch {
    /// `$TMPDIR/mixmerge-tests-PID`, created (empty) on first use.
    public static let root: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mixmerge-tests-\(getpid())")
        try? FileManager.default.removeItem(at: url)
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        atexit { TestScratch.removeAll() }
        return url
    }()

    /// A new, empty folder named after `label` (a test's function name, say).
    public static func folder(_ label: String) -> URL {
        let url = root.appendingPathComponent("\(label.filter(\.isLetter))-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Removes the root, making read-only folders (left by permission tests) writable first.
    static func removeAll() {
        let fm = FileManager.default
        if let walker = fm.enumerator(atPath: root.path) {
            for case let relative as String in walker {
                let path = root.appendingPathComponent(relative).path
                var isFolder: ObjCBool = false
                if fm.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue { chmod(path, 0o755) }
            }
        }
        try? fm.removeItem(at: root)
    }
}
