import Foundation

/// An on/off setting from the environment, read the same way everywhere (`SWIFTPS_IPC`,
/// `SWIFTPS_MALLOC_TUNING`, `MXNET_UPDATE_ON_KVSTORE`): `0`, `off`, `false` or `no`, in any case
/// and with surrounding spaces, turns it off; anything else, or no value, leaves it on.
public enum EnvironmentFlag {
    /// Whether `environment[name]` turns the setting off.
    public static func isOff(_ name: String, in environment: [String: String]) -> Bool {
        guard let value = environment[name]?.trimmingCharacters(in: .whitespaces).lowercased() else { return false }
        return ["0", "off", "false", "no"].contains(value)
    }
}
