import Foundation
import Shared

/// Entry point for the control-protocol fuzz target (`Sources/FuzzTargets`): the documents the
/// supervisor reads from a worker's control socket (`WorkerHealth`, the heartbeat) and the ones
/// `ctl` reads from the supervisor's. A document that decodes must survive a round trip through
/// the encoder unchanged (both ends share these types). `package`: for this package's fuzz
/// targets and tests only.
package enum SupervisorFuzz {
    package static func controlDocuments(_ data: Data) {
        roundTrip(WorkerHealth.self, data)
        roundTrip(SupervisedStart.self, data)
        roundTrip(FleetHealth.self, data)
        roundTrip(FleetStatus.self, data)
        roundTrip(ReloadReport.self, data)
        roundTrip(ControlReply.self, data)
        roundTrip(LogTail.self, data)
    }

    private static func roundTrip<T: Codable & Equatable>(_ type: T.Type, _ data: Data) {
        guard let value = try? JSONDecoder.control().decode(T.self, from: data) else { return }
        // A value the encoder refuses (a non-finite number) is not a broken invariant of ours.
        guard let encoded = try? JSONEncoder.control().encode(value) else { return }
        let again = try? JSONDecoder.control().decode(T.self, from: encoded)
        precondition(again == value, "\(T.self) changed in an encode/decode round trip")
    }
}
