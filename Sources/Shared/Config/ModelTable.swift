/// OpenAI-facing model ids and the upstream JetBrains AI `profile` each maps to.
///
/// The authority on which profiles exist is the upstream's profiles endpoint (each worker asks
/// it); this table is the fallback when that answer is not there, and the source of aliases:
/// the provider names clients send (`claude-sonnet-4-5-20250929`, `gpt-5`, `o3`) and the seed
/// proxy's short ids (`gpt4.1`, `claude-4-sonnet`). A tenant's `models` extend or override it.
public enum ModelTable {
    /// Chat profiles seen in public clients in 2026 (not all still live; the endpoint decides).
    public static let knownProfiles: [String] = [
        // Anthropic
        "anthropic-claude-4-7-opus", "anthropic-claude-4-6-opus", "anthropic-claude-4-6-sonnet",
        "anthropic-claude-4-5-opus", "anthropic-claude-4-5-sonnet", "anthropic-claude-4-5-haiku",
        "anthropic-claude-4.1-opus", "anthropic-claude-4-opus", "anthropic-claude-4-sonnet",
        "anthropic-claude-3.7-sonnet", "anthropic-claude-3.5-sonnet", "anthropic-claude-3.5-haiku",
        // OpenAI
        "openai-gpt-5-5", "openai-gpt-5-4", "openai-gpt-5-4-mini", "openai-gpt-5-4-nano",
        "openai-gpt-5-2", "openai-gpt-5-1", "openai-gpt-5", "openai-gpt-5-mini", "openai-gpt-5-nano",
        "openai-gpt-4o", "openai-gpt-4o-mini", "openai-gpt4.1", "openai-gpt4.1-mini", "openai-gpt4.1-nano",
        "openai-o1", "openai-o3", "openai-o3-mini", "openai-o4-mini",
        // OpenAI Codex (the responses endpoint only)
        "openai-gpt-5-codex", "openai-gpt-5-1-codex", "openai-gpt-5-1-codex-mini", "openai-gpt-5-1-codex-max",
        "openai-gpt-5-2-codex", "openai-gpt-5-3-codex",
        // Google
        "google-gemini-3-1-pro", "google-gemini-3-0-pro", "google-gemini-3-0-flash",
        "google-chat-gemini-pro-2.5", "google-chat-gemini-flash-2.5", "google-chat-gemini-flash-lite-2.5",
        "google-chat-gemini-flash-2.0", "google-chat-gemini-flash-lite-2.0",
        // xAI and others
        "xai-grok-4", "xai-grok-4-fast", "xai-grok-4-1-fast", "xai-grok-code-fast-1", "qwen-max",
    ]

    /// Friendly ids → profiles. A trailing `-YYYYMMDD` date (Claude Code's ids) is also
    /// stripped before looking an id up, so `claude-sonnet-4-5-20250929` needs no entry of its own.
    public static let builtin: [String: String] = {
        var table: [String: String] = [:]
        func alias(_ profile: String, _ ids: String...) { for id in ids { table[id] = profile } }
        // Anthropic: the provider's names (both orders) and the seed's short ids.
        alias("anthropic-claude-4-7-opus", "claude-opus-4-7", "claude-4-7-opus", "claude-opus-4.7")
        alias("anthropic-claude-4-6-opus", "claude-opus-4-6", "claude-4-6-opus", "claude-opus-4.6")
        alias("anthropic-claude-4-6-sonnet", "claude-sonnet-4-6", "claude-4-6-sonnet", "claude-sonnet-4.6")
        alias("anthropic-claude-4-5-opus", "claude-opus-4-5", "claude-4-5-opus", "claude-opus-4.5")
        alias("anthropic-claude-4-5-sonnet", "claude-sonnet-4-5", "claude-4-5-sonnet", "claude-sonnet-4.5")
        alias("anthropic-claude-4-5-haiku", "claude-haiku-4-5", "claude-4-5-haiku", "claude-haiku-4.5")
        alias("anthropic-claude-4.1-opus", "claude-opus-4-1", "claude-4.1-opus", "claude-opus-4.1")
        alias("anthropic-claude-4-opus", "claude-opus-4", "claude-4-opus", "claude-opus-4-0")
        alias("anthropic-claude-4-sonnet", "claude-sonnet-4", "claude-4-sonnet", "claude-sonnet-4-0")
        alias("anthropic-claude-3.7-sonnet", "claude-3-7-sonnet", "claude-3.7-sonnet", "claude-3-7-sonnet-latest")
        alias("anthropic-claude-3.5-sonnet", "claude-3-5-sonnet", "claude-3.5-sonnet", "claude-3-5-sonnet-latest")
        alias("anthropic-claude-3.5-haiku", "claude-3-5-haiku", "claude-3.5-haiku", "claude-3-5-haiku-latest")
        // OpenAI
        alias("openai-gpt-5-5", "gpt-5.5")
        alias("openai-gpt-5-4", "gpt-5.4")
        alias("openai-gpt-5-4-mini", "gpt-5.4-mini")
        alias("openai-gpt-5-4-nano", "gpt-5.4-nano")
        alias("openai-gpt-5-2", "gpt-5.2")
        alias("openai-gpt-5-1", "gpt-5.1")
        alias("openai-gpt-5", "gpt-5")
        alias("openai-gpt-5-mini", "gpt-5-mini")
        alias("openai-gpt-5-nano", "gpt-5-nano")
        alias("openai-gpt-4o", "gpt-4o")
        alias("openai-gpt-4o-mini", "gpt-4o-mini")
        alias("openai-gpt4.1", "gpt-4.1", "gpt4.1")
        alias("openai-gpt4.1-mini", "gpt-4.1-mini", "gpt4.1-mini")
        alias("openai-gpt4.1-nano", "gpt-4.1-nano", "gpt4.1-nano")
        alias("openai-o1", "o1")
        alias("openai-o3", "o3")
        alias("openai-o3-mini", "o3-mini")
        alias("openai-o4-mini", "o4-mini")
        alias("openai-gpt-5-codex", "gpt-5-codex")
        alias("openai-gpt-5-1-codex", "gpt-5.1-codex")
        alias("openai-gpt-5-1-codex-mini", "gpt-5.1-codex-mini")
        alias("openai-gpt-5-1-codex-max", "gpt-5.1-codex-max")
        alias("openai-gpt-5-2-codex", "gpt-5.2-codex")
        alias("openai-gpt-5-3-codex", "gpt-5.3-codex")
        // Google
        alias("google-gemini-3-1-pro", "gemini-3.1-pro", "gemini-3.1-pro-preview")
        alias("google-gemini-3-0-pro", "gemini-3-pro", "gemini-3.0-pro", "gemini-3-pro-preview")
        alias("google-gemini-3-0-flash", "gemini-3-flash", "gemini-3.0-flash", "gemini-3-flash-preview")
        alias("google-chat-gemini-pro-2.5", "gemini-2.5-pro", "gemini-pro-2.5")
        alias("google-chat-gemini-flash-2.5", "gemini-2.5-flash", "gemini-flash-2.5")
        alias("google-chat-gemini-flash-lite-2.5", "gemini-2.5-flash-lite", "gemini-flash-lite-2.5")
        alias("google-chat-gemini-flash-2.0", "gemini-2.0-flash", "gemini-flash-2.0")
        alias("google-chat-gemini-flash-lite-2.0", "gemini-2.0-flash-lite", "gemini-flash-lite-2.0")
        // xAI
        alias("xai-grok-4", "grok-4")
        alias("xai-grok-4-fast", "grok-4-fast")
        alias("xai-grok-4-1-fast", "grok-4.1-fast", "grok-4-1-fast")
        alias("xai-grok-code-fast-1", "grok-code-fast-1")
        return table
    }()

    /// The built-in table with `overrides` (a tenant's `models`) merged over it.
    public static func merged(with overrides: [String: String]) -> [String: String] {
        builtin.merging(overrides) { _, override in override }
    }

    /// The upstream profile for `model` in `table` (see `merged`): an alias (also with a
    /// trailing `-YYYYMMDD` date removed), or `model` itself when it is one of `profiles`
    /// or one of the table's targets; nil if unknown.
    public static func profile(
        for model: String, in table: [String: String], profiles: Set<String>
    ) -> String? {
        if let profile = table[model] { return profile }
        if profiles.contains(model) || table.values.contains(model) { return model }
        if let undated = withoutDateSuffix(model), let profile = table[undated] { return profile }
        return nil
    }

    /// The upstream profile for `model` with the built-in table and known profiles.
    public static func profile(for model: String, overrides: [String: String] = [:]) -> String? {
        profile(for: model, in: merged(with: overrides), profiles: Set(knownProfiles))
    }

    /// `claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`; nil when there is no date suffix.
    static func withoutDateSuffix(_ model: String) -> String? {
        guard let dash = model.lastIndex(of: "-") else { return nil }
        let tail = model[model.index(after: dash)...]
        guard tail.count == 8, tail.allSatisfy(\.isASCII), tail.allSatisfy(\.isNumber), tail.hasPrefix("20") else { return nil }
        return String(model[..<dash])
    }

    /// Whether a profile id names a chat model (embedding and instruct profiles do not).
    public static func isChatProfile(_ id: String) -> Bool {
        !id.contains("embedding") && !id.contains("instruct")
    }

    /// Whether a profile answers only on the responses endpoint (Codex).
    public static func isCodexProfile(_ id: String) -> Bool { id.contains("-codex") }

    /// Up to `limit` ids from `candidates` closest to `model` (edit distance, then shared
    /// prefix), for "did you mean" hints.
    public static func closeMatches(to model: String, among candidates: some Sequence<String>, limit: Int = 3) -> [String] {
        let target = Array(model.lowercased().utf8)
        let scored = Set(candidates).map { candidate -> (String, Int) in
            (candidate, editDistance(target, Array(candidate.lowercased().utf8)))
        }
        let threshold = max(3, target.count / 2)
        return scored
            .filter { $0.1 <= threshold }
            .sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }
            .prefix(limit)
            .map(\.0)
    }

    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
