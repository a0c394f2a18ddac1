import Foundation

/// `${NAME}` and `${NAME:-fallback}` substitution in fleet-file scalars.
///
/// `${NAME}` is replaced with the variable's value; an unset variable is an error.
/// `${NAME:-fallback}` uses `fallback` when the variable is unset or empty (as in the shell).
/// A `$` not followed by `{` is kept as is. Messages name variables, never their values.
enum ConfigVariableSubstitution {
    struct Outcome: Equatable {
        var value: String
        /// Whether at least one `${...}` was present (the value may then hold a secret).
        var usedVariables: Bool
        var errors: [String]
    }

    static func apply(to text: String, environment: [String: String]) -> Outcome {
        guard text.contains("${") else { return Outcome(value: text, usedVariables: false, errors: []) }
        var output = ""
        var errors: [String] = []
        var rest = Substring(text)
        while let open = rest.range(of: "${") {
            output += rest[..<open.lowerBound]
            let afterOpen = rest[open.upperBound...]
            guard let close = afterOpen.firstIndex(of: "}") else {
                errors.append("unterminated '${' (write ${NAME} or ${NAME:-default})")
                rest = rest[rest.endIndex...]
                break
            }
            let inner = afterOpen[..<close]
            let name: Substring
            let fallback: Substring?
            if let separator = inner.range(of: ":-") {
                name = inner[..<separator.lowerBound]
                fallback = inner[separator.upperBound...]
            } else {
                name = inner
                fallback = nil
            }
            if !isValidName(name) {
                errors.append("invalid variable reference '${\(inner)}' (write ${NAME} or ${NAME:-default})")
            } else if let value = environment[String(name)], !(value.isEmpty && fallback != nil) {
                output += value
            } else if let fallback {
                output += fallback
            } else {
                errors.append("environment variable '\(name)' is not set (write ${\(name):-default} for a fallback)")
            }
            rest = afterOpen[afterOpen.index(after: close)...]
        }
        output += rest
        return Outcome(value: output, usedVariables: true, errors: errors)
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`
    static func isValidName(_ name: Substring) -> Bool {
        guard let first = name.utf8.first else { return false }
        func isLetter(_ c: UInt8) -> Bool { (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F }
        return isLetter(first) && name.utf8.allSatisfy { isLetter($0) || ($0 >= 0x30 && $0 <= 0x39) }
    }
}
