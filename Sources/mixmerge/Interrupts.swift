import Foundation
import Tensors

#if canImport(Glibc)
import Glibc
#endif

// SIGINT/SIGTERM handlers only record the request (`Interruption.request`, one atomic store).
// A handler is needed, not an ignored signal read by a dispatch source: with SIG_IGN, a signal the
// kernel delivers to a thread that does not block it is dropped (measured: half of the interrupted
// merges of the CLI test ran to the end).

/// During a merge: the merge stops at its next work item, removes its temporary folder and fails
/// with `MergeError.interrupted` (exit status 130).
final class InterruptCleanup: Sendable {
    init() { installInterruptHandlers() }
    func cancel() { restoreDefaultSignals() }
}

/// During a mix: a timer checks the request every 20 ms, then removes the temporary output folder,
/// says so and exits 130.
final class InterruptWatcher: @unchecked Sendable {
    // Sendable: the timer is created once and only cancelled afterwards.
    private let timer: any DispatchSourceTimer

    init(removing folder: URL) {
        installInterruptHandlers()
        timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now(), repeating: .milliseconds(20))
        timer.setEventHandler {
            guard Interruption.requested else { return }
            try? FileManager.default.removeItem(at: folder)
            FileHandle.standardError.write(Data("\nerror: interrupted; the unfinished output was removed\n".utf8))
            exit(130)
        }
        timer.resume()
    }

    func cancel() {
        timer.cancel()
        restoreDefaultSignals()
    }
}

private func installInterruptHandlers() {
    for sig in [SIGINT, SIGTERM] { signal(sig) { _ in Interruption.request() } }
    ignoreFileSizeLimitSignal()
}

/// A file-size limit (`ulimit -f`) would kill the process mid-write; ignored, the write fails with
/// EFBIG and is reported like a full disk (one line, temporary folder removed).
func ignoreFileSizeLimitSignal() {
    signal(SIGXFSZ, SIG_IGN)
}

private func restoreDefaultSignals() {
    signal(SIGINT, SIG_DFL)
    signal(SIGTERM, SIG_DFL)
}
