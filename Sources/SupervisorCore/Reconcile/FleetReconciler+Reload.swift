import Shared

/// A new desired state: bind the listeners it needs (all or nothing), then adopt it.
extension FleetReconciler {
    mutating func propose(_ config: FleetConfig, now: ContinuousClock.Instant) {
        guard !isShuttingDown, proposal == nil else {
            let why = isShuttingDown ? "the supervisor is shutting down" : "another reload is binding its listeners"
            emit(.reply(.reload(ReloadReport(ok: false, errors: [why]))))
            return
        }
        let plan = ReloadPlan(running: order.compactMap { slots[$0].map { ($0.name, $0.desired) } }, new: config.tenants)
        let requests = plan.needsListener.map { ListenRequest(listener: newListenerID(), tenant: $0.name, address: $0.listen) }
        if requests.isEmpty {
            adopt(config, plan, listeners: [:], now: now)
        } else {
            proposal = Proposal(config: config, plan: plan, requests: requests)
            emit(.bind(requests))
        }
    }

    mutating func bound(_ result: Result<[ListenerID: ListenAddress], BindFailure>, now: ContinuousClock.Instant) {
        guard let proposal else { return }
        self.proposal = nil
        switch result {
        case .success(let addresses):
            var listeners: [String: (ListenerID, ListenAddress)] = [:]
            for request in proposal.requests {
                let bound = addresses[request.listener] ?? request.address
                openListeners.insert(request.listener)
                listeners[request.tenant] = (request.listener, bound)
            }
            adopt(proposal.config, proposal.plan, listeners: listeners, now: now)
        case .failure(let failure):
            reject(failure.messages)
        }
    }

    mutating func reject(_ errors: [String]) {
        record(.error, nil, "reload rejected, the fleet keeps running unchanged:\n" + errors.joined(separator: "\n"))
        var details: [String: String] = [:]
        for (i, error) in errors.enumerated() { details["error\(i + 1)"] = error }
        history(.reloadRejected, nil, "reload rejected: " + errors.joined(separator: "; "), details)
        emit(.reply(.reload(ReloadReport(ok: false, errors: errors))))
    }

    private mutating func adopt(
        _ config: FleetConfig, _ plan: ReloadPlan, listeners: [String: (ListenerID, ListenAddress)], now: ContinuousClock.Instant
    ) {
        let old = settings
        let new = config.supervisor
        if new.listen != old.listen || new.controlSocket != old.controlSocket || new.runDir != old.runDir || new.logDir != old.logDir {
            record(.warning, nil, "supervisor listen, control_socket, run_dir and log_dir changes take effect after a supervisor restart")
        }
        // The directories and servers stay as they were started.
        settings = new
        settings.listen = old.listen
        settings.controlSocket = old.controlSocket
        settings.runDir = old.runDir
        settings.logDir = old.logDir
        configPath = config.path

        var actions: [String: ReloadAction] = [:]
        for name in plan.removed where slots[name]?.removing == false {
            slots[name]?.removing = true
            actions[name] = .stopped
        }
        for tenant in plan.added {
            guard let (listener, bound) = listeners[tenant.name] else { continue }
            slots[tenant.name] = Slot(name: tenant.name, desired: tenant, listener: listener, bound: bound)
            order.append(tenant.name)
            record(.info, tenant.name, "listening on \(bound)")
            actions[tenant.name] = .started
        }
        for tenant in plan.unchanged {
            guard var slot = slots[tenant.name] else { continue }
            slot.desired = tenant
            if slot.removing {
                slot.removing = false
                slot.wanted = true
                actions[tenant.name] = .started
            } else if slot.fatal {
                clearFatal(&slot)
                actions[tenant.name] = .restarted
            } else {
                actions[tenant.name] = .unchanged
            }
            slots[tenant.name] = slot
        }
        for tenant in plan.changed {
            guard var slot = slots[tenant.name] else { continue }
            slot.desired = tenant
            slot.revision += 1
            if let (listener, bound) = listeners[tenant.name] {
                slot.listener = listener
                slot.bound = bound
                record(.info, tenant.name, "listening on \(bound)")
            }
            actions[tenant.name] = slot.removing ? .started : .replaced
            if slot.removing {
                slot.removing = false
                slot.wanted = true
            }
            // Down (backing off or FATAL): the new settings start now, with a clean record.
            if slot.current == nil, slot.wanted || slot.fatal { clearFatal(&slot) }
            slots[tenant.name] = slot
        }
        let summary = actions.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.rawValue)" }.joined(separator: ", ")
        record(.info, nil, "loaded \(config.path): \(summary)")
        history(.reloadApplied, nil, "loaded \(config.path): \(summary)", actions.mapValues(\.rawValue))
        emit(.reply(.reload(ReloadReport(ok: true, actions: actions))))
    }

    private func clearFatal(_ slot: inout Slot) {
        slot.fatal = false
        slot.wanted = true
        slot.crashes.reset()
        slot.backoffUntil = nil
        slot.detail = nil
    }
}
