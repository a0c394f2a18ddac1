/// OpenAI-facing model ids and the upstream JetBrains AI `profile` each maps to.
public enum ModelTable {
    /// The seed proxy's table; a tenant's `models` extend or override it.
    public static let builtin: [String: String] = [
        "gpt-4o": "openai-gpt-4o",
        "o1": "openai-o1",
        "o3": "openai-o3",
        "o3-mini": "openai-o3-mini",
        "o4-mini": "openai-o4-mini",
        "gpt4.1": "openai-gpt4.1",
        "gpt4.1-mini": "openai-gpt4.1-mini",
        "gpt4.1-nano": "openai-gpt4.1-nano",
        "gemini-pro-2.5": "google-chat-gemini-pro-2.5",
        "gemini-flash-2.0": "google-chat-gemini-flash-2.0",
        "gemini-flash-2.5": "google-chat-gemini-flash-2.5",
        "claude-3.5-haiku": "anthropic-claude-3.5-haiku",
        "claude-3.5-sonnet": "anthropic-claude-3.5-sonnet",
        "claude-3.7-sonnet": "anthropic-claude-3.7-sonnet",
        "claude-4-sonnet": "anthropic-claude-4-sonnet",
    ]

    /// The built-in table with `overrides` (a tenant's `models`) merged over it.
    public static func merged(with overrides: [String: String]) -> [String: String] {
        builtin.merging(overrides) { _, override in override }
    }

    /// The upstream profile for `model`: looked up in the merged table, or `model` itself when
    /// it is already one of the table's profile ids (e.g. `openai-gpt-4o`); nil if unknown.
    public static func profile(for model: String, overrides: [String: String] = [:]) -> String? {
        let table = merged(with: overrides)
        if let profile = table[model] { return profile }
        return table.values.contains(model) ? model : nil
    }
}
