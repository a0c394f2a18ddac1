import Foundation

/// How `until` (a quota's reset time) is written on the wire.
enum UntilFormat: String, Sendable, CaseIterable {
    /// A JSON number, epoch milliseconds (JetBrains' own client, the seed proxy).
    case epochMs = "epoch_ms"
    /// An ISO 8601 string, `2026-01-01T00:00:00Z`.
    case iso
    /// The epoch milliseconds as a JSON string, `"1767225600000"`.
    case epochMsString = "epoch_ms_string"
}

/// How quota amounts are written on the wire.
enum AmountFormat: String, Sendable, CaseIterable {
    /// `"12.0"`
    case string
    /// `12.0`
    case number
}

/// The shape of the quota answer (`POST /user/v5/quota/get`).
enum QuotaShape: String, Sendable, CaseIterable {
    /// `{"current": {"current": {"amount"}, "maximum": {"amount"}, "until"}}`
    case current
    /// `{"tariffQuota": {"current", "maximum", "available", "until"}, "topUpQuota": {"current", "maximum", "available"}}`
    case tariff
    /// `{"dailyUsed", "dailyTotal", "until": "<ISO>"}` (numbers and an ISO date, whatever the formats say)
    case old

    /// Also the old `--quota-format` names: `new` is `current`.
    init?(legacyName name: String) {
        switch name {
        case "new": self = .current
        default: self.init(rawValue: name)
        }
    }
}

/// The wire variants the simulator can play, switchable at runtime (`POST /_sim/protocol`) and
/// by command-line flag. The defaults follow what public clients of the real service see.
struct ProtocolSettings: Sendable, Equatable {
    var untilFormat: UntilFormat = .epochMs
    var amountFormat: AmountFormat = .string
    /// Every chat event carries `"event_type": "data"`.
    var eventType = true
    var quotaShape: QuotaShape = .current
    /// Extra metadata events (`UnknownMetadata`, `ExecutionMetadata`, `FunctionCallMetadata`),
    /// unknown fields on every event, `updated.license` and `updated.quotaID` in `QuotaMetadata`.
    var extraNoise = false
    /// A chat profile that is not in the profile list gets `400 Unsupported model [...]`.
    var rejectUnknownProfiles = true
    /// A parameter the profile's family does not take gets a 400 naming it (`ParameterFamily`).
    var rejectUnsupportedParameters = true
    /// A single tool call carries no `parallelToolIndex` (readers must take 0).
    var omitParallelIndexWhenSingle = false

    /// The JSON keys, in the order `GET /_sim/protocol` documents them.
    static let keys = [
        "until_format", "amount_format", "event_type", "quota_shape", "extra_noise",
        "reject_unknown_profiles", "reject_unsupported_parameters", "omit_parallel_index_when_single",
    ]

    var json: SimJSON {
        [
            "until_format": .string(untilFormat.rawValue),
            "amount_format": .string(amountFormat.rawValue),
            "event_type": .bool(eventType),
            "quota_shape": .string(quotaShape.rawValue),
            "extra_noise": .bool(extraNoise),
            "reject_unknown_profiles": .bool(rejectUnknownProfiles),
            "reject_unsupported_parameters": .bool(rejectUnsupportedParameters),
            "omit_parallel_index_when_single": .bool(omitParallelIndexWhenSingle),
        ]
    }

    /// These settings with the members of `json` merged over them. Unknown keys and wrong
    /// types are refused as a whole (nothing is applied).
    func merging(_ json: SimJSON) throws(AdminError) -> ProtocolSettings {
        guard let members = json.objectValue else { throw AdminError("protocol settings must be a JSON object") }
        var next = self
        for (key, value) in members {
            switch key {
            case "until_format": next.untilFormat = try Self.choice(value, key)
            case "amount_format": next.amountFormat = try Self.choice(value, key)
            case "quota_shape": next.quotaShape = try Self.choice(value, key)
            case "event_type": next.eventType = try Self.bool(value, key)
            case "extra_noise": next.extraNoise = try Self.bool(value, key)
            case "reject_unknown_profiles": next.rejectUnknownProfiles = try Self.bool(value, key)
            case "reject_unsupported_parameters": next.rejectUnsupportedParameters = try Self.bool(value, key)
            case "omit_parallel_index_when_single": next.omitParallelIndexWhenSingle = try Self.bool(value, key)
            default:
                throw AdminError("unknown protocol setting '\(key)'; known: \(Self.keys.joined(separator: ", "))")
            }
        }
        return next
    }

    private static func choice<T: RawRepresentable & CaseIterable>(_ value: SimJSON, _ key: String) throws(AdminError) -> T
    where T.RawValue == String {
        guard let text = value.stringValue, let parsed = T(rawValue: text) else {
            throw AdminError("'\(key)' must be one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return parsed
    }

    private static func bool(_ value: SimJSON, _ key: String) throws(AdminError) -> Bool {
        guard let bool = value.boolValue else { throw AdminError("'\(key)' must be a boolean") }
        return bool
    }

    // MARK: Writing values

    /// `until` as these settings write it.
    func until(_ date: Date) -> SimJSON {
        let ms = Int((date.timeIntervalSince1970 * 1000).rounded())
        switch untilFormat {
        case .epochMs: return .int(ms)
        case .iso: return .string(ISODate.format(date))
        case .epochMsString: return .string(String(ms))
        }
    }

    /// An amount as these settings write it.
    func amount(_ value: Double) -> SimJSON {
        switch amountFormat {
        case .string: return .string(SimJSON.format(value))
        case .number: return .double(value)
        }
    }
}
