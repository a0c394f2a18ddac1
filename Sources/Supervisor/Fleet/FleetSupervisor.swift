import Foundation
import Logging
import Shared

#if canImport(Glibc)
import Glibc
#endif

/// The reconcile loop. Desired state: the validated fleet file. Observed state: each tenant's
/// slot. `tick()` compares them and acts — start what is missing, stop what is extra, replace
/// what changed, restart what died (after its back-off), give up on what crash-loops — like a
/// Kubernetes controller. A reload is nothing but a new desired state.
actor FleetSupervisor {
    private(set) var config: FleetConfig
    private var slots: [String: Slot] = [:]
    private var order: [String] = []
    private var generation = 0
    private var workerBinary: String
    private let logger: Logger
    private let control: UnixHTTPClient
    private let launch: @Sendable (@escaping @Sendable () async -> Void) -> Void
    private var shuttingDown = false
    private var shutdownDeadline: Date?
    let startedAt = Date()

    /// How long a new worker may take to answer its control socket before it counts as failed.
    private var startTimeout: TimeInterval { max(10, config.supervisor.heartbeatTimeout.seconds * 2) }
    /// A worker up this long has its back-off reset.
    private let stableAfter: TimeInterval = 10

    init(
        config: FleetConfig,
        workerBinary: String,
        control: UnixHTTPClient,
        logger: Logger,
        launch: @escaping @Sendable (@escaping @Sendable () async -> Void) -> Void
    ) {
        self.config = config
        self.workerBinary = workerBinary
        self.control = control
        self.logger = logger
        self.launch = launch
    }

    // MARK: - Start

    /// Binds every tenant's listener (all or nothing) and starts their workers.
    func start() throws {
        try prepareDirectories(config.supervisor)
        let listeners = try bindListeners(for: config.tenants.map { ($0.name, $0.listen) })
        for tenant in config.tenants {
            addSlot(tenant, listener: listeners[tenant.name]!)
        }
    }

    private func prepareDirectories(_ s: SupervisorSettings) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: s.runDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        if let logDir = s.logDir { try fm.createDirectory(atPath: logDir, withIntermediateDirectories: true) }
    }

    struct ListenError: Error, CustomStringConvertible {
        var messages: [String]
        var description: String { messages.joined(separator: "\n") }
    }

    /// Binds listeners for (tenant, address); on any failure closes those it bound and throws
    /// one message per failing tenant.
    private func bindListeners(for wanted: [(String, ListenAddress)]) throws -> [String: ListenerSocket] {
        var bound: [String: ListenerSocket] = [:]
        var errors: [String] = []
        for (name, address) in wanted {
            do {
                bound[name] = try ListenerSocket(binding: address)
            } catch {
                errors.append("tenants.\(name).listen: \(error)")
            }
        }
        if !errors.isEmpty {
            for listener in bound.values { listener.closeSocket() }
            throw ListenError(messages: errors)
        }
        return bound
    }

    private func addSlot(_ tenant: TenantConfig, listener: ListenerSocket) {
        let s = config.supervisor
        let log = LogSink(tenant: tenant.name, directory: s.logDir, maxBytes: s.logMaxBytes, backups: s.logBackups)
        slots[tenant.name] = Slot(name: tenant.name, config: tenant, listener: listener, log: log)
        if !order.contains(tenant.name) { order.append(tenant.name) }
        logger.info("tenant \(tenant.name): listening on \(listener.bound)")
        spawnCurrent(tenant.name)
    }

    // MARK: - Spawning

    private func spawn(_ slot: Slot) throws -> WorkerInstance {
        generation += 1
        let socket = "\(config.supervisor.runDir)/\(slot.name).\(generation).sock"
        unlink(socket)
        var settings = slot.config
        settings.listen = slot.listener.bound
        let start = SupervisedStart(tenant: settings, tokenStates: Self.carriedStates(slot))
        let line = try JSONEncoder.control().encode(start) + Data("\n".utf8)
        let process = try Spawner.spawn(
            executable: workerBinary,
            arguments: ["--tenant", slot.name, "--settings-from-stdin", "--control-socket", socket],
            environment: Self.workerEnvironment(ProcessInfo.processInfo.environment),
            listenerFD: slot.listener.fd,
            listenerName: slot.name
        )
        // Written off the actor (a worker that does not read would block us); a dup keeps the
        // fd number valid even if the worker exits and we close the original meanwhile.
        let settingsFD = dup(process.stdinFD)
        launch {
            _ = writeAll(settingsFD, Array(line))
            close(settingsFD)
        }
        let log = slot.log
        let outputFD = process.outputFD
        launch { await log.drain(outputFD) }
        log.note("started worker pid \(process.pid) (generation \(generation))")
        logger.info("tenant \(slot.name): started worker pid \(process.pid)")
        return WorkerInstance(
            pid: process.pid, generation: generation, controlSocket: socket, listener: slot.listener,
            stdinFD: process.stdinFD, startedAt: Date()
        )
    }

    /// What a worker inherits from our environment: the basics, never the variables the fleet
    /// file's `${…}` secrets came from (the worker gets resolved settings on stdin instead).
    static func workerEnvironment(_ env: [String: String]) -> [String: String] {
        let kept: Set<String> = ["PATH", "HOME", "USER", "LANG", "TZ", "TMPDIR", "LOG_LEVEL"]
        return env.filter { kept.contains($0.key) || $0.key.hasPrefix("LC_") || $0.key.hasPrefix("JBAI_") }
    }

    private func spawnCurrent(_ name: String) {
        guard var slot = slots[name], !shuttingDown else { return }
        do {
            slot.current = try spawn(slot)
            slot.currentConfig = slot.config
            slot.state = .starting
            slot.backoffUntil = nil
            slot.detail = nil
        } catch {
            logger.error("tenant \(name): cannot start worker: \(error)")
            slot.detail = "cannot start worker: \(error)"
            slots[name] = slot
            recordCrash(name, exit: ExitInfo(code: 127, at: Date()))
            return
        }
        slots[name] = slot
    }

    /// JWT health from the slot's last worker report, for the JWTs that stay (matched by their
    /// credential, named as in the new settings).
    static func carriedStates(_ slot: Slot) -> [CarriedTokenState] {
        guard let health = slot.lastHealth, let old = slot.lastHealthConfig else { return [] }
        let oldSources = Dictionary(old.tokens.map { ($0.name, $0.source) }, uniquingKeysWith: { a, _ in a })
        var result: [CarriedTokenState] = []
        for token in health.tokens {
            guard let source = oldSources[token.name],
                  let now = slot.config.tokens.first(where: { $0.source == source })
            else { continue }
            result.append(CarriedTokenState(
                name: now.name, state: token.state, until: token.until,
                consecutiveFailures: token.consecutiveFailures ?? 0, lastError: token.lastError
            ))
        }
        return result
    }

    /// Replaces the current worker without refusing a connection: the current one stops
    /// accepting (connections wait in the listener's backlog, and only one process accepts at a
    /// time), the new one starts on the same listener, takes over once it answers, and the old
    /// one drains.
    private func replace(_ name: String) {
        guard var slot = slots[name], !shuttingDown, !slot.replacing else { return }
        guard let current = slot.current, current.answeredAt != nil, current.killReason == nil else {
            spawnPending(name)
            return
        }
        slot.replacing = true
        slots[name] = slot
        let client = control
        let socket = current.controlSocket
        launch { [weak self] in
            try? await client.setAccepting(false, socket: socket, timeout: .seconds(2))
            await self?.spawnPending(name)
        }
    }

    /// Starts a replacement alongside the current worker.
    private func spawnPending(_ name: String) {
        guard var slot = slots[name] else { return }
        slot.replacing = false
        guard !shuttingDown else {
            slots[name] = slot
            return
        }
        if let old = slot.pending {
            // A replacement of an older desired state: retire it.
            slot.retiring.append(old)
            slot.pending = nil
            requestDrain(&slot.retiring[slot.retiring.count - 1], tenant: name)
        }
        do {
            slot.pending = try spawn(slot)
            slot.replaceAfter = nil
        } catch {
            logger.error("tenant \(name): cannot start replacement worker: \(error)")
            slot.replaceAfter = Date().addingTimeInterval(config.supervisor.restart.initialBackoff.seconds)
        }
        slots[name] = slot
    }

    // MARK: - Reconcile

    /// One pass of the control loop: timers, promotions, heartbeats, hung or slow workers.
    func tick() {
        let now = Date()
        let s = config.supervisor
        for name in order {
            guard var slot = slots[name] else { continue }

            if slot.state == .backoff, slot.wantRunning, let until = slot.backoffUntil, now >= until, slot.current == nil {
                slots[name] = slot
                spawnCurrent(name)
                slot = slots[name]!
            }
            if let after = slot.replaceAfter, now >= after, slot.wantRunning, slot.current != nil {
                slot.replaceAfter = nil
                slots[name] = slot
                replace(name)
                slot = slots[name]!
            }

            if var current = slot.current {
                if slot.state == .starting, current.answeredAt != nil {
                    slot.state = .running
                    logger.info("tenant \(name): worker pid \(current.pid) is running")
                    slot.log.note("worker pid \(current.pid) is running")
                } else if slot.state == .starting, current.killReason == nil,
                          now.timeIntervalSince(current.startedAt) > startTimeout {
                    kill(&current, reason: "did not answer its control socket within \(Int(startTimeout))s", tenant: name)
                } else if slot.state == .running, current.killReason == nil, current.drainRequestedAt == nil,
                          let last = current.lastHeartbeat ?? current.answeredAt,
                          now.timeIntervalSince(last) > s.heartbeatTimeout.seconds {
                    kill(&current, reason: "hung: no heartbeat for \(formatDuration(s.heartbeatTimeout))", tenant: name)
                }
                if slot.state == .running, slot.backoffDelay != nil, let answered = current.answeredAt,
                   now.timeIntervalSince(answered) > stableAfter {
                    slot.backoffDelay = nil
                }
                slot.current = current
            }

            if var pending = slot.pending {
                if pending.answeredAt != nil {
                    // The replacement answers: it takes over, the old worker drains.
                    if var old = slot.current {
                        requestDrain(&old, tenant: name)
                        slot.retiring.append(old)
                    }
                    logger.info("tenant \(name): replacement pid \(pending.pid) took over")
                    slot.log.note("replacement pid \(pending.pid) took over")
                    slot.current = pending
                    slot.currentConfig = slot.config
                    slot.pending = nil
                    slot.state = .running
                } else if pending.killReason == nil, now.timeIntervalSince(pending.startedAt) > startTimeout {
                    kill(&pending, reason: "replacement did not answer within \(Int(startTimeout))s", tenant: name)
                    slot.pending = pending
                }
            }

            for i in slot.retiring.indices {
                if let asked = slot.retiring[i].drainRequestedAt, slot.retiring[i].killReason == nil,
                   now.timeIntervalSince(asked) > slot.config.shutdownTimeout.seconds + 2 {
                    kill(&slot.retiring[i], reason: "did not finish draining within \(formatDuration(slot.config.shutdownTimeout))", tenant: name)
                }
            }
            if slot.state == .stopping, let current = slot.current, current.killReason == nil,
               let asked = current.drainRequestedAt, now.timeIntervalSince(asked) > slot.config.shutdownTimeout.seconds + 2 {
                kill(&slot.current!, reason: "did not finish draining", tenant: name)
            }

            slots[name] = slot
            heartbeat(name, now: now)
            if slot.removing, slot.instances.isEmpty {
                slot.listener.closeSocket()
                slot.log.close()
                slots.removeValue(forKey: name)
                order.removeAll { $0 == name }
                logger.info("tenant \(name): removed")
            }
        }
        if let deadline = shutdownDeadline, now > deadline {
            for name in order {
                guard var slot = slots[name] else { continue }
                for i in slot.retiring.indices where slot.retiring[i].killReason == nil {
                    kill(&slot.retiring[i], reason: "shutdown timeout", tenant: name)
                }
                if slot.current != nil, slot.current!.killReason == nil { kill(&slot.current!, reason: "shutdown timeout", tenant: name) }
                if slot.pending != nil, slot.pending!.killReason == nil { kill(&slot.pending!, reason: "shutdown timeout", tenant: name) }
                slots[name] = slot
            }
        }
    }

    private func kill(_ instance: inout WorkerInstance, reason: String, tenant: String) {
        logger.error("tenant \(tenant): killing worker pid \(instance.pid): \(reason)")
        slots[tenant]?.log.note("killing worker pid \(instance.pid): \(reason)")
        instance.killReason = reason
        // The worker leads its own process group: take the whole group.
        Glibc.kill(-instance.pid, SIGKILL)
        Glibc.kill(instance.pid, SIGKILL)
    }

    private func requestDrain(_ instance: inout WorkerInstance, tenant: String) {
        guard instance.drainRequestedAt == nil else { return }
        instance.drainRequestedAt = Date()
        let socket = instance.controlSocket
        let pid = instance.pid
        let client = control
        launch {
            do {
                try await client.drain(socket: socket, timeout: .seconds(2))
            } catch {
                Glibc.kill(pid, SIGTERM)
            }
        }
        slots[tenant]?.log.note("draining worker pid \(pid)")
    }

    private func heartbeat(_ name: String, now: Date) {
        guard var slot = slots[name] else { return }
        let interval = config.supervisor.heartbeatInterval.seconds
        let timeout = Duration.milliseconds(Int64(1000 * min(config.supervisor.heartbeatTimeout.seconds, max(interval, 1))))
        func due(_ i: WorkerInstance) -> Bool {
            !i.heartbeatInFlight && i.killReason == nil
                && (i.lastHeartbeatAttempt.map { now.timeIntervalSince($0) >= interval } ?? true)
        }
        func fire(_ instance: inout WorkerInstance) {
            instance.heartbeatInFlight = true
            instance.lastHeartbeatAttempt = now
            let socket = instance.controlSocket
            let pid = instance.pid
            let client = control
            launch { [weak self] in
                let health = try? await client.workerHealth(socket: socket, timeout: timeout)
                await self?.heartbeatAnswered(name, pid: pid, health: health)
            }
        }
        if slot.current != nil, due(slot.current!) { fire(&slot.current!) }
        if slot.pending != nil, due(slot.pending!) { fire(&slot.pending!) }
        slots[name] = slot
    }

    private func heartbeatAnswered(_ name: String, pid: pid_t, health: WorkerHealth?) {
        guard var slot = slots[name] else { return }
        let now = Date()
        func update(_ i: inout WorkerInstance) {
            i.heartbeatInFlight = false
            guard let health else { return }
            i.lastHeartbeat = now
            i.health = health
            if i.answeredAt == nil { i.answeredAt = now }
        }
        if slot.current?.pid == pid {
            update(&slot.current!)
            if let health {
                slot.lastHealth = health
                slot.lastHealthConfig = slot.currentConfig
            }
        }
        if slot.pending?.pid == pid { update(&slot.pending!) }
        slots[name] = slot
        // A first answer moves the slot on at once instead of at the next tick.
        if health != nil { tick() }
    }

    // MARK: - Exits

    /// Handles exited children (from `waitpid`).
    func reaped(_ exits: [(pid_t, Int32)]) {
        for (pid, status) in exits {
            let info = ExitStatus.decode(status)
            guard let name = order.first(where: { slots[$0]?.instances.contains { $0.pid == pid } ?? false }),
                  var slot = slots[name]
            else { continue }
            slot.log.note("worker pid \(pid) exited: \(info.description)")
            if let i = slot.retiring.firstIndex(where: { $0.pid == pid }) {
                let gone = slot.retiring.remove(at: i)
                release(gone, in: &slot)
                logger.info("tenant \(name): replaced worker pid \(pid) exited (\(info.description))")
                slots[name] = slot
                continue
            }
            if let pending = slot.pending, pending.pid == pid {
                release(pending, in: &slot)
                slot.pending = nil
                slot.lastExit = info
                slot.restarts += 1
                logger.error("tenant \(name): replacement worker pid \(pid) failed (\(info.description)); the current worker keeps serving")
                if let current = slot.current {
                    let client = control
                    let socket = current.controlSocket
                    launch { try? await client.setAccepting(true, socket: socket, timeout: .seconds(2)) }
                }
                slot.replaceAfter = Date().addingTimeInterval(nextBackoff(&slot))
                slots[name] = slot
                continue
            }
            guard let current = slot.current, current.pid == pid else { continue }
            release(current, in: &slot)
            slot.current = nil
            let expected = slot.state == .stopping || !slot.wantRunning
            if expected {
                logger.info("tenant \(name): worker pid \(pid) stopped (\(info.description))")
                slot.state = .stopped
                slot.lastExit = info
                if let pending = slot.pending {
                    slot.current = pending
                    slot.currentConfig = slot.config
                    slot.pending = nil
                    slot.state = pending.answeredAt != nil ? .running : .starting
                }
                slots[name] = slot
                if slot.wantRunning, slot.current == nil, !shuttingDown { spawnCurrent(name) }
                continue
            }
            let reason = current.killReason.map { " after it was killed: \($0)" } ?? ""
            logger.error("tenant \(name): worker pid \(pid) crashed (\(info.description))\(reason)")
            slot.detail = current.killReason
            if let pending = slot.pending {
                // A replacement is already on its way: let it take over.
                slot.current = pending
                slot.currentConfig = slot.config
                slot.pending = nil
                slot.state = pending.answeredAt != nil ? .running : .starting
                slot.lastExit = info
                slot.restarts += 1
                slots[name] = slot
                continue
            }
            slots[name] = slot
            recordCrash(name, exit: info)
        }
    }

    /// Closes what belonged to an exited worker.
    private func release(_ instance: WorkerInstance, in slot: inout Slot) {
        close(instance.stdinFD)
        unlink(instance.controlSocket)
        let stillUsed = slot.listener === instance.listener
            || slot.instances.contains { $0.pid != instance.pid && $0.listener === instance.listener }
        if !stillUsed { instance.listener.closeSocket() }
    }

    private func nextBackoff(_ slot: inout Slot) -> TimeInterval {
        let policy = config.supervisor.restart
        let next = slot.backoffDelay.map { min(policy.maxBackoff, $0 * 2) } ?? policy.initialBackoff
        slot.backoffDelay = next
        // ±20% jitter, so tenants that crashed together do not restart in lockstep.
        return next.seconds * Double.random(in: 0.8...1.2)
    }

    private func recordCrash(_ name: String, exit: ExitInfo) {
        guard var slot = slots[name] else { return }
        let now = Date()
        let policy = config.supervisor.restart
        slot.lastExit = exit
        slot.restarts += 1
        slot.crashTimes.append(now)
        slot.crashTimes.removeAll { now.timeIntervalSince($0) > policy.window.seconds }
        if slot.crashTimes.count > policy.maxRestarts {
            slot.state = .fatal
            slot.detail = "crashed \(slot.crashTimes.count) times within \(formatDuration(policy.window)); last: \(exit.description). Fix the cause, then `ctl start \(name)` or reload."
            logger.critical("tenant \(name) is FATAL: \(slot.detail!)")
            slot.log.note("FATAL: \(slot.detail!)")
        } else if shuttingDown || !slot.wantRunning {
            slot.state = .stopped
        } else {
            let delay = nextBackoff(&slot)
            slot.state = .backoff
            slot.backoffUntil = now.addingTimeInterval(delay)
            logger.warning("tenant \(name): restarting in \(String(format: "%.2f", delay))s")
        }
        slots[name] = slot
    }

    // MARK: - Commands

    func startTenant(_ name: String) -> ControlReply {
        guard var slot = slots[name], !slot.removing else { return ControlReply(ok: false, message: "no tenant named '\(name)'") }
        slot.wantRunning = true
        slot.crashTimes = []
        slot.backoffDelay = nil
        if slot.current != nil {
            slots[name] = slot
            return ControlReply(ok: true, message: "\(name) is already \(slot.state.rawValue)")
        }
        slot.detail = nil
        slots[name] = slot
        spawnCurrent(name)
        return ControlReply(ok: true, message: "\(name) starting")
    }

    func stopTenant(_ name: String) -> ControlReply {
        guard var slot = slots[name], !slot.removing else { return ControlReply(ok: false, message: "no tenant named '\(name)'") }
        slot.wantRunning = false
        slot.backoffUntil = nil
        slot.replaceAfter = nil
        if slot.current == nil {
            slot.state = .stopped
            slots[name] = slot
            return ControlReply(ok: true, message: "\(name) is stopped")
        }
        slot.state = .stopping
        requestDrain(&slot.current!, tenant: name)
        if var pending = slot.pending {
            requestDrain(&pending, tenant: name)
            slot.retiring.append(pending)
            slot.pending = nil
        }
        slots[name] = slot
        return ControlReply(ok: true, message: "\(name) stopping")
    }

    func restartTenant(_ name: String) -> ControlReply {
        guard let slot = slots[name], !slot.removing else { return ControlReply(ok: false, message: "no tenant named '\(name)'") }
        if slot.current == nil || slot.state != .running { return startTenant(name) }
        replace(name)
        return ControlReply(ok: true, message: "\(name) restarting (the new worker takes over once it answers)")
    }

    var tenantNames: [String] { order }

    func logs(_ name: String, lines: Int) -> LogTail? {
        slots[name].map { LogTail(tenant: name, lines: $0.log.lastLines(lines)) }
    }

    // MARK: - Reload

    func reload() -> ReloadReport {
        let new: FleetConfig
        do {
            new = try FleetConfigLoader.load(path: config.path)
        } catch let error as ConfigError {
            let errors = error.diagnostics.map(\.description)
            logger.error("reload rejected, the fleet keeps running unchanged:\n\(errors.joined(separator: "\n"))")
            return ReloadReport(ok: false, errors: errors)
        } catch {
            logger.error("reload rejected: \(error)")
            return ReloadReport(ok: false, errors: ["\(error)"])
        }
        var actions: [String: String] = [:]
        let newNames = Set(new.tenants.map(\.name))
        // New listeners first: if one cannot be bound, nothing changes.
        let needListener = new.tenants.filter { t in
            guard let slot = slots[t.name], !slot.removing else { return true }
            return slot.config.listen != t.listen
        }
        let listeners: [String: ListenerSocket]
        do {
            listeners = try bindListeners(for: needListener.map { ($0.name, $0.listen) })
        } catch let error as ListenError {
            logger.error("reload rejected: \(error)")
            return ReloadReport(ok: false, errors: error.messages)
        } catch {
            return ReloadReport(ok: false, errors: ["\(error)"])
        }
        let oldSupervisor = config.supervisor
        config = new
        var notes: [String] = []
        if new.supervisor.listen != oldSupervisor.listen || new.supervisor.controlSocket != oldSupervisor.controlSocket
            || new.supervisor.runDir != oldSupervisor.runDir || new.supervisor.logDir != oldSupervisor.logDir
        {
            notes.append("supervisor listen, control_socket, run_dir and log_dir changes take effect after a supervisor restart")
        }
        if let binary = try? SupervisorRunner.workerBinary(for: new) {
            workerBinary = binary
        } else {
            notes.append("worker binary for the new file not found; keeping \(workerBinary)")
        }

        for name in order where !newNames.contains(name) {
            guard let slot = slots[name], !slot.removing else { continue }
            _ = stopTenant(name)
            slots[name]?.removing = true
            actions[name] = "stopped"
        }
        for tenant in new.tenants {
            guard var slot = slots[tenant.name], !slot.removing else {
                addSlot(tenant, listener: listeners[tenant.name]!)
                actions[tenant.name] = "started"
                continue
            }
            if slot.config == tenant {
                if slot.state == .fatal {
                    slots[tenant.name] = slot
                    _ = startTenant(tenant.name)
                    actions[tenant.name] = "restarted"
                } else {
                    actions[tenant.name] = "unchanged"
                }
                continue
            }
            slot.config = tenant
            if let listener = listeners[tenant.name] {
                let old = slot.listener
                slot.listener = listener
                if !slot.instances.contains(where: { $0.listener === old }) { old.closeSocket() }
            }
            slots[tenant.name] = slot
            if slot.current != nil, slot.wantRunning, slot.state == .running || slot.state == .starting {
                replace(tenant.name)
            } else if slot.wantRunning || slot.state == .fatal {
                slots[tenant.name]?.crashTimes = []
                if slot.current == nil { spawnCurrent(tenant.name) }
            }
            actions[tenant.name] = "replaced"
        }
        let summary = actions.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        logger.info("reloaded \(new.path): \(summary)")
        for note in notes { logger.warning("\(note)") }
        return ReloadReport(ok: true, errors: [], actions: actions)
    }

    // MARK: - Shutdown

    /// Drains every worker; `tick()` kills what is left after `shutdown_timeout`.
    func beginShutdown() {
        guard !shuttingDown else { return }
        shuttingDown = true
        let maxTimeout = slots.values.map { $0.config.shutdownTimeout.seconds }.max() ?? config.supervisor.shutdownTimeout.seconds
        shutdownDeadline = Date().addingTimeInterval(maxTimeout + 2)
        logger.info("shutting down: draining \(slots.count) tenant(s)")
        for name in order {
            _ = stopTenant(name)
            guard var slot = slots[name] else { continue }
            for i in slot.retiring.indices { requestDrain(&slot.retiring[i], tenant: name) }
            slots[name] = slot
        }
    }

    var isShuttingDown: Bool { shuttingDown }

    var allStopped: Bool { slots.values.allSatisfy { $0.instances.isEmpty } }

    func closeEverything() {
        for slot in slots.values {
            slot.listener.closeSocket()
            for instance in slot.instances { close(instance.stdinFD); unlink(instance.controlSocket) }
            slot.log.close()
        }
    }

    var workerPIDs: [pid_t] { slots.values.flatMap { $0.instances.map(\.pid) } }

    // MARK: - Health

    func tenantHealth() -> [String: TenantHealth] {
        let now = Date()
        var result: [String: TenantHealth] = [:]
        for name in order {
            guard let slot = slots[name] else { continue }
            let current = slot.current
            let health = current?.health
            let fresh = current?.lastHeartbeat.map { now.timeIntervalSince($0) <= config.supervisor.heartbeatTimeout.seconds } ?? false
            result[name] = TenantHealth(
                state: slot.state.rawValue,
                pid: current?.pid,
                uptimeS: current.map { (now.timeIntervalSince($0.startedAt) * 10).rounded() / 10 },
                restarts: slot.restarts,
                lastExit: slot.lastExit,
                listen: slot.listener.bound.description,
                status: fresh ? (health?.status ?? "unknown") : (slot.state == .running ? "unknown" : "down"),
                healthyTokens: fresh ? (health?.healthyTokens ?? 0) : 0,
                totalTokens: health?.totalTokens ?? slot.config.tokens.count,
                strategy: slot.config.strategy.rawValue,
                tokens: health?.tokens.map(\.brief) ?? slot.config.tokens.map {
                    TokenBrief(name: $0.name, fingerprint: Self.fingerprint(of: $0.source), state: "unknown")
                },
                requestsInFlight: fresh ? health?.requestsInFlight : nil,
                detail: slot.detail ?? slot.backoffUntil.map { "restarting in \(String(format: "%.1f", max(0, $0.timeIntervalSince(now))))s" }
            )
        }
        return result
    }

    static func fingerprint(of source: TokenSource) -> String {
        switch source {
        case .jwt(let jwt): return Shared.fingerprint(jwt)
        case .license(let id, _), .licenseRefresh(let id, _): return "license " + Shared.fingerprint(id)
        }
    }

    func health() -> FleetHealth {
        let tenants = tenantHealth()
        let canServe = tenants.values.filter { $0.state == "running" && $0.healthyTokens > 0 }.count
        let allGood = !tenants.isEmpty && tenants.values.allSatisfy {
            $0.state == "running" && $0.status == "ok" && $0.healthyTokens == $0.totalTokens
        }
        let status = allGood ? "ok" : (canServe > 0 ? "degraded" : "down")
        return FleetHealth(status: status, healthyTenants: canServe, totalTenants: tenants.count, tenants: tenants)
    }
}
