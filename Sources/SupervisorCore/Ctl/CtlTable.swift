import Foundation

/// Plain-text tables for people.
enum Table {
    static func duration(_ seconds: Double?) -> String {
        guard let seconds else { return "-" }
        let s = Int(seconds)
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(s % 60)s" }
        return "\(s / 3600)h\((s % 3600) / 60)m"
    }

    static func tenants(_ tenants: [String: TenantHealth]) -> String {
        var rows = [["TENANT", "STATE", "PID", "UPTIME", "RESTARTS", "LISTEN", "JWTS", "STATUS", "LAST EXIT"]]
        for (name, t) in tenants.sorted(by: { $0.key < $1.key }) {
            rows.append([
                name, t.state.rawValue.uppercased(), t.pid.map(String.init) ?? "-", duration(t.uptimeS), String(t.restarts),
                t.listen, "\(t.healthyTokens)/\(t.totalTokens)", t.status.rawValue, t.lastExit?.description ?? "-",
            ])
        }
        let widths = rows[0].indices.map { i in rows.map { $0[i].count }.max() ?? 0 }
        var lines = rows.map { row in
            row.enumerated().map { i, cell in cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        for (name, t) in tenants.sorted(by: { $0.key < $1.key }) {
            if let detail = t.detail { lines.append("  \(name): \(detail)") }
            for token in t.tokens where token.state != .healthy {
                lines.append("  \(name): JWT \(token.name) (\(token.fingerprint)) is \(token.state.rawValue)")
            }
        }
        return lines.joined(separator: "\n")
    }
}
