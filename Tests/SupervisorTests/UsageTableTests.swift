import Foundation
import Shared
import Testing
@testable import SupervisorCore

/// How `ctl usage` prints the workers' rows.
@Suite struct UsageTableTests {
    let report = UsageReport(rows: [
        UsageRow(tenant: "team-a", group: "alice", requests: 7, errors: 1, attempts: 8, quotaSpent: 7, tokensIn: 70, tokensOut: 21),
        UsageRow(tenant: "team-b", group: "ci, nightly", requests: 2, errors: 0, attempts: 2, quotaSpent: 1.25, tokensIn: 5, tokensOut: 3),
    ], problems: [:])

    @Test func textHasAHeaderAlignedColumnsAndATotal() {
        let lines = UsageTable.text(report, by: "key").split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines[0].hasPrefix("TENANT  KEY"))
        #expect(lines[0].contains("QUOTA_SPENT"))
        #expect(lines[3].hasPrefix("TOTAL"))
        #expect(lines[3].contains("  9  ") && lines[3].contains("8.2500"))
        // Columns line up: every row's requests column starts where the header's does.
        let column = lines[0].range(of: "REQUESTS")!.lowerBound.utf16Offset(in: lines[0])
        #expect(lines[1].dropFirst(column).hasPrefix("7"))
    }

    @Test func csvQuotesWhatNeedsIt() {
        #expect(UsageTable.csv(report, by: "key") == """
            tenant,key,requests,errors,attempts,quota_spent,tokens_in,tokens_out
            team-a,alice,7,1,8,7,70,21
            team-b,"ci, nightly",2,0,2,1.2500,5,3
            """)
    }

    @Test func reportDecodesTheWorkersJSON() throws {
        let json = #"{"rows":[{"tenant":"t","group":"g","requests":1,"errors":0,"attempts":1,"quota_spent":0.5,"tokens_in":2,"tokens_out":3}],"problems":{"u":"no worker is serving"}}"#
        let decoded = try JSONDecoder().decode(UsageReport.self, from: Data(json.utf8))
        #expect(decoded.rows == [UsageRow(tenant: "t", group: "g", requests: 1, errors: 0, attempts: 1, quotaSpent: 0.5, tokensIn: 2, tokensOut: 3)])
        #expect(decoded.problems == ["u": "no worker is serving"])
    }
}
