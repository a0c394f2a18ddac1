import Foundation
import FuzzTargets

// Built two ways (see scripts/fuzz.sh):
// - with `-sanitize=fuzzer,address -DFUZZING`: libFuzzer's own `main` drives
//   `LLVMFuzzerTestOneInput`; the target is the first argument (`Fuzz sse CORPUS -max_total_time=600`),
//   or JBAI_FUZZ_TARGET;
// - in a normal build: `Fuzz TARGET FILE|DIR…` runs each file once through the target (to
//   reproduce a crash under the debugger, or replay a corpus without the sanitizers).

#if FUZZING
nonisolated(unsafe) private var selected: FuzzTarget?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    guard let args = argv.pointee else { return 0 }
    if argc.pointee > 1, let first = args[1], let target = FuzzTarget(rawValue: String(cString: first)) {
        selected = target
        // libFuzzer must not see the target name (it would take it for a corpus folder);
        // children it starts (-fork, -jobs) find the target in the environment.
        for i in 1..<Int(argc.pointee - 1) { args[i] = args[i + 1] }
        argc.pointee -= 1
        args[Int(argc.pointee)] = nil
        setenv("JBAI_FUZZ_TARGET", target.rawValue, 1)
    } else if let name = ProcessInfo.processInfo.environment["JBAI_FUZZ_TARGET"], let target = FuzzTarget(rawValue: name) {
        selected = target
    } else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        FileHandle.standardError.write(Data("usage: Fuzz TARGET [libFuzzer options] [CORPUS…]   (targets: \(names))\n".utf8))
        exit(2)
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 || data == nil ? Data() : Data(bytes: data!, count: size)
    selected?.run(bytes)
    return 0
}
#else
@main
enum FuzzReplay {
    static func main() {
        let args = CommandLine.arguments.dropFirst()
        guard let name = args.first, let target = FuzzTarget(rawValue: name) else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
            FileHandle.standardError.write(Data("usage: Fuzz TARGET FILE|DIR…   (targets: \(names))\n".utf8))
            exit(2)
        }
        var count = 0
        for path in args.dropFirst() {
            for file in files(at: path) {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                target.run(data)
                count += 1
            }
        }
        print("\(target.rawValue): \(count) input(s) replayed")
    }

    static func files(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
        guard isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { "\(path)/\($0)" }
    }
}
#endif
