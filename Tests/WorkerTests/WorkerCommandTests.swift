import Foundation
import Shared
import Testing
@testable import WorkerCore

@Suite struct WorkerCommandTests {
    @Test(arguments: [
        (["-config", "x.json"], ["--config", "x.json"]),
        (["--config", "x.json"], ["--config", "x.json"]),
        (["-config=x.json"], ["--config", "x.json"]),
        (["--c", "jwt1,jwt2"], ["-c", "jwt1,jwt2"]),
        (["-c", "jwt1,jwt2"], ["-c", "jwt1,jwt2"]),
        (["-p=8080"], ["-p", "8080"]),
        (["--p=8080"], ["-p", "8080"]),
        (["-h=127.0.0.1", "--k", "key"], ["-h", "127.0.0.1", "-k", "key"]),
        (["-k=a=b"], ["-k", "a=b"]),
        (["-s", "random"], ["-s", "random"]),
        (["-generate-config"], ["--generate-config"]),
        (["-print-config"], ["--print-config"]),
        (["-tenant", "team-a", "-control-socket=run/a.sock"], ["--tenant", "team-a", "--control-socket", "run/a.sock"]),
        (["-api-version=v7", "-upstream", "http://sim"], ["--api-version", "v7", "--upstream", "http://sim"]),
        (["-help"], ["--help"]),
        (["-version"], ["--version"]),
    ])
    func goStyleFlagsAreNormalized(input: [String], expected: [String]) {
        #expect(WorkerCommand.normalize(input) == expected)
    }

    @Test func otherArgumentsAreUntouched() {
        #expect(WorkerCommand.normalize(["-", "--", "plain", "-unknown", "--weird=1", "-x"])
            == ["-", "--", "plain", "-unknown", "--weird=1", "-x"])
        #expect(WorkerCommand.normalize([]) == [])
    }

    @Test func normalizedSeedCommandLineParses() throws {
        let command = try WorkerCommand.parse(WorkerCommand.normalize([
            "-c", "jwt1,jwt2", "-k=client-key", "--p", "9000", "-h", "127.0.0.1", "-s=random", "-config", "cfg.json",
        ]))
        #expect(command.jwts == "jwt1,jwt2")
        #expect(command.bearerToken == "client-key")
        #expect(command.port == 9000)
        #expect(command.host == "127.0.0.1")
        #expect(command.strategy == "random")
        #expect(command.config == "cfg.json")
        guard case .seed(let options) = try command.source else {
            Issue.record("expected seed-style settings")
            return
        }
        #expect(options == SeedOptions(
            jwts: "jwt1,jwt2", bearerToken: "client-key", strategy: "random", port: 9000, host: "127.0.0.1",
            configPath: "cfg.json"))
    }

    @Test func fleetCommandLineParses() throws {
        let command = try WorkerCommand.parse(WorkerCommand.normalize(["-config=fleet.yaml", "-tenant", "team-a"]))
        guard case .fleet(let path, let tenant) = try command.source else {
            Issue.record("expected fleet settings")
            return
        }
        #expect(path == "fleet.yaml")
        #expect(tenant == "team-a")
    }

    @Test func tenantWithoutConfigIsRejected() {
        #expect(throws: (any Error).self) { _ = try WorkerCommand.parse(["--tenant", "a"]) }
        #expect(throws: (any Error).self) { _ = try WorkerCommand.parse(["--config", "fleet.yaml"]) }
        #expect(throws: (any Error).self) { _ = try WorkerCommand.parse(["--config", "f.yaml", "--tenant", "a", "-c", "jwt"]) }
    }
}
