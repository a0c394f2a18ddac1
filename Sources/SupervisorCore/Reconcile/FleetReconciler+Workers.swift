import Shared

/// What the runtime observed of worker processes: spawned, failed to spawn, exited, answered.
extension FleetReconciler {
    mutating func spawned(_ id: WorkerID, pid: Int32) {
        updateWorker(id) { $0.pid = pid }
        record(.info, id.tenant, "started worker pid \(pid) (generation \(id.generation))")
        history(.started, id.tenant, "started worker pid \(pid) (generation \(id.generation))", [
            "pid": String(pid), "generation": String(id.generation),
        ])
    }

    mutating func spawnFailed(_ id: WorkerID, reason: String, now: ContinuousClock.Instant) {
        guard var slot = slots[id.tenant] else { return }
        if slot.current?.id == id || slot.pending?.id == id {
            history(.startFailed, id.tenant, "cannot start worker: \(reason)", ["generation": String(id.generation), "reason": reason])
        }
        if slot.current?.id == id {
            slot.current = nil
            record(.error, id.tenant, "cannot start worker: \(reason)")
            slot.detail = "cannot start worker: \(reason)"
            crashed(&slot, .code(127), healthyRun: false, now: now)
        } else if slot.pending?.id == id {
            slot.pending = nil
            record(.error, id.tenant, "cannot start replacement worker: \(reason)")
            replacementFailed(&slot, now: now)
        }
        slots[id.tenant] = slot
    }

    mutating func exited(_ id: WorkerID, _ exit: WorkerExit, now: ContinuousClock.Instant) {
        guard var slot = slots[id.tenant] else { return }
        defer { slots[id.tenant] = slot }
        if let worker = slot.workers.first(where: { $0.id == id }) { exitHistory(worker, exit, slot: slot) }
        if let i = slot.retiring.firstIndex(where: { $0.id == id }) {
            let gone = slot.retiring.remove(at: i)
            record(.info, id.tenant, "replaced worker pid \(gone.pidText) exited (\(exit))")
            return
        }
        if let pending = slot.pending, pending.id == id {
            slot.pending = nil
            slot.lastExit = LastExit(exit: exit, at: now)
            slot.restarts += 1
            record(.error, id.tenant, "replacement worker pid \(pending.pidText) failed (\(exit)); the current worker keeps serving")
            replacementFailed(&slot, now: now)
            return
        }
        guard let current = slot.current, current.id == id else { return }
        slot.current = nil
        slot.lastExit = LastExit(exit: exit, at: now)
        if !slot.isActive(shuttingDown: isShuttingDown) || current.drainRequestedAt != nil {
            record(.info, id.tenant, "worker pid \(current.pidText) stopped (\(exit))")
            if let pending = slot.pending {
                slot.current = pending
                slot.pending = nil
            }
            return
        }
        let reason = current.killReason.map { " after it was killed: \($0)" } ?? ""
        record(.error, id.tenant, "worker pid \(current.pidText) crashed (\(exit))\(reason)")
        slot.detail = current.killReason
        if let pending = slot.pending {
            // A replacement is already on its way: it takes over.
            slot.current = pending
            slot.pending = nil
            slot.restarts += 1
        } else {
            crashed(&slot, exit, healthyRun: current.answeredAt != nil, now: now)
        }
    }

    /// The `exited` history entry: how it ended, and whether that was wanted.
    private mutating func exitHistory(_ worker: Worker, _ exit: WorkerExit, slot: Slot) {
        var details = ["pid": worker.pidText, "generation": String(worker.id.generation)]
        switch exit {
        case .code(let code): details["code"] = String(code)
        case .signal(let name): details["signal"] = name
        }
        let expected = worker.drainRequestedAt != nil || slot.retiring.contains { $0.id == worker.id }
            || !slot.isActive(shuttingDown: isShuttingDown)
        details["expected"] = expected ? "true" : "false"
        let how = expected ? "exited" : (worker.id == slot.pending?.id ? "replacement failed" : "crashed")
        history(.exited, worker.id.tenant, "worker pid \(worker.pidText) \(how) (\(exit))", details)
    }

    mutating func heartbeat(_ id: WorkerID, _ report: WorkerHealth, now: ContinuousClock.Instant) {
        guard var slot = slots[id.tenant] else { return }
        func answered(_ w: inout Worker) -> Bool {
            w.probeInFlight = false
            w.unansweredSince = nil
            w.missedHeartbeats = 0
            w.lastHeartbeat = now
            w.report = report
            guard w.answeredAt == nil else { return false }
            w.answeredAt = now
            return true
        }
        if var current = slot.current, current.id == id {
            if answered(&current) {
                record(.info, id.tenant, "worker pid \(current.pidText) is running")
                history(.running, id.tenant, "worker pid \(current.pidText) is running", [
                    "pid": current.pidText, "generation": String(current.id.generation),
                ])
            }
            tokenHistory(id.tenant, from: slot.lastHealth?.report, to: report)
            slot.rate.add(now: now, requests: report.requestsTotal, errors: report.errorsTotal)
            slot.current = current
            slot.lastHealth = LastHealth(report: report, settings: current.settings)
        } else if var pending = slot.pending, pending.id == id {
            _ = answered(&pending)
            slot.pending = pending
        }
        slots[id.tenant] = slot
    }

    /// A JWT whose state differs from the last report (of this worker or the one before it).
    private mutating func tokenHistory(_ tenant: String, from old: WorkerHealth?, to new: WorkerHealth) {
        let before = Dictionary((old?.tokens ?? []).map { ($0.name, $0.state) }, uniquingKeysWith: { a, _ in a })
        for token in new.tokens {
            let was = before[token.name]
            // The first report of a tenant: only what is not healthy is news.
            guard was != token.state, was != nil || token.state != .healthy else { continue }
            history(.tokenState, tenant, "JWT \(token.name): \((was ?? .unknown).rawValue) → \(token.state.rawValue)", [
                "token": token.name, "from": (was ?? .unknown).rawValue, "to": token.state.rawValue,
            ])
        }
    }

    /// The serving worker died: restart (at once after a healthy run, else after a back-off),
    /// or give up (FATAL).
    mutating func crashed(_ slot: inout Slot, _ exit: WorkerExit, healthyRun: Bool, now: ContinuousClock.Instant) {
        slot.lastExit = LastExit(exit: exit, at: now)
        slot.restarts += 1
        let policy = settings.restart
        switch slot.crashes.recordCrash(at: now, policy: policy, healthyRun: healthyRun, random: &random) {
        case .fatal(let crashes):
            slot.fatal = true
            let detail = "crashed \(crashes) times within \(formatDuration(policy.window)); last: \(exit). "
                + "Fix the cause, then `ctl start \(slot.name)` or reload."
            slot.detail = detail
            record(.critical, slot.name, "FATAL: \(detail)")
            history(.fatal, slot.name, "FATAL: \(detail)", ["crashes": String(crashes)])
        case .restart(let delay):
            guard slot.isActive(shuttingDown: isShuttingDown) else { return }
            if delay == .zero {
                record(.warning, slot.name, "restarting now (first crash after a healthy run)")
            } else {
                slot.backoffUntil = now + delay
                record(.warning, slot.name, "restarting in \(Self.seconds(delay, digits: 2))s")
                history(.backoff, slot.name, "restarting in \(Self.seconds(delay, digits: 2))s", ["delay_s": Self.seconds(delay, digits: 3)])
            }
        }
    }

    /// A replacement died before it answered: the current worker takes connections again, and
    /// the replacement is tried again after a back-off.
    mutating func replacementFailed(_ slot: inout Slot, now: ContinuousClock.Instant) {
        if let current = slot.current, !current.awaitingHandOver {
            slot.current?.pause = .accepting
            if current.pause != .accepting { emit(.resume(current.id)) }
        }
        slot.replaceAfter = now + slot.crashes.nextDelay(policy: settings.restart, random: &random)
    }

    /// `1.25` for 1.25 s: seconds with a fixed number of decimals, for people.
    static func seconds(_ duration: Duration, digits: Int) -> String {
        var scale = 1
        for _ in 0..<digits { scale *= 10 }
        let units = max(0, Int((duration.seconds * Double(scale)).rounded()))
        let fraction = String(units % scale)
        return "\(units / scale)." + String(repeating: "0", count: digits - fraction.count) + fraction
    }
}
