import Shared

/// A new fleet file against the slots that exist: which tenants are added, removed, changed or
/// unchanged, and which need a new listener (added, or their listen address moved). Binding
/// those comes first; if one fails, nothing of the plan happens.
struct ReloadPlan: Sendable, Equatable {
    var added: [TenantConfig] = []
    var removed: [String] = []
    var changed: [TenantConfig] = []
    var unchanged: [TenantConfig] = []
    /// Tenants (added or changed) whose address has no listener yet.
    var needsListener: [TenantConfig] = []

    /// `running`: each slot's tenant and desired settings (a slot still being removed counts: a
    /// tenant added back keeps its listener).
    init(running: [(name: String, desired: TenantConfig)], new: [TenantConfig]) {
        let old = Dictionary(running.map { ($0.name, $0.desired) }, uniquingKeysWith: { a, _ in a })
        let newNames = Set(new.map(\.name))
        removed = running.map(\.name).filter { !newNames.contains($0) }
        for tenant in new {
            guard let before = old[tenant.name] else {
                added.append(tenant)
                needsListener.append(tenant)
                continue
            }
            if before.sameWorker(as: tenant) {
                unchanged.append(tenant)
            } else {
                changed.append(tenant)
                if before.listen != tenant.listen { needsListener.append(tenant) }
            }
        }
    }
}

extension TenantConfig {
    /// Equal but for what only the supervisor reads (`backlog_grace`): such a change takes
    /// effect without a new worker.
    func sameWorker(as other: TenantConfig) -> Bool {
        var other = other
        other.backlogGrace = backlogGrace
        return self == other
    }
}
