import Foundation
import Shared
import Testing
@testable import WorkerCore

@Suite struct ModelCatalogTests {
    @Test func withoutAnUpstreamListTheBuiltInTableServes() {
        let catalog = ModelCatalog(overrides: ["my-claude": "anthropic-claude-4-5-sonnet"])
        #expect(catalog.resolve("gpt-4o") == .profile("openai-gpt-4o"))
        #expect(catalog.resolve("my-claude") == .profile("anthropic-claude-4-5-sonnet"))
        #expect(catalog.resolve("anthropic-claude-4-6-opus") == .profile("anthropic-claude-4-6-opus"))
        #expect(catalog.resolve("claude-sonnet-4-5-20250929") == .profile("anthropic-claude-4-5-sonnet"))
        let ids = catalog.entries().map(\.id)
        #expect(ids.contains("gpt-4o") && ids.contains("my-claude") && ids.contains("openai-gpt-5"))
        #expect(ids == ids.sorted())
    }

    @Test func theUpstreamListDecidesWhatIsListed() {
        let catalog = ModelCatalog(
            overrides: ["team-model": "vendor-new-model", "dead": "openai-gpt-4o"],
            listed: ["anthropic-claude-4-5-sonnet", "vendor-new-model", "openai-embedding-3-small"]
        )
        let entries = Dictionary(uniqueKeysWithValues: catalog.entries().map { ($0.id, $0.profile) })
        #expect(entries["anthropic-claude-4-5-sonnet"] == "anthropic-claude-4-5-sonnet")
        #expect(entries["claude-sonnet-4-5"] == "anthropic-claude-4-5-sonnet", "built-in alias of a listed profile")
        #expect(entries["team-model"] == "vendor-new-model", "configured alias of a listed profile")
        #expect(entries["vendor-new-model"] == "vendor-new-model", "a profile the built-in table never heard of")
        #expect(entries["gpt-4o"] == nil && entries["dead"] == nil, "aliases of unlisted profiles are not listed")
        #expect(entries["openai-embedding-3-small"] == nil, "not a chat model")
        #expect(catalog.resolve("vendor-new-model") == .profile("vendor-new-model"))
    }

    @Test func unknownModelsGetCloseMatches() {
        let catalog = ModelCatalog(overrides: [:], listed: ["anthropic-claude-4-5-sonnet", "openai-gpt-5"])
        guard case .unknown(let suggestions) = catalog.resolve("claude-sonet-4-5") else {
            Issue.record("expected unknown")
            return
        }
        #expect(suggestions.first == "claude-sonnet-4-5")
        #expect(suggestions.count <= 3)
        #expect(catalog.resolve("qqqqqqqqqqqqqqqqqqqqqqqq") == .unknown(suggestions: []))
    }

    @Test func profilesAnswersAreReadTolerantly() {
        func parse(_ s: String) -> [String]? { ProfileCatalog.parseProfiles(Data(s.utf8)) }
        #expect(parse(#"{"profiles":[{"id":"a","provider":"x","features":{"tools":true}},{"id":"b"}]}"#) == ["a", "b"])
        #expect(parse(#"{"profiles":["a","b"],"other":1}"#) == ["a", "b"])
        #expect(parse(#"[{"profile":"a"},{"id":"b"}]"#) == ["a", "b"])
        #expect(parse(#"{"profiles":[]}"#) == nil)
        #expect(parse("<html>") == nil)
        #expect(parse(#"{"something":"else"}"#) == nil)
    }
}
