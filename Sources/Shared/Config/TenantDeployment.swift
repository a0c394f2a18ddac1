// The tenant keys only `render kubernetes` reads: `replicas`, `resources`, `state_volume`.
// A worker ignores them; they are in `TenantConfig` so the file has one validated model.

/// How a tenant runs on Kubernetes.
public struct TenantDeployment: Sendable, Equatable, Codable {
    /// Pods of this tenant (each keeps its own JWT pool state).
    public var replicas: Int
    /// Kubernetes resource requests and limits; nil: the renderer's measured default.
    public var resources: TenantResources?
    /// Where the worker's writable `state_dir` lives in the pod.
    public var stateVolume: StateVolume

    public init(replicas: Int = 1, resources: TenantResources? = nil, stateVolume: StateVolume = .emptyDir) {
        self.replicas = replicas
        self.resources = resources
        self.stateVolume = stateVolume
    }
}

/// `resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {memory: 256Mi}}`: resource name
/// (`cpu`, `memory`, `ephemeral-storage`) → Kubernetes quantity, as written.
public struct TenantResources: Sendable, Equatable, Codable {
    public var requests: [String: String]
    public var limits: [String: String]

    public init(requests: [String: String] = [:], limits: [String: String] = [:]) {
        self.requests = requests
        self.limits = limits
    }

    /// The resource names `resources` accepts.
    public static let names = ["cpu", "memory", "ephemeral-storage"]

    /// A Kubernetes quantity: a decimal number and an optional suffix (m, k, M, G, T, P, E,
    /// Ki, Mi, Gi, Ti, Pi, Ei), e.g. `100m`, `0.5`, `64Mi`, `1G`.
    public static func isQuantity(_ text: String) -> Bool {
        let suffixes = ["", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
        let number = text.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        let suffix = String(text.dropFirst(number.count))
        guard !number.isEmpty, number.filter({ $0 == "." }).count <= 1, number != "." else { return false }
        return suffixes.contains(suffix)
    }
}

/// `state_volume`: `emptyDir` (the default: state lives as long as the pod) or
/// `pvc:CLAIM` (an existing PersistentVolumeClaim, so rotated refresh tokens survive the pod).
public enum StateVolume: Sendable, Equatable, Codable {
    case emptyDir
    case claim(String)

    public init?(parsing text: String) {
        if text == "emptyDir" {
            self = .emptyDir
        } else if text.hasPrefix("pvc:"), Self.isValidClaimName(String(text.dropFirst(4))) {
            self = .claim(String(text.dropFirst(4)))
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .emptyDir: return "emptyDir"
        case .claim(let name): return "pvc:\(name)"
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = StateVolume(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "invalid state_volume"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// A DNS-1123 subdomain: lowercase letters, digits, '-' and '.', at most 253 characters.
    static func isValidClaimName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, let last = bytes.last, bytes.count <= 253 else { return false }
        func isLowerAlnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) }
        return isLowerAlnum(first) && isLowerAlnum(last) && bytes.allSatisfy { isLowerAlnum($0) || $0 == 0x2D || $0 == 0x2E }
    }
}
