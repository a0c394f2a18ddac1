import Shared

/// `ctl start|stop|restart TENANT`: each only changes what is wanted; the reconcile pass acts.
extension FleetReconciler {
    mutating func run(_ command: TenantCommand, tenant name: String) -> ControlReply {
        guard var slot = slots[name], !slot.removing else { return ControlReply(ok: false, message: "no tenant named '\(escapingControlCharacters(name))'") }
        defer { slots[name] = slot }
        switch command {
        case .start:
            return start(&slot)
        case .stop:
            slot.wanted = false
            slot.fatal = false
            return ControlReply(ok: true, message: slot.current == nil ? "\(name) is stopped" : "\(name) stopping")
        case .restart:
            guard slot.current != nil, slot.state(shuttingDown: isShuttingDown) == .running else { return start(&slot) }
            slot.revision += 1
            slot.replaceAfter = nil
            return ControlReply(ok: true, message: "\(name) restarting (the new worker takes over once it answers)")
        }
    }

    /// Wanted again, with a clean crash record (this is what clears FATAL).
    private mutating func start(_ slot: inout Slot) -> ControlReply {
        slot.wanted = true
        slot.crashes.reset()
        if slot.current != nil {
            return ControlReply(ok: true, message: "\(slot.name) is already \(slot.state(shuttingDown: isShuttingDown).rawValue)")
        }
        slot.fatal = false
        slot.detail = nil
        slot.backoffUntil = nil
        return ControlReply(ok: true, message: "\(slot.name) starting")
    }
}
