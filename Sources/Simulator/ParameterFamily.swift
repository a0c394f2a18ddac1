/// Which `parameters.data` keys a profile takes: the one table of it in the simulator, after
/// the table JetBrains' JavaScript client keeps (see the protocol page). Pure.
enum ParameterFamily: String, Sendable, CaseIterable, Equatable {
    /// `openai-gpt-4o*`, `openai-gpt4.1*` (and `openai-gpt-4.1*`)
    case gpt4o = "gpt-4o"
    /// `openai-o1*`, `openai-o3*`, `openai-o4*`
    case oSeries = "o-series"
    /// `openai-gpt-5*` except Codex
    case gpt5 = "gpt-5"
    /// any profile id containing `-codex`: the responses endpoint takes no parameters at all
    case codex
    /// `anthropic-*`
    case claude
    /// `google-*`
    case gemini
    /// xAI, qwen and anything else
    case other

    static let prefix = "llm.parameters."

    /// The tool keys every chat profile takes.
    static let toolKeys: [String] = [
        "tools", "functions", "tool-choice-auto", "tool-choice-none", "tool-choice-required", "tool-choice-named",
    ]

    static func of(profile: String) -> ParameterFamily {
        let id = profile.lowercased()
        if id.contains("-codex") { return .codex }
        if id.hasPrefix("openai-gpt-4o") || id.hasPrefix("openai-gpt4.1") || id.hasPrefix("openai-gpt-4.1") { return .gpt4o }
        if id.hasPrefix("openai-o1") || id.hasPrefix("openai-o3") || id.hasPrefix("openai-o4") { return .oSeries }
        if id.hasPrefix("openai-gpt-5") { return .gpt5 }
        if id.hasPrefix("anthropic-") { return .claude }
        if id.hasPrefix("google-") { return .gemini }
        return .other
    }

    /// The family's own parameter names (without the `llm.parameters.` prefix and the tool keys).
    var parameters: [String] {
        switch self {
        case .gpt4o: return ["temperature", "top-p", "seed", "length", "response-format", "parallel-tool-calls"]
        case .oSeries: return ["length", "seed", "response-format", "reasoning-effort"]
        case .gpt5: return ["length", "response-format", "parallel-tool-calls", "reasoning-effort", "verbosity"]
        case .codex: return []
        case .claude: return ["temperature", "top-p", "stop-token", "length", "parallel-tool-calls"]
        case .gemini: return ["temperature", "top-p", "top-k", "length", "response-format", "thinking-budget"]
        case .other: return ["temperature", "top-p", "length"]
        }
    }

    /// Every fqdn the family takes, tool keys included (none for Codex).
    var acceptedFQDNs: [String] {
        let names = self == .codex ? [] : parameters + Self.toolKeys
        return names.map { Self.prefix + $0 }
    }

    func accepts(_ fqdn: String) -> Bool {
        acceptedFQDNs.contains(fqdn)
    }

    /// The first of `fqdns` the family does not take, nil when it takes them all.
    func firstRejected(_ fqdns: [String]) -> String? {
        fqdns.first { !accepts($0) }
    }
}
