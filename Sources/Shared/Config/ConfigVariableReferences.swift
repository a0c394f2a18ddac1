/// The `${NAME}` / `${NAME:-fallback}` references in a fleet-file text, without substituting
/// them (for `render`, which keeps them for the target's environment).
public enum ConfigVariableReferences {
    public struct Reference: Sendable, Equatable {
        public var name: String
        public var hasFallback: Bool
    }

    /// Every well-formed reference in `text`, in order (malformed ones are the loader's to report).
    public static func scan(_ text: String) -> [Reference] {
        var found: [Reference] = []
        var rest = Substring(text)
        while let open = rest.range(of: "${") {
            let afterOpen = rest[open.upperBound...]
            guard let close = afterOpen.firstIndex(of: "}") else { break }
            let inner = afterOpen[..<close]
            let separator = inner.range(of: ":-")
            let name = separator.map { inner[..<$0.lowerBound] } ?? inner
            if ConfigVariableSubstitution.isValidName(name) {
                found.append(Reference(name: String(name), hasFallback: separator != nil))
            }
            rest = afterOpen[afterOpen.index(after: close)...]
        }
        return found
    }
}
