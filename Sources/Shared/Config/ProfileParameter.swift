/// The request parameters a JetBrains AI profile may take, by the suffix of their fqdn
/// (`llm.parameters.<name>`). A tenant's `models` may say which of them a profile takes
/// (`TenantConfig.profileParameters`), overriding the worker's built-in family table. The tool
/// keys (`tools`, `tool-choice-*`) go to every chat profile and are not listed here.
public enum ProfileParameter: String, Sendable, CaseIterable, Codable {
    case temperature
    case topP = "top-p"
    case topK = "top-k"
    case length
    case stopToken = "stop-token"
    case seed
    case responseFormat = "response-format"
    case reasoningEffort = "reasoning-effort"
    case thinkingBudget = "thinking-budget"
    case verbosity
    case parallelToolCalls = "parallel-tool-calls"

    /// The key sent upstream, e.g. `llm.parameters.top-p`.
    public var fqdn: String { "llm.parameters." + rawValue }

    /// Every valid name, in the order above (for messages).
    public static var names: [String] { allCases.map(\.rawValue) }
}
