/// One problem found in the fleet file, with its position.
public struct ConfigDiagnostic: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    /// The file as the path was given to the loader.
    public var file: String
    /// 1-based.
    public var line: Int
    /// 1-based, counted in characters.
    public var column: Int
    /// Dotted path of the offending key, e.g. `tenants.team-a.tokens[0].jwt`; empty for the
    /// document itself (YAML syntax errors, an unreadable file).
    public var keyPath: String
    public var message: String

    public init(file: String, line: Int, column: Int, keyPath: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.keyPath = keyPath
        self.message = message
    }

    /// `FILE:LINE:COL: KEYPATH: MESSAGE` (`FILE:LINE:COL: MESSAGE` when the key path is empty).
    public var description: String {
        // Keys and values come from the file: control characters in them are shown escaped.
        let file = escapingControlCharacters(file)
        let message = escapingControlCharacters(message)
        return keyPath.isEmpty
            ? "\(file):\(line):\(column): \(message)"
            : "\(file):\(line):\(column): \(escapingControlCharacters(keyPath)): \(message)"
    }
}

/// Everything wrong with a fleet file; thrown by `FleetConfigLoader`.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Sorted by position; never empty when thrown by the loader.
    public var diagnostics: [ConfigDiagnostic]

    public init(diagnostics: [ConfigDiagnostic]) {
        self.diagnostics = diagnostics
    }

    /// One diagnostic per line.
    public var description: String {
        diagnostics.map(\.description).joined(separator: "\n")
    }
}
