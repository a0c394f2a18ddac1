import Foundation
import Logging
import NIOPosix
import ServiceLifecycle
import Shared

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The only place the supervisor has effects. It feeds events to the reconciler, performs the
/// actions it gets back — binding sockets, spawning and signalling workers, talking to their
/// control sockets, writing logs — and feeds the results back as events. Actions that finish at
/// once (bind, spawn) answer before the next event; the others (heartbeats, pause, drain) run as
/// child tasks of `run()` and answer when they are done.
actor FleetRuntime {
    typealias Job = @Sendable () async -> Void

    private var reconciler: FleetReconciler
    private let clock = ContinuousClock()
    private let startedAt: ContinuousClock.Instant
    private var workerBinary: String
    /// Log files are set up once, at start (`log_dir` changes need a restart).
    private let logSettings: SupervisorSettings
    private let control: UnixHTTPClient
    private let logger: Logger
    private nonisolated let jobs: AsyncStream<Job>
    private nonisolated let jobQueue: AsyncStream<Job>.Continuation
    private var processes: [WorkerID: WorkerProcess] = [:]
    private var workerIDs: [Int32: WorkerID] = [:]
    private var listeners: [ListenerID: ListenerSocket] = [:]
    /// Listeners the supervisor answers itself (no worker serving them).
    private var answerers: [ListenerID: BacklogAnswerer] = [:]
    private var logs: [String: LogSink] = [:]
    private(set) var isFinished = false
    private var initialConfig: FleetConfig?
    /// The reload being read, if any: reloads run one after the other, in the order asked.
    private var reloading: Task<ReloadReport, Never>?
    private var history: EventHistory
    private var metrics = FleetMetrics()
    /// Each worker's metrics text, fetched with its last heartbeat.
    private var workerMetrics: [WorkerID: String] = [:]
    /// `ctl events --follow` streams.
    private var followers: [Int: (tenant: String?, continuation: AsyncStream<HistoryEntry>.Continuation)] = [:]
    private var followerIDs = 0

    /// A started worker process and what the runtime holds for it.
    private struct WorkerProcess {
        var pid: Int32
        var stdinFD: CInt
        var controlSocket: String
    }

    struct StartupError: Error, CustomStringConvertible {
        var description: String
    }

    init(config: FleetConfig, workerBinary: String, control: UnixHTTPClient, logger: Logger) {
        reconciler = FleetReconciler(settings: config.supervisor, configPath: config.path, seed: UInt64.random(in: .min ... .max))
        startedAt = clock.now
        self.workerBinary = workerBinary
        logSettings = config.supervisor
        self.control = control
        self.logger = logger
        initialConfig = config
        history = EventHistory(capacity: config.supervisor.eventHistory)
        (jobs, jobQueue) = AsyncStream<Job>.makeStream()
    }

    /// Binds every tenant's listener (all or nothing) and starts their workers.
    func start() throws {
        guard let config = initialConfig else { return }
        initialConfig = nil
        let s = config.supervisor
        try PrivateDirectory.make(s.runDir, mode: 0o700)
        if let logDir = s.logDir { try PrivateDirectory.make(logDir, mode: 0o750) }
        guard case .reload(let report)? = submit(.desired(config)) else {
            throw StartupError(description: "the fleet did not start")
        }
        guard report.ok else { throw StartupError(description: report.errors.joined(separator: "\n")) }
    }

    /// Handles one event and everything it leads to at once; returns the reply, if it has one.
    @discardableResult
    func submit(_ event: FleetEvent) -> FleetReply? {
        var queue = [event]
        var reply: FleetReply?
        while !queue.isEmpty {
            for action in reconciler.handle(queue.removeFirst(), now: clock.now) {
                if case .reply(let answer) = action { reply = answer }
                if let feedback = perform(action) { queue.append(feedback) }
            }
        }
        return reply
    }

    // MARK: - Performing actions

    private func perform(_ action: FleetAction) -> FleetEvent? {
        switch action {
        case .bind(let requests):
            return bind(requests)
        case .spawn(let order):
            return spawn(order)
        case .probe(let id, let timeout):
            guard let socket = processes[id]?.controlSocket else { return .heartbeatMissed(id) }
            launch { [control] in
                // The metrics come with the heartbeat, so a scrape of the supervisor never waits on a worker.
                async let text = try? control.workerMetrics(socket: socket, timeout: timeout)
                let health = await Self.probe(control, socket: socket, timeout: timeout)
                let metrics = await text
                await self.heard(id, health: health, metrics: metrics)
            }
        case .pause(let id):
            guard let socket = processes[id]?.controlSocket else { return .paused(id) }
            launch { [control] in
                try? await control.setAccepting(false, socket: socket, timeout: .seconds(2))
                await self.submit(.paused(id))
            }
        case .resume(let id):
            guard let socket = processes[id]?.controlSocket else { return nil }
            launch { [control] in try? await control.setAccepting(true, socket: socket, timeout: .seconds(2)) }
        case .drain(let id):
            guard let socket = processes[id]?.controlSocket else { return nil }
            launch { [control] in
                do {
                    try await control.drain(socket: socket, timeout: .seconds(2))
                } catch {
                    await self.submit(.drainRefused(id))
                }
            }
        case .terminate(let id):
            if let pid = processes[id]?.pid { kill(pid, SIGTERM) }
        case .kill(let id):
            if let pid = processes[id]?.pid {
                // The worker leads its own process group: take the whole group.
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
            }
        case .closeListener(let id):
            answerers.removeValue(forKey: id)?.close()
            listeners.removeValue(forKey: id)?.closeSocket()
        case .answerBacklog(let notice):
            answerBacklog(notice)
        case .stopAnswering(let listener, let worker):
            let socket = worker.flatMap { processes[$0]?.controlSocket }
            let handOver: @Sendable () async -> Void = { [control] in
                guard let socket else { return }
                // The worker just answered its control socket; one retry covers a hiccup.
                for _ in 0..<2 {
                    if (try? await control.setAccepting(true, socket: socket, timeout: .seconds(2))) != nil { return }
                }
            }
            if let answerer = answerers[listener] {
                answerer.pause(then: handOver)
            } else {
                launch(handOver)
            }
        case .closeLog(let tenant):
            logs.removeValue(forKey: tenant)?.close()
        case .record(let record):
            if let tenant = record.tenant {
                logger.log(level: record.level, "tenant \(tenant): \(record.message)")
                log(for: tenant).note(record.message)
            } else {
                logger.log(level: record.level, "\(record.message)")
            }
        case .history(let event):
            remember(event)
        case .reply:
            break
        case .finished:
            isFinished = true
            for follower in followers.values { follower.continuation.finish() }
            followers = [:]
        }
        return nil
    }

    private func heard(_ id: WorkerID, health: WorkerHealth?, metrics: String?) {
        workerMetrics[id] = health != nil && processes[id] != nil ? metrics : nil
        submit(health.map { .heartbeat(id, $0) } ?? .heartbeatMissed(id))
    }

    private func remember(_ event: FleetHistoryEvent) {
        let entry = history.append(event, at: Date())
        metrics.record(event)
        for (key, follower) in followers where EventHistory.matches(entry, tenant: follower.tenant) {
            if case .terminated = follower.continuation.yield(entry) { followers.removeValue(forKey: key) }
        }
    }

    /// Starts answering a listener (or updates what it answers).
    private func answerBacklog(_ notice: BacklogNotice) {
        if let answerer = answerers[notice.listener] {
            answerer.update(notice)
            answerer.accept()
            return
        }
        guard let listener = listeners[notice.listener] else { return }
        let tenant = reconciler.slots[notice.tenant]?.desired
        do {
            let answerer = try BacklogAnswerer(
                listener: notice.listener, fd: listener.fd, backlog: listener.backlog, notice: notice,
                maxBodySize: tenant?.maxBodySize ?? TenantDefaults.maxBodySize, limits: tenant?.limits ?? .publicListener,
                logger: logger
            )
            answerers[notice.listener] = answerer
            launch { await answerer.run() }
        } catch {
            logger.error("tenant \(notice.tenant): cannot answer its listener: \(error)")
        }
    }

    /// `GET /health` on a worker's control socket, tried again every 10 ms until `timeout`
    /// while the socket is not there yet or refuses (a starting worker), so a new worker is
    /// known to be up within milliseconds.
    static func probe(_ control: UnixHTTPClient, socket: String, timeout: Duration) async -> WorkerHealth? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let remaining = deadline - clock.now
            guard remaining > .zero else { return nil }
            do {
                return try await control.workerHealth(socket: socket, timeout: remaining)
            } catch {
                guard deadline - clock.now > .milliseconds(10) else { return nil }
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
    }

    private func bind(_ requests: [ListenRequest]) -> FleetEvent {
        var bound: [ListenerID: ListenerSocket] = [:]
        var errors: [String] = []
        for request in requests {
            do {
                bound[request.listener] = try ListenerSocket(binding: request.address)
            } catch {
                errors.append("tenants.\(request.tenant).listen: \(error)")
            }
        }
        guard errors.isEmpty else {
            for listener in bound.values { listener.closeSocket() }
            return .bound(.failure(BindFailure(messages: errors)))
        }
        listeners.merge(bound) { _, new in new }
        return .bound(.success(bound.mapValues(\.bound)))
    }

    private func spawn(_ order: SpawnOrder) -> FleetEvent {
        let id = order.worker
        guard let listener = listeners[order.listener] else { return .spawnFailed(id, reason: "its listener is closed") }
        do {
            try UnixSocketFile.clear(order.controlSocket, what: "the worker control socket")
        } catch {
            return .spawnFailed(id, reason: "\(error)")
        }
        let process: SpawnedProcess
        let line: Data
        do {
            line = try JSONEncoder.control().encode(order.start) + Data("\n".utf8)
            process = try Spawner.spawn(
                executable: workerBinary,
                arguments: ["--tenant", id.tenant, "--settings-from-stdin", "--control-socket", order.controlSocket],
                environment: Self.workerEnvironment(ProcessInfo.processInfo.environment),
                listenerFD: listener.fd,
                listenerName: id.tenant
            )
        } catch {
            return .spawnFailed(id, reason: "\(error)")
        }
        processes[id] = WorkerProcess(pid: process.pid, stdinFD: process.stdinFD, controlSocket: order.controlSocket)
        workerIDs[process.pid] = id
        // Written off the actor (a worker that does not read would block us); a dup keeps the
        // fd number valid even if the worker exits and we close the original meanwhile.
        // Close-on-exec like the original, or the next worker spawned before this write ends
        // would inherit it (and keep this worker's stdin open after we are gone).
        let settingsFD = fcntl(process.stdinFD, F_DUPFD_CLOEXEC, 0)
        launch {
            _ = writeAll(settingsFD, Array(line))
            close(settingsFD)
        }
        let log = log(for: id.tenant)
        let outputFD = process.outputFD
        let pid = process.pid
        launch {
            await log.drain(outputFD)
            // Its output closed: the worker is gone (or going), reap it now rather than at the
            // next tick, so a crash is restarted within milliseconds.
            await self.reapSoon(pid)
        }
        return .spawned(id, pid: process.pid)
    }

    /// What a worker inherits from our environment: the basics, never the variables the fleet
    /// file's `${…}` secrets came from (the worker gets resolved settings on stdin instead).
    static func workerEnvironment(_ env: [String: String]) -> [String: String] {
        let kept: Set<String> = ["PATH", "HOME", "USER", "LANG", "TZ", "TMPDIR", "LOG_LEVEL"]
        return env.filter { kept.contains($0.key) || $0.key.hasPrefix("LC_") || $0.key.hasPrefix("JBAI_") }
    }

    private func log(for tenant: String) -> LogSink {
        if let sink = logs[tenant] { return sink }
        let sink = LogSink(
            tenant: tenant, directory: logSettings.logDir, maxBytes: logSettings.logMaxBytes, backups: logSettings.logBackups
        )
        logs[tenant] = sink
        return sink
    }

    private nonisolated func launch(_ job: @escaping Job) {
        jobQueue.yield(job)
    }

    // MARK: - Exits and time

    /// Reaps exited workers and lets time pass for the reconciler.
    func tick() {
        reap()
        submit(.tick)
    }

    private func reap() {
        for (pid, exit) in ChildReaper.reap() {
            guard let id = workerIDs.removeValue(forKey: pid), let process = processes.removeValue(forKey: id) else { continue }
            close(process.stdinFD)
            UnixSocketFile.removeIfSocket(process.controlSocket)
            workerMetrics.removeValue(forKey: id)
            submit(.exited(id, exit))
        }
    }

    /// Reaps `pid` as soon as it has exited (its output pipe closing comes a moment before the
    /// kernel makes it a zombie); after 200 ms the tick takes over.
    private func reapSoon(_ pid: Int32) async {
        for _ in 0..<100 {
            reap()
            if workerIDs[pid] == nil { return }
            try? await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Closes whatever is still open (after a cancelled run; a finished one closed it already).
    func closeEverything() {
        for follower in followers.values { follower.continuation.finish() }
        followers = [:]
        for answerer in answerers.values { answerer.close() }
        answerers = [:]
        for listener in listeners.values { listener.closeSocket() }
        listeners = [:]
        for process in processes.values {
            close(process.stdinFD)
            UnixSocketFile.removeIfSocket(process.controlSocket)
        }
        for log in logs.values { log.close() }
        logs = [:]
    }

    // MARK: - Queries and commands

    /// How many recent events `/health` carries (for the status page).
    static let healthEvents = 25

    func health() -> FleetHealth {
        var health = reconciler.health(now: clock.now, wallNow: Date())
        health.events = history.last(Self.healthEvents)
        return health
    }

    /// The whole fleet's metrics: ours, and every answering worker's with its tenant label.
    func metricsText() -> String {
        let views = reconciler.metricsViews(now: clock.now)
        let own = metrics.exposition(views.map(\.view))
        let workers = views.compactMap { v in v.worker.flatMap { workerMetrics[$0] }.map { (tenant: v.view.name, text: $0) } }
        return Exposition.merge(own: own, workers: workers)
    }

    /// The last `limit` events (of one tenant, when given).
    func events(_ limit: Int, tenant: String?) -> [HistoryEntry] {
        history.last(limit, tenant: tenant)
    }

    /// The last `limit` events, then each new one as it happens, until the consumer stops
    /// reading or the supervisor finishes.
    func follow(_ limit: Int, tenant: String?) -> AsyncStream<HistoryEntry> {
        let (stream, continuation) = AsyncStream<HistoryEntry>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        for entry in history.last(limit, tenant: tenant) { continuation.yield(entry) }
        if isFinished {
            continuation.finish()
        } else {
            followerIDs += 1
            followers[followerIDs] = (tenant, continuation)
        }
        return stream
    }

    func status() -> FleetStatus {
        let now = clock.now
        return FleetStatus(
            supervisorPid: getpid(),
            uptimeS: ((now - startedAt).seconds * 10).rounded() / 10,
            config: reconciler.configPath,
            tenants: reconciler.tenantHealth(now: now, wallNow: Date())
        )
    }

    var tenantNames: [String] { reconciler.tenantNames }

    /// The control sockets of the serving workers (of one tenant, when given), for `ctl usage`;
    /// nil when the tenant is unknown. Tenants without a serving worker are listed with nil.
    func usageSockets(_ tenant: String?) -> [(tenant: String, socket: String?)]? {
        if let tenant, reconciler.slots[tenant] == nil { return nil }
        return reconciler.metricsViews(now: clock.now)
            .filter { tenant == nil || $0.view.name == tenant }
            .map { (tenant: $0.view.name, socket: $0.worker.flatMap { processes[$0]?.controlSocket }) }
    }

    /// Asks each worker's control socket for its ledger's rows (`GET /usage`).
    nonisolated func usage(_ sockets: [(tenant: String, socket: String?)], query: String) async -> UsageReport {
        await withTaskGroup(of: (String, Result<[UsageReport.Row], UsageReport.Problem>).self) { group in
            for (tenant, socket) in sockets {
                group.addTask { [control] in
                    guard let socket else { return (tenant, .failure(.init(message: "no worker is serving"))) }
                    do {
                        let response = try await control.send(.GET, socket: socket, path: "/usage?" + query, timeout: .seconds(30))
                        let data = Data(response.body.readableBytesView)
                        guard response.status == 200 else {
                            return (tenant, .failure(.init(message: "the worker answered \(response.status): \(String(decoding: data.prefix(300), as: UTF8.self))")))
                        }
                        return (tenant, .success(try JSONDecoder().decode([UsageReport.Row].self, from: data)))
                    } catch {
                        return (tenant, .failure(.init(message: "the worker did not answer (\(error))")))
                    }
                }
            }
            var report = UsageReport(rows: [], problems: [:])
            for await (tenant, result) in group {
                switch result {
                case .success(let rows): report.rows += rows
                case .failure(let problem): report.problems[tenant] = problem.message
                }
            }
            report.rows.sort { ($0.tenant, $0.group) < ($1.tenant, $1.group) }
            return report
        }
    }

    func logs(_ tenant: String, lines: Int) -> LogTail? {
        guard reconciler.slots[tenant] != nil else { return nil }
        return LogTail(tenant: tenant, lines: log(for: tenant).lastLines(lines))
    }

    func run(_ command: TenantCommand, tenant: String) -> ControlReply {
        guard case .command(let reply)? = submit(.command(command, tenant: tenant)) else {
            return ControlReply(ok: false, message: "no answer for \(command.rawValue) \(tenant)")
        }
        return reply
    }

    /// Re-reads the fleet file; an invalid one changes nothing. The file is read and validated
    /// on a thread of its own (a big file takes seconds): meanwhile the supervisor keeps
    /// answering, reaping and probing, and only the result comes back here, as an event.
    func reload() async -> ReloadReport {
        let previous = reloading
        let task = Task { [configPath = reconciler.configPath] in
            _ = await previous?.value
            let read = await Self.read(configPath)
            return self.apply(read)
        }
        reloading = task
        return await task.value
    }

    /// What a reload read: the new desired state (and the worker binary it names), or why not.
    private enum ReadResult: Sendable {
        case config(FleetConfig, workerBinary: String?)
        case rejected([String])
    }

    private static func read(_ path: String) async -> ReadResult {
        let work: @Sendable () -> ReadResult = {
            do {
                let config = try FleetConfigLoader.load(path: path)
                return .config(config, workerBinary: try? SupervisorRunner.workerBinary(for: config))
            } catch let error as ConfigError {
                return .rejected(error.diagnostics.map(\.description))
            } catch {
                return .rejected(["\(error)"])
            }
        }
        do {
            return try await NIOThreadPool.singleton.runIfActive(work)
        } catch {
            return .rejected(["the fleet file could not be read: \(error)"])
        }
    }

    private func apply(_ read: ReadResult) -> ReloadReport {
        let event: FleetEvent
        switch read {
        case .config(let config, let binary):
            if let binary {
                workerBinary = binary
            } else {
                logger.warning("worker binary for the new file not found; keeping \(workerBinary)")
            }
            event = .desired(config)
        case .rejected(let errors):
            event = .rejected(errors: errors)
        }
        guard case .reload(let report)? = submit(event) else { return ReloadReport(ok: false, errors: ["no answer"]) }
        return report
    }
}

extension FleetRuntime: Service {
    /// Runs the reconcile clock and the actions' child tasks until every worker is gone after a
    /// graceful shutdown (SIGTERM/SIGINT, through the service group).
    nonisolated func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask {
                do {
                    try await gracefulShutdown()
                    await self.submit(.shutdown)
                } catch {
                    // Cancelled: the run is over anyway.
                }
            }
            group.addTask {
                // Ten times a second: reap, check deadlines, send due heartbeats.
                while !Task.isCancelled, await !self.isFinished {
                    await self.tick()
                    try? await Task.sleep(for: .milliseconds(100))
                }
                self.jobQueue.finish()
            }
            for await job in jobs {
                group.addTask { await job() }
            }
            group.cancelAll()
        }
        await closeEverything()
    }
}
