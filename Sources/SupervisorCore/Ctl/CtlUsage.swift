import ArgumentParser
import Foundation
import Shared

/// `GET /usage` of the supervisor's control socket: every serving worker's ledger, grouped.
struct UsageReport: Codable, Sendable, Equatable {
    typealias Row = UsageRow

    struct Problem: Error {
        var message: String
    }

    var rows: [Row]
    /// Tenant → why its rows are missing (no serving worker, the ledger cannot be read).
    var problems: [String: String]
}

enum UsageGroupingOption: String, ExpressibleByArgument, CaseIterable {
    case key, model, token, day
}

extension Ctl {
    struct Usage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Requests, quota and estimated tokens from the workers' usage ledgers, grouped.",
            discussion: "Read through each worker's control socket (the supervisor never opens a ledger). --json and --csv print the rows for scripts."
        )
        @OptionGroup var options: CtlOptions
        @Argument(help: "Only this tenant.") var tenant: String?
        @Option(name: .long, help: "Group by key, model, token (JWT name) or day (UTC).") var by: UsageGroupingOption = .key
        @Option(name: .long, help: "How far back: a duration (30m, 24h, 7d) or 'all'.") var since = "24h"
        @Flag(name: .long, help: "Print CSV.") var csv = false

        func run() async throws {
            let start: Double
            if since == "all" {
                start = 0
            } else if let duration = parseDurationOrDays(since), duration > .zero {
                start = Date().timeIntervalSince1970 - Double(duration.components.seconds)
            } else {
                FileHandle.standardError.write(Data("invalid --since '\(escapingControlCharacters(since))' (expected e.g. 30m, 24h, 7d or all)\n".utf8))
                throw ExitCode(CtlExit.failed)
            }
            var path = "/usage?by=\(by.rawValue)&since=\(Int(start))"
            if let tenant { path += "&tenant=" + (tenant.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? tenant) }
            let (code, data) = try await control(options, .GET, path)
            try failIfError(code, data)
            let report = try JSONDecoder().decode(UsageReport.self, from: data)
            if options.json {
                printJSON(data)
            } else if csv {
                print(UsageTable.csv(report, by: by.rawValue))
            } else {
                print(UsageTable.text(report, by: by.rawValue))
            }
            for (tenant, problem) in report.problems.sorted(by: { $0.key < $1.key }) {
                FileHandle.standardError.write(Data("\(tenant): no usage (\(escapingControlCharacters(problem)))\n".utf8))
            }
        }
    }
}

enum UsageTable {
    static func cells(_ row: UsageReport.Row) -> [String] {
        [row.tenant, row.group, String(row.requests), String(row.errors), String(row.attempts), amount(row.quotaSpent),
         String(row.tokensIn), String(row.tokensOut)]
    }

    static func header(_ by: String) -> [String] {
        ["tenant", by, "requests", "errors", "attempts", "quota_spent", "tokens_in", "tokens_out"]
    }

    static func amount(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(format: "%.4f", value)
    }

    static func text(_ report: UsageReport, by: String) -> String {
        var rows = [header(by).map { $0.uppercased() }] + report.rows.map(cells)
        let total = report.rows.reduce(into: UsageReport.Row(tenant: "TOTAL", group: "", requests: 0, errors: 0, attempts: 0, quotaSpent: 0, tokensIn: 0, tokensOut: 0)) {
            $0.requests += $1.requests; $0.errors += $1.errors; $0.attempts += $1.attempts
            $0.quotaSpent += $1.quotaSpent; $0.tokensIn += $1.tokensIn; $0.tokensOut += $1.tokensOut
        }
        if report.rows.count > 1 { rows.append(cells(total)) }
        let widths = rows[0].indices.map { i in rows.map { $0[i].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { i, cell in cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }

    static func csv(_ report: UsageReport, by: String) -> String {
        func field(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        return ([header(by)] + report.rows.map(cells)).map { $0.map(field).joined(separator: ",") }.joined(separator: "\n")
    }
}
