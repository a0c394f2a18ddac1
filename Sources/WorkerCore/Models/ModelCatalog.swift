import Foundation
import Logging
import ServiceLifecycle
import Shared
import Synchronization

/// What the worker knows of models at one moment: aliases (the built-in table merged with the
/// tenant's `models`) and the profiles the upstream lists for this tenant's JWTs (nil until the
/// profiles endpoint has answered). A pure value: resolution and listing are functions of it.
struct ModelCatalog: Sendable, Equatable {
    var aliases: [String: String]
    var listed: [String]?

    init(overrides: [String: String], listed: [String]? = nil) {
        self.init(aliases: ModelTable.merged(with: overrides), listed: listed)
    }

    init(aliases: [String: String], listed: [String]?, listedSet: Set<String>? = nil) {
        self.aliases = aliases
        self.listed = listed
        self.listedSet = listedSet ?? listed.map(Set.init)
    }

    enum Resolution: Sendable, Equatable {
        case profile(String)
        case unknown(suggestions: [String])
    }

    /// The profiles a model id may name directly: the upstream's list, or the built-in one.
    var profiles: Set<String> { listedSet ?? Self.knownProfiles }
    private var listedSet: Set<String>?
    private static let knownProfiles = Set(ModelTable.knownProfiles)

    /// A known alias (built-in or configured, with or without a date suffix) or a listed
    /// profile id; anything else is unknown, with the closest ids as suggestions.
    func resolve(_ model: String) -> Resolution {
        if let profile = ModelTable.profile(for: model, in: aliases, profiles: profiles) { return .profile(profile) }
        return .unknown(suggestions: ModelTable.closeMatches(to: model, among: entries().map(\.id)))
    }

    /// What `GET /v1/models` lists: every listed chat profile, plus every alias whose target is
    /// among them. Without an upstream list: the built-in profiles and every alias.
    func entries() -> [(id: String, profile: String)] {
        let available = profiles.filter(ModelTable.isChatProfile)
        var out: [String: String] = [:]
        for profile in available { out[profile] = profile }
        for (alias, profile) in aliases where available.contains(profile) || (listed == nil && ModelTable.isChatProfile(profile)) {
            out[alias] = profile
        }
        return out.keys.sorted().map { ($0, out[$0]!) }
    }
}

/// The profile list from the upstream, shared by every request; refreshed by `ProfileRefresher`.
final class ProfileCatalog: Sendable {
    /// The list and its set, made once per update rather than once per request.
    private let state = Mutex<(list: [String], set: Set<String>)?>(nil)

    var listed: [String]? { state.withLock { $0?.list } }
    var current: (list: [String], set: Set<String>)? { state.withLock { $0 } }

    func update(_ profiles: [String]) { state.withLock { $0 = (profiles, Set(profiles)) } }

    /// Reads `{"profiles": [{"id": …}, …]}` tolerantly: entries may be objects with `id` (or
    /// `profile`) or bare strings, and a bare top-level array is accepted too. Nil when no id
    /// could be read at all.
    static func parseProfiles(_ data: Data) -> [String]? {
        guard let json = JSONValue(parsing: String(decoding: data, as: UTF8.self)) else { return nil }
        let list: [JSONValue]
        if case .array(let items) = json {
            list = items
        } else if case .array(let items)? = json["profiles"] {
            list = items
        } else {
            return nil
        }
        let ids = list.compactMap { item -> String? in
            if let s = item.stringValue { return s }
            return item["id"]?.stringValue ?? item["profile"]?.stringValue
        }.filter { !$0.isEmpty }
        return ids.isEmpty ? nil : ids
    }
}

/// Asks the profiles endpoint at start and every `interval` (an hour) with a usable JWT; until
/// the first answer it retries every `retryInterval`. A failure keeps the last list.
struct ProfileRefresher: Service {
    var pool: TokenPool
    var catalog: ProfileCatalog
    var upstream: @Sendable () -> UpstreamClient
    var logger: Logger
    var interval: Duration = .seconds(3600)
    var retryInterval: Duration = .seconds(30)

    /// A service of the worker's group: runs until the group shuts down gracefully.
    func run() async {
        await cancelWhenGracefulShutdown {
            await self.loop()
        }
    }

    func loop() async {
        while !Task.isCancelled {
            let ok = await refresh()
            try? await Task.sleep(for: ok || catalog.listed != nil ? interval : retryInterval)
        }
    }

    /// One round: up to three usable JWTs are asked in turn; true when one answered with a list.
    @discardableResult
    func refresh() async -> Bool {
        let now = Date()
        let candidates = pool.snapshot().filter { $0.jwt != nil && $0.status.health.isUsable(at: now) }.prefix(3)
        for record in candidates {
            guard let jwt = record.jwt else { continue }
            do {
                switch try await upstream().profiles(jwt: jwt) {
                case .profiles(let ids):
                    let before = catalog.listed
                    catalog.update(ids)
                    if before != ids {
                        logger.info("model list refreshed from the upstream", metadata: ["profiles": "\(ids.count)", "token": "\(record.config.name)"])
                    }
                    return true
                case .status(let code):
                    logger.warning("profiles endpoint answered \(code)", metadata: ["token": "\(record.config.name)"])
                case .unreadable:
                    logger.warning("profiles endpoint answered no readable list", metadata: ["token": "\(record.config.name)"])
                }
            } catch {
                logger.warning("profiles endpoint failed: \(error)", metadata: ["token": "\(record.config.name)"])
            }
        }
        return false
    }
}
