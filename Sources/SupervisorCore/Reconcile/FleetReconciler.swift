import Logging
import Shared

/// The supervisor's decisions, as a pure function: `handle(event, now)` updates the observed
/// state and returns the actions that bring it closer to the desired one. No I/O, no clock and
/// no randomness of its own (the jitter comes from a seeded generator it owns), so every
/// behaviour is a unit test with a manual clock.
///
/// It is level-triggered, like a Kubernetes controller: after every event, `reconcile` compares
/// each slot's desired state with what runs and acts on the difference — start what is missing,
/// drain what is not wanted, replace what is outdated, restart what died once its back-off is
/// over, kill what overran a deadline. A reload only changes the desired state, a crash only
/// removes a worker, `ctl restart` only bumps a revision: the same pass does the rest.
///
/// The state is changed only by `handle` (the extensions in `FleetReconciler+*.swift` are the
/// event handlers; they need the setters, which is why those are not private).
struct FleetReconciler: Sendable {
    var settings: SupervisorSettings
    var configPath: String
    var slots: [String: Slot] = [:]
    /// Tenants in file order (new ones at the end).
    var order: [String] = []
    /// Set by `.shutdown`: everything drains; what is left at the deadline is killed.
    var shutdownDeadline: ContinuousClock.Instant?
    private(set) var isFinished = false
    /// Listeners bound for us and not closed yet.
    var openListeners: Set<ListenerID> = []
    /// A desired state waiting for its listeners.
    var proposal: Proposal?
    var random: SeededRandom
    private var generations = 0
    private var listenerIDs = 0
    /// The actions of the event being handled.
    private var out: [FleetAction] = []
    /// When the last event was handled, to notice the supervisor itself was blocked.
    private var lastHandled: ContinuousClock.Instant?

    /// Events (ticks at least) come every 100 ms; a longer silence means the supervisor could not
    /// run, and that time is not held against its workers.
    static let stallThreshold: Duration = .seconds(1)

    /// A worker up this long has its back-off reset.
    static let stableAfter: Duration = .seconds(10)
    /// A worker asked to drain is killed this long after its `shutdown_timeout`.
    static let drainGrace: Duration = .seconds(2)

    struct Proposal: Sendable, Equatable {
        var config: FleetConfig
        var plan: ReloadPlan
        var requests: [ListenRequest]
    }

    init(settings: SupervisorSettings, configPath: String, seed: UInt64) {
        self.settings = settings
        self.configPath = configPath
        self.random = SeededRandom(seed: seed)
    }

    /// How long a new worker may take to answer its control socket before it counts as failed.
    var startTimeout: Duration { max(.seconds(10), settings.heartbeatTimeout * 2) }
    /// How long one heartbeat may take.
    var probeTimeout: Duration { min(settings.heartbeatTimeout, max(settings.heartbeatInterval, .seconds(1))) }
    var isShuttingDown: Bool { shutdownDeadline != nil }
    /// Tenants a `*` command applies to.
    var tenantNames: [String] { order.filter { slots[$0]?.removing == false } }

    func state(of tenant: String) -> SlotState? { slots[tenant]?.state(shuttingDown: isShuttingDown) }

    mutating func handle(_ event: FleetEvent, now: ContinuousClock.Instant) -> [FleetAction] {
        out = []
        if let last = lastHandled, now - last > Self.stallThreshold { excuseStall(now - last, endingAt: last) }
        lastHandled = max(lastHandled ?? now, now)
        switch event {
        case .desired(let config): propose(config, now: now)
        case .rejected(let errors): reject(errors)
        case .bound(let result): bound(result, now: now)
        case .spawned(let id, let pid): spawned(id, pid: pid)
        case .spawnFailed(let id, let reason): spawnFailed(id, reason: reason, now: now)
        case .exited(let id, let exit): exited(id, exit, now: now)
        case .heartbeat(let id, let report): heartbeat(id, report, now: now)
        case .heartbeatMissed(let id):
            updateWorker(id) {
                $0.probeInFlight = false
                $0.missedHeartbeats += 1
            }
        case .paused(let id): updateWorker(id) { if $0.pause == .requested { $0.pause = .paused } }
        case .drainRefused(let id): if worker(id) != nil { emit(.terminate(id)) }
        case .command(let command, let tenant): emit(.reply(.command(run(command, tenant: tenant))))
        case .shutdown: beginShutdown(now: now)
        case .tick: break
        }
        reconcile(now: now)
        let actions = out
        out = []
        return actions
    }

    // MARK: - Output

    mutating func emit(_ action: FleetAction) { out.append(action) }

    mutating func record(_ level: Logger.Level, _ tenant: String?, _ message: String) {
        emit(.record(FleetRecord(level: level, tenant: tenant, message: message)))
    }

    mutating func history(
        _ kind: FleetHistoryEvent.Kind, _ tenant: String?, _ message: String, _ details: [String: String] = [:]
    ) {
        emit(.history(FleetHistoryEvent(kind: kind, tenant: tenant, message: message, details: details)))
    }

    mutating func newListenerID() -> ListenerID {
        listenerIDs += 1
        return ListenerID(value: listenerIDs)
    }

    // MARK: - The reconcile pass

    private mutating func reconcile(now: ContinuousClock.Instant) {
        for name in order {
            guard var slot = slots[name] else { continue }
            enforceDeadlines(&slot, now: now)
            if let answered = slot.current?.answeredAt, now - answered > Self.stableAfter { slot.crashes.forgetDelay() }
            takeOver(&slot, now: now)
            if slot.isActive(shuttingDown: isShuttingDown) {
                converge(&slot, now: now)
            } else {
                standDown(&slot, now: now)
            }
            answerBacklog(&slot, now: now)
            sendHeartbeats(&slot, now: now)
            slots[name] = slot
        }
        for name in order where slots[name]?.removing == true && slots[name]?.workers.isEmpty == true {
            slots.removeValue(forKey: name)
            order.removeAll { $0 == name }
            record(.info, name, "removed")
            emit(.closeLog(tenant: name))
        }
        let used = Set(slots.values.flatMap { [$0.listener] + $0.workers.map(\.listener) })
        closeListeners(openListeners.subtracting(used))
        if isShuttingDown, !isFinished, slots.values.allSatisfy(\.workers.isEmpty) {
            closeListeners(openListeners)
            for name in order { emit(.closeLog(tenant: name)) }
            isFinished = true
            emit(.finished)
        }
    }

    private mutating func closeListeners(_ ids: Set<ListenerID>) {
        for id in ids.sorted(by: { $0.value < $1.value }) {
            openListeners.remove(id)
            emit(.closeListener(id))
        }
    }

    /// Wanted running: start what is missing, replace what is outdated.
    private mutating func converge(_ slot: inout Slot, now: ContinuousClock.Instant) {
        guard !slot.fatal else { return }
        guard let current = slot.current else {
            if let until = slot.backoffUntil, now < until { return }
            slot.backoffUntil = nil
            slot.detail = nil
            slot.current = spawn(&slot, now: now)
            return
        }
        guard current.revision != slot.revision else { return }
        if var pending = slot.pending, pending.revision != slot.revision {
            // A replacement of an older desired state: retire it, a newer one follows.
            drain(&pending, now: now)
            slot.retiring.append(pending)
            slot.pending = nil
        }
        guard slot.pending == nil else { return }
        if let after = slot.replaceAfter, now < after { return }
        slot.replaceAfter = nil
        // Only one process accepts on a listener at a time: the current worker pauses first
        // (connections wait in the backlog), unless it is not taking any anyway.
        if current.answeredAt != nil, current.killReason == nil, current.drainRequestedAt == nil {
            switch current.pause {
            case .accepting:
                slot.current?.pause = .requested
                emit(.pause(current.id))
                return
            case .requested:
                return
            case .paused:
                break
            }
        }
        slot.pending = spawn(&slot, now: now)
    }

    /// Not wanted (stopped, removed, shutting down): drain what runs.
    private mutating func standDown(_ slot: inout Slot, now: ContinuousClock.Instant) {
        slot.backoffUntil = nil
        slot.replaceAfter = nil
        if var pending = slot.pending {
            drain(&pending, now: now)
            slot.retiring.append(pending)
            slot.pending = nil
        }
        if var current = slot.current, current.killReason == nil {
            drain(&current, now: now)
            slot.current = current
        }
    }

    /// A replacement that answers takes over; the worker it replaces drains.
    private mutating func takeOver(_ slot: inout Slot, now: ContinuousClock.Instant) {
        guard let pending = slot.pending, pending.answeredAt != nil else { return }
        if var old = slot.current {
            drain(&old, now: now)
            slot.retiring.append(old)
        }
        record(.info, slot.name, "replacement pid \(pending.pidText) took over")
        history(.replaced, slot.name, "worker pid \(slot.current?.pidText ?? "-") replaced by pid \(pending.pidText)", [
            "pid": pending.pidText, "old_pid": slot.current?.pidText ?? "-", "generation": String(pending.id.generation),
        ])
        slot.current = pending
        slot.pending = nil
    }

    private mutating func enforceDeadlines(_ slot: inout Slot, now: ContinuousClock.Instant) {
        let startTimeout = startTimeout
        if var current = slot.current, current.killReason == nil {
            if current.answeredAt == nil, now - current.startedAt > startTimeout {
                kill(&current, reason: "did not answer its control socket within \(formatDuration(startTimeout))")
            } else if current.answeredAt != nil, current.drainRequestedAt == nil,
                      let since = current.unansweredSince, now - since > settings.heartbeatTimeout {
                kill(&current, reason: "hung: no heartbeat for \(formatDuration(settings.heartbeatTimeout))")
                history(.hung, slot.name, "worker pid \(current.pidText) hung: no heartbeat for \(formatDuration(settings.heartbeatTimeout)); killing it", [
                    "pid": current.pidText, "generation": String(current.id.generation),
                ])
            } else {
                killIfDrainOverran(&current, now: now)
            }
            slot.current = current
        }
        if var pending = slot.pending, pending.killReason == nil, pending.answeredAt == nil,
           now - pending.startedAt > startTimeout {
            kill(&pending, reason: "replacement did not answer within \(formatDuration(startTimeout))")
            slot.pending = pending
        }
        for i in slot.retiring.indices where slot.retiring[i].killReason == nil {
            killIfDrainOverran(&slot.retiring[i], now: now)
        }
        if let deadline = shutdownDeadline, now > deadline {
            if slot.current?.killReason == nil, slot.current != nil { kill(&slot.current!, reason: "shutdown timeout") }
            if slot.pending?.killReason == nil, slot.pending != nil { kill(&slot.pending!, reason: "shutdown timeout") }
            for i in slot.retiring.indices where slot.retiring[i].killReason == nil {
                kill(&slot.retiring[i], reason: "shutdown timeout")
            }
        }
    }

    private mutating func killIfDrainOverran(_ worker: inout Worker, now: ContinuousClock.Instant) {
        guard let asked = worker.drainRequestedAt, now - asked > worker.settings.shutdownTimeout + Self.drainGrace else { return }
        kill(&worker, reason: "did not finish draining within \(formatDuration(worker.settings.shutdownTimeout))")
    }

    private mutating func sendHeartbeats(_ slot: inout Slot, now: ContinuousClock.Instant) {
        func due(_ w: Worker) -> Bool {
            !w.probeInFlight && w.killReason == nil && (w.lastProbe.map { now - $0 >= settings.heartbeatInterval } ?? true)
        }
        func probe(_ w: inout Worker) {
            w.probeInFlight = true
            w.lastProbe = now
            if w.unansweredSince == nil { w.unansweredSince = now }
            emit(.probe(w.id, timeout: probeTimeout))
        }
        if let current = slot.current, due(current) { probe(&slot.current!) }
        if let pending = slot.pending, due(pending) { probe(&slot.pending!) }
    }

    /// Nothing was handled for `gap` (the supervisor was blocked: a slow reload, a SIGSTOP, an
    /// overloaded host): move every worker's heartbeat deadline by it, so a worker is only ever
    /// found hung for not answering while we were able to listen.
    private mutating func excuseStall(_ gap: Duration, endingAt last: ContinuousClock.Instant) {
        for name in order {
            guard var slot = slots[name] else { continue }
            func shift(_ w: inout Worker) {
                if let since = w.unansweredSince, since <= last { w.unansweredSince = since + gap }
                if let seen = w.lastHeartbeat, seen <= last { w.lastHeartbeat = seen + gap }
            }
            if slot.current != nil { shift(&slot.current!) }
            if slot.pending != nil { shift(&slot.pending!) }
            slots[name] = slot
        }
        record(.warning, nil, "the supervisor was blocked for \(Self.seconds(gap, digits: 1))s; "
            + "heartbeat deadlines moved by as much")
    }

    // MARK: - Acting on workers

    /// Starts a worker for the slot's desired settings on its current listener. While the
    /// supervisor answers that listener itself, the worker starts paused and takes over once
    /// it answers (only one process accepts at a time).
    mutating func spawn(_ slot: inout Slot, now: ContinuousClock.Instant) -> Worker {
        generations += 1
        let id = WorkerID(tenant: slot.name, generation: generations)
        var settings = slot.desired
        settings.listen = slot.bound
        let paused = slot.answering?.listener == slot.listener
        emit(.spawn(SpawnOrder(
            worker: id, listener: slot.listener,
            controlSocket: "\(self.settings.runDir)/\(slot.name).\(generations).sock",
            start: SupervisedStart(
                tenant: settings, tokenStates: TokenCarryOver.states(from: slot.lastHealth, into: slot.desired), startPaused: paused
            )
        )))
        var worker = Worker(id: id, listener: slot.listener, revision: slot.revision, settings: slot.desired, startedAt: now)
        if paused {
            worker.awaitingHandOver = true
            worker.pause = .paused
        }
        return worker
    }

    // MARK: - Answering the backlog

    /// While no worker serves the tenant's listener for longer than `backlog_grace` — backing
    /// off, FATAL, stopped, or starting too long — the supervisor answers the connections
    /// itself (503 with `Retry-After`) instead of leaving them in the backlog; the moment a
    /// worker answers, the listener goes back to it. A tenant being removed or a supervisor
    /// shutting down is not answered for: its listener is about to close.
    private mutating func answerBacklog(_ slot: inout Slot, now: ContinuousClock.Instant) {
        if let current = slot.current, current.awaitingHandOver, current.answeredAt != nil,
           current.killReason == nil, current.drainRequestedAt == nil
        {
            // A worker started paused is up: the supervisor stops accepting, then resumes it.
            slot.current?.awaitingHandOver = false
            slot.current?.pause = .accepting
            if let answering = slot.answering {
                emit(.stopAnswering(answering.listener, handOverTo: current.id))
                record(.info, slot.name, "worker pid \(current.pidText) is up: the supervisor hands the listener back to it")
                slot.answering = nil
            } else {
                emit(.resume(current.id))
            }
        }
        let served = slot.isServed
        if served {
            slot.unservedSince = nil
        } else if slot.unservedSince == nil {
            slot.unservedSince = now
        }
        var wanted: BacklogNotice?
        if !served, !slot.removing, !isShuttingDown, openListeners.contains(slot.listener),
           let since = slot.unservedSince, now - since >= slot.desired.backlogGrace
        {
            wanted = notice(for: slot)
        }
        guard wanted != slot.answering else { return }
        if let old = slot.answering, old.listener != wanted?.listener {
            emit(.stopAnswering(old.listener, handOverTo: nil))
            if wanted == nil { record(.info, slot.name, "the supervisor stopped answering its requests") }
        }
        if let wanted {
            if slot.answering == nil {
                record(.warning, slot.name, "no worker serving for \(formatDuration(slot.desired.backlogGrace)) or more: "
                    + "the supervisor answers its requests with 503 (\(wanted.reason.rawValue))")
            }
            emit(.answerBacklog(wanted))
        }
        slot.answering = wanted
    }

    private func notice(for slot: Slot) -> BacklogNotice {
        let reason: BacklogNotice.Reason
        var retryAt: ContinuousClock.Instant?
        if slot.fatal {
            reason = .fatal
        } else if !slot.isActive(shuttingDown: isShuttingDown) || slot.current?.drainRequestedAt != nil {
            reason = .stopped
        } else if slot.current == nil, let until = slot.backoffUntil {
            reason = .backoff
            retryAt = until
        } else {
            reason = .starting
        }
        // Nothing scheduled: a fatal or stopped tenant says "not before the longest back-off",
        // a starting one "in a second".
        let fallback: Duration = reason == .starting ? .seconds(1) : settings.restart.maxBackoff
        return BacklogNotice(tenant: slot.name, listener: slot.listener, reason: reason, retryAt: retryAt, fallback: fallback)
    }

    mutating func drain(_ worker: inout Worker, now: ContinuousClock.Instant) {
        guard worker.drainRequestedAt == nil else { return }
        worker.drainRequestedAt = now
        emit(.drain(worker.id))
        record(.info, worker.id.tenant, "draining worker pid \(worker.pidText)")
    }

    mutating func kill(_ worker: inout Worker, reason: String) {
        worker.killReason = reason
        emit(.kill(worker.id))
        record(.error, worker.id.tenant, "killing worker pid \(worker.pidText): \(reason)")
        if !reason.hasPrefix("hung") {
            history(.killed, worker.id.tenant, "killing worker pid \(worker.pidText): \(reason)", [
                "pid": worker.pidText, "generation": String(worker.id.generation), "reason": reason,
            ])
        }
    }

    func worker(_ id: WorkerID) -> Worker? {
        slots[id.tenant]?.workers.first { $0.id == id }
    }

    mutating func updateWorker(_ id: WorkerID, _ change: (inout Worker) -> Void) {
        guard var slot = slots[id.tenant] else { return }
        if slot.current?.id == id { change(&slot.current!) }
        if slot.pending?.id == id { change(&slot.pending!) }
        for i in slot.retiring.indices where slot.retiring[i].id == id { change(&slot.retiring[i]) }
        slots[id.tenant] = slot
    }

    // MARK: - Shutdown

    private mutating func beginShutdown(now: ContinuousClock.Instant) {
        guard !isShuttingDown else { return }
        let longest = slots.values.map(\.desired.shutdownTimeout).max() ?? settings.shutdownTimeout
        shutdownDeadline = now + max(longest, settings.shutdownTimeout) + Self.drainGrace
        proposal = nil
        record(.info, nil, "shutting down: draining \(slots.count) tenant(s)")
    }
}
