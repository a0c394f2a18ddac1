import Shared

/// A request parameter the upstream takes, by its `llm.parameters.*` key (the names a tenant's
/// `models` entries use too).
typealias UpstreamParameter = ProfileParameter

/// Which parameters each profile family takes, after JetBrains' own JavaScript client's table
/// (the protocol page): the service answers 400 to a parameter a profile does not support, so a
/// parameter goes only to a family known to take it and is dropped silently otherwise. A
/// tenant's `models` may override the set for a profile.
enum ProfileParameters {
    private static let gpt4: Set<UpstreamParameter> = [.temperature, .topP, .seed, .length, .responseFormat, .parallelToolCalls]
    private static let oSeries: Set<UpstreamParameter> = [.length, .seed, .responseFormat, .reasoningEffort]
    private static let gpt5: Set<UpstreamParameter> = [.length, .responseFormat, .parallelToolCalls, .reasoningEffort, .verbosity]
    private static let claude: Set<UpstreamParameter> = [.temperature, .topP, .stopToken, .length, .parallelToolCalls]
    private static let gemini: Set<UpstreamParameter> = [.temperature, .topP, .topK, .length, .responseFormat, .thinkingBudget]

    /// The parameters `profile` takes: the tenant's override for it when there is one, else its
    /// family's. A family nobody documented (xAI, Qwen, a new one) gets none: strict in what we send.
    static func accepted(by profile: String, overrides: [String: [String]] = [:]) -> Set<UpstreamParameter> {
        if let names = overrides[profile] { return Set(names.compactMap(UpstreamParameter.init(rawValue:))) }
        if ModelTable.isCodexProfile(profile) { return [] }
        if profile.hasPrefix("openai-gpt-4o") || profile.hasPrefix("openai-gpt4.1") || profile.hasPrefix("openai-gpt-4.1") { return gpt4 }
        if profile.hasPrefix("openai-o1") || profile.hasPrefix("openai-o3") || profile.hasPrefix("openai-o4") { return oSeries }
        if profile.hasPrefix("openai-gpt-5") { return gpt5 }
        if profile.hasPrefix("anthropic-") { return claude }
        if profile.hasPrefix("google-") { return gemini }
        return []
    }
}
