/// The profiles (models) the simulator offers: `GET /user/v5/llm/profiles/v3` lists them, and
/// a chat naming another one is refused (`reject_unknown_profiles`).
enum ProfileCatalog {
    /// Every chat profile id on the protocol page (Anthropic, OpenAI incl. Codex, Google, xAI, qwen).
    static let defaultIDs: [String] = [
        // Anthropic
        "anthropic-claude-4-5-sonnet", "anthropic-claude-4-5-haiku", "anthropic-claude-4-5-opus",
        "anthropic-claude-4-6-sonnet", "anthropic-claude-4-6-opus", "anthropic-claude-4-7-opus",
        "anthropic-claude-4-sonnet", "anthropic-claude-4-opus", "anthropic-claude-4.1-opus",
        "anthropic-claude-3.7-sonnet", "anthropic-claude-3.5-sonnet", "anthropic-claude-3.5-haiku",
        // OpenAI
        "openai-gpt-5", "openai-gpt-5-mini", "openai-gpt-5-nano", "openai-gpt-5-1", "openai-gpt-5-2",
        "openai-gpt-5-4", "openai-gpt-5-4-mini", "openai-gpt-5-4-nano", "openai-gpt-5-5", "openai-gpt-4o",
        "openai-gpt-4o-mini", "openai-gpt4.1", "openai-gpt4.1-mini", "openai-gpt4.1-nano", "openai-o1",
        "openai-o3", "openai-o3-mini", "openai-o4-mini",
        // OpenAI Codex (responses endpoint only)
        "openai-gpt-5-codex", "openai-gpt-5-1-codex", "openai-gpt-5-1-codex-mini", "openai-gpt-5-1-codex-max",
        "openai-gpt-5-2-codex", "openai-gpt-5-3-codex",
        // Google
        "google-gemini-3-0-pro", "google-gemini-3-0-flash", "google-gemini-3-1-pro",
        "google-chat-gemini-pro-2.5", "google-chat-gemini-flash-2.5", "google-chat-gemini-flash-lite-2.5",
        "google-chat-gemini-flash-2.0", "google-chat-gemini-flash-lite-2.0",
        // xAI and others
        "xai-grok-4", "xai-grok-4-fast", "xai-grok-4-1-fast", "xai-grok-code-fast-1", "qwen-max",
    ]

    /// Codex profiles are served by the responses endpoint only.
    static func isCodex(_ profile: String) -> Bool {
        profile.lowercased().contains("-codex")
    }

    /// One entry of the profiles answer: `{"id", "provider", "features", …}`.
    static func entry(_ id: String) -> SimJSON {
        let family = ParameterFamily.of(profile: id)
        let provider = id.split(separator: "-").first.map(String.init) ?? id
        var features: [SimJSON] = ["streaming"]
        if family != .codex { features.append("tools") }
        if provider == "anthropic" || provider == "google" || provider == "openai" { features.append("vision") }
        return [
            "id": .string(id),
            "provider": .string(provider),
            "features": .array(features),
            "endpoint": .string(family == .codex ? "responses" : "chat"),
            "parameters": .array(family.acceptedFQDNs.map(SimJSON.string)),
        ]
    }

    /// The `400` text for a profile the endpoint does not serve: `Unsupported model [a, b, c]`.
    static func unsupportedModel(_ served: [String]) -> String {
        "Unsupported model [\(served.joined(separator: ", "))]"
    }
}
