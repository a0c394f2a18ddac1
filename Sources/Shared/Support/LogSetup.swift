import Foundation
import Logging

/// Logging setup shared by the three programs: one line per record on stderr.
public enum LogSetup {
    /// `LOG_LEVEL` (trace, debug, info, notice, warning, error, critical), else `info`.
    public static func levelFromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Logger.Level {
        environment["LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? .info
    }

    /// Sends every logger to stderr at `level`. Call once, before the first logger is made.
    public static func bootstrap(level: Logger.Level = levelFromEnvironment()) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
