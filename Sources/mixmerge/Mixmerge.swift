import ArgumentParser
import CPUFeatures
import Foundation

@main
struct Mixmerge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mixmerge",
        abstract: "Mix training data or merge models, and measure which wins.",
        version: "0.1.0",
        subcommands: [
            MergeCommand.self, MixCommand.self, GenerateCommand.self, JudgeCommand.self, ReportCommand.self, InspectCommand.self,
            TokenizeCommand.self, TemplateCommand.self, ServeCommand.self, ChatCommand.self, CompleteCommand.self,
            ScoreCommand.self, TrainCommand.self, StudyCommand.self,
        ])
}

/// Prints a user-caused failure as one line on stderr and exits non-zero.
func fail(_ error: any Error) -> ExitCode {
    var message = "\(error)"
    if let e = error as? LocalizedError, let d = e.errorDescription { message = d }
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    return ExitCode(1)
}
