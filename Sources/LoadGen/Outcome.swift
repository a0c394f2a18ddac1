import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How one request ended, as the client saw it.
enum Outcome: Hashable, Sendable {
    /// A 2xx answer, read to its end.
    case ok
    /// A complete answer with another status.
    case status(Int)
    /// The TCP connection was refused (nothing listening).
    case refused
    /// The TCP connection was not established within the connect timeout.
    case connectTimeout
    /// The peer reset the connection (RST, EPIPE).
    case reset
    /// The peer closed the connection before the answer was complete.
    case closed
    /// No complete answer within the request timeout.
    case timeout
    /// The answer could not be parsed as HTTP.
    case badResponse
    case other(String)

    var isSuccess: Bool { self == .ok }

    /// The key used in the JSON output: `ok`, `http_500`, `refused`, `reset`…
    var key: String {
        switch self {
        case .ok: return "ok"
        case .status(let code): return "http_\(code)"
        case .refused: return "refused"
        case .connectTimeout: return "connect_timeout"
        case .reset: return "reset"
        case .closed: return "closed"
        case .timeout: return "timeout"
        case .badResponse: return "bad_response"
        case .other(let text): return "error_\(text)"
        }
    }

    static func from(status: HTTPResponseStatus) -> Outcome {
        (200..<300).contains(Int(status.code)) ? .ok : .status(Int(status.code))
    }

    /// Maps a NIO error to an outcome.
    static func classify(_ error: any Error) -> Outcome {
        switch error {
        case let error as IOError:
            return from(errno: error.errnoCode)
        case let error as NIOConnectionError:
            // Every address failed; the first reason is representative (we connect to one address).
            if let first = error.connectionErrors.first { return classify(first.error) }
            return .other("connect")
        case let error as ChannelError:
            switch error {
            case .connectTimeout: return .connectTimeout
            case .ioOnClosedChannel, .alreadyClosed, .eof, .outputClosed, .inputClosed: return .closed
            default: return .other("channel")
            }
        case is HTTPParserError:
            return .badResponse
        case is CancellationError:
            return .other("cancelled")
        default:
            return .other(String(describing: type(of: error)))
        }
    }

    static func from(errno code: CInt) -> Outcome {
        switch code {
        case ECONNREFUSED: return .refused
        case ECONNRESET, EPIPE: return .reset
        case ETIMEDOUT: return .timeout
        default: return .other("errno_\(code)")
        }
    }
}

/// Monotonic and wall-clock time in the units the reports use.
enum Clock {
    /// Monotonic nanoseconds (CLOCK_MONOTONIC).
    static func nanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Unix time in seconds (CLOCK_REALTIME), as the orchestrating scripts write it.
    static func unixSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func micros(from start: UInt64, to end: UInt64) -> UInt64 {
        end >= start ? (end - start) / 1000 : 0
    }
}

/// Relates monotonic readings to Unix time: one pair taken at start.
struct TimeBase: Sendable {
    let nanos: UInt64
    let unix: Double

    init() {
        nanos = Clock.nanos()
        unix = Clock.unixSeconds()
    }

    func unix(_ monotonic: UInt64) -> Double {
        unix + (Double(monotonic) - Double(nanos)) / 1e9
    }
}
