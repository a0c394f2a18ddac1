import ArgumentParser

/// `jbai-loadgen`: the benchmark load generator. Every subcommand prints one JSON line with its
/// results on stdout (and a human summary on stderr).
@main
struct LoadGenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jbai-loadgen",
        abstract: "HTTP load generator for the jetbrains-ai-proxy benchmarks (raw SwiftNIO, HdrHistogram).",
        subcommands: [ClosedCommand.self, StreamCommand.self, SteadyCommand.self, HoldCommand.self, TapCommand.self]
    )
}
