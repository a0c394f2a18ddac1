import Foundation

/// `--generate-config`: the seed's example files.
enum SeedExamples {
    static let configJSON = """
    {
      "jetbrains_tokens": [
        {
          "token": "eyJ...your-first-jwt",
          "name": "Primary_JWT",
          "description": "Main JetBrains AI JWT",
          "priority": 1,
          "metadata": {"environment": "production", "region": "us-east-1"}
        },
        {
          "token": "eyJ...your-second-jwt",
          "name": "Backup_JWT",
          "description": "Used when no priority-1 JWT is usable",
          "priority": 2,
          "metadata": {"environment": "production"}
        }
      ],
      "bearer_token": "your_bearer_token_here",
      "load_balance_strategy": "round_robin",
      "health_check_interval": "30s",
      "server_port": 8080,
      "server_host": "0.0.0.0"
    }

    """

    static let envExample = """
    # JetBrains AI JWTs, comma-separated
    JWT_TOKENS=eyJ...jwt1,eyJ...jwt2
    # The bearer token clients must send
    BEARER_TOKEN=your_bearer_token_here
    # round_robin, random or least_busy
    LOAD_BALANCE_STRATEGY=round_robin
    SERVER_HOST=0.0.0.0
    SERVER_PORT=8080
    # CONFIG_FILE=config/config.json
    # JETBRAINS_AI_UPSTREAM=https://api.jetbrains.ai

    """

    /// Writes the examples; an existing file (maybe holding real JWTs) is left alone.
    /// Returns one line per file saying what happened.
    static func write(into directory: String) throws -> [String] {
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory + "/config", withIntermediateDirectories: true)
        var report: [String] = []
        for (path, text) in [("config/config.json", configJSON), (".env.example", envExample)] {
            let full = directory + "/" + path
            if fm.fileExists(atPath: full) {
                report.append("\(path) exists, left unchanged")
            } else {
                try text.write(toFile: full, atomically: true, encoding: .utf8)
                report.append("wrote \(path)")
            }
        }
        return report
    }
}
