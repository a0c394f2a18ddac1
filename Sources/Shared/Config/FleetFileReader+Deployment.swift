import Foundation

extension FleetFileReader {
    // MARK: - replicas, resources, state_volume (read by `render kubernetes` only)

    func readDeployment(_ f: ConfigFields) -> TenantDeployment {
        var deployment = TenantDeployment()
        if let v = f["replicas"].flatMap({ int($0, minimum: 1) }) { deployment.replicas = v }
        if let i = f["resources"] { deployment.resources = readResources(i) }
        if let i = f["state_volume"], let text = text(i) {
            let value = text.value.trimmingCharacters(in: .whitespaces)
            if let volume = StateVolume(parsing: value) {
                deployment.stateVolume = volume
            } else {
                error(i, "invalid state_volume \(text.display) (expected emptyDir, or pvc:CLAIM naming an existing "
                    + "PersistentVolumeClaim)")
            }
        }
        return deployment
    }

    /// `resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {memory: 256Mi}}`
    func readResources(_ item: ConfigItem) -> TenantResources? {
        guard let f = fields(of: item, allowedKeys: FleetKeys.resources) else { return nil }
        var resources = TenantResources()
        for (key, keyPath) in [("requests", \TenantResources.requests), ("limits", \TenantResources.limits)] {
            guard let i = f[key], let values = fields(of: i, allowedKeys: TenantResources.names) else { continue }
            for entry in values.entries where !entry.isDuplicate {
                guard let text = text(entry.item) else { continue }
                let value = text.value.trimmingCharacters(in: .whitespaces)
                if TenantResources.isQuantity(value) {
                    resources[keyPath: keyPath][entry.key] = value
                } else {
                    error(entry.item, "invalid quantity \(text.display) (expected e.g. 100m or 0.5 for cpu, 64Mi or 1Gi for memory)")
                }
            }
        }
        return resources
    }
}
