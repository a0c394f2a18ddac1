import Foundation
import Shared
import SupervisorCore
import WorkerCore

/// The fuzz targets: each runs one input the way the code that reads untrusted bytes gets it.
/// `scripts/fuzz.sh TARGET SECONDS` fuzzes one with libFuzzer; `FuzzCorpusTests` replays every
/// committed corpus file (`fuzz/corpus/TARGET/`) through its target as a regression test.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// An HTTP/1 request stream into the server's pipeline (`HTTPRequestFuzz`).
    case http
    /// Request bodies of the three fronts: each input goes through the OpenAI chat, the
    /// Anthropic Messages and the Responses decoders and their translations (their keys barely
    /// overlap, so one corpus serves all three).
    case requests
    /// The upstream's chat stream (SSE) and quota answers.
    case sse
    /// Fleet YAML files.
    case fleet
    /// Control-protocol documents (worker health, supervised start, ctl answers).
    case control

    public func run(_ data: Data) {
        switch self {
        case .http: HTTPRequestFuzz.run(data)
        case .requests:
            WorkerFuzz.chatCompletion(data)
            WorkerFuzz.messages(data)
            WorkerFuzz.responses(data)
        case .sse: WorkerFuzz.upstreamStream(data)
        case .fleet: FleetFileFuzz.run(data)
        case .control:
            SupervisorFuzz.controlDocuments(data)
            WorkerFuzz.supervisedStart(data)
        }
    }
}

/// The fleet file loader on a file's bytes, as `FleetConfigLoader.load` reads them. Every
/// failure is a `ConfigError` with at least one diagnostic at a real position.
enum FleetFileFuzz {
    static func run(_ data: Data) {
        guard let text = String(data: data, encoding: .utf8) else { return }
        do {
            // A folder that does not exist: `*_file` keys find nothing to read.
            _ = try FleetConfigLoader.parse(yaml: text, path: "/nonexistent-fuzz/fleet.yaml", environment: ["FUZZ_SECRET": "fuzz-secret-value"])
        } catch let error as ConfigError {
            precondition(!error.diagnostics.isEmpty, "a ConfigError without diagnostics")
            for diagnostic in error.diagnostics {
                precondition(diagnostic.line >= 1 && diagnostic.column >= 1, "a diagnostic at \(diagnostic.line):\(diagnostic.column)")
            }
            _ = error.description
        } catch {
            preconditionFailure("the loader threw \(type(of: error)), not a ConfigError: \(error)")
        }
    }
}
