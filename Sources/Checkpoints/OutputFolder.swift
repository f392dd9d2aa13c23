import Foundation

/// The rule every command that writes a folder follows: build it in a hidden temporary sibling,
/// rename it into place only when complete, and remove the temporary folder on any failure — so
/// nothing half-written is ever left where a finished result would be.
public enum OutputFolder {
    /// Where `output` is built before the final rename (hidden, next to `output`).
    public static func temporary(for output: URL) -> URL {
        let output = output.standardizedFileURL
        return output.deletingLastPathComponent().appendingPathComponent(".\(output.lastPathComponent).mixmerge-tmp-\(getpid())")
    }

    /// Refuses an output that exists and is not an empty folder, unless `overwrite`; creates
    /// missing parent folders (as `mkdir -p` would).
    public static func check(_ output: URL, overwrite: Bool) throws(OutputFolderError) {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: output.path, isDirectory: &isDirectory) else {
            let parent = output.deletingLastPathComponent()
            do { try fm.createDirectory(at: parent, withIntermediateDirectories: true) } catch {
                throw OutputFolderError("output folder \(output.path) cannot be created: \(parent.path) is not a writable folder")
            }
            return
        }
        guard isDirectory.boolValue else { throw OutputFolderError("output \(output.path) exists and is a file") }
        let contents = (try? fm.contentsOfDirectory(atPath: output.path)) ?? []
        if !contents.isEmpty && !overwrite {
            throw OutputFolderError("output folder \(output.path) exists and is not empty (use --overwrite to replace it)")
        }
    }

    /// Creates the (empty) temporary folder for `output`.
    public static func begin(_ output: URL) throws(OutputFolderError) -> URL {
        let temp = temporary(for: output)
        try? FileManager.default.removeItem(at: temp)
        do { try FileManager.default.createDirectory(at: temp, withIntermediateDirectories: false) } catch {
            throw OutputFolderError("output folder \(output.path) is not writable: cannot create files in \(output.deletingLastPathComponent().path)")
        }
        return temp
    }

    /// An error message with the temporary folder's path replaced by `output`'s: a failed write
    /// names the file at its place in the output, not under the hidden name.
    public static func naming(_ message: String, temp: URL, as output: URL) -> String {
        message.replacingOccurrences(of: temp.path, with: output.path)
    }

    /// Writes `bytes` as the file `name` of the temporary folder `temp` of `output`; a failure
    /// (full disk, file-size limit) names the file at its place in `output`, with the system's reason
    /// (Foundation's own message for these is only "NSCocoaErrorDomain error 512").
    public static func write(_ bytes: Data, _ name: String, in temp: URL, of output: URL) throws(OutputFolderError) {
        let path = temp.appendingPathComponent(name).path
        func failure(_ what: String, _ code: Int32) -> OutputFolderError {
            OutputFolderError("\(output.appendingPathComponent(name).path): \(what) (\(String(cString: strerror(code))))")
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("cannot create", errno) }
        defer { close(fd) }
        // errno is read right after the failing call (later Swift code may change it).
        let code: Int32 = bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let r = Foundation.write(fd, raw.baseAddress! + done, raw.count - done)
                if r < 0 && errno == EINTR { continue }
                if r < 0 { return errno }
                if r == 0 { return EIO }
                done += r
            }
            return 0
        }
        guard code == 0 else { throw failure("cannot write", code) }
    }

    /// Replaces `output` with the finished temporary folder.
    public static func commit(_ temp: URL, to output: URL) throws(OutputFolderError) {
        let fm = FileManager.default
        if fm.fileExists(atPath: output.path) {
            do { try fm.removeItem(at: output) } catch {
                throw OutputFolderError("cannot replace \(output.path): \(error.localizedDescription)")
            }
        }
        guard rename(temp.path, output.path) == 0 else {
            throw OutputFolderError("cannot move the finished output into \(output.path) (\(String(cString: strerror(errno))))")
        }
    }
}

public struct OutputFolderError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The process's peak resident set (Linux `VmHWM`), in bytes; nil where unknown.
public func peakResidentBytes() -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").compactMap { Int($0) }.first
        return kb.map { $0 * 1024 }
    }
    return nil
}
