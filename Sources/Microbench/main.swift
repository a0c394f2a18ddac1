// jbai-microbench: what observing one request (metrics, access log, key check) costs, in
// nanoseconds, measured in-process. Run by `scripts/bench.sh --only m`; prints a Markdown table.
import WorkerCore

let iterations = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 200_000
print("| step | ns per request |")
print("|---|---|")
for row in ObservationBench.run(iterations: iterations) {
    print("| \(row.name) | \(Int(row.nanosecondsPerRequest.rounded())) |")
}
