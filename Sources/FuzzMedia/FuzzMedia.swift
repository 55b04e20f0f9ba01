import Foundation
import Media

/// Fuzz entry points for every decoder. Built two ways:
/// - normally: an executable that replays files (`mmpipe-fuzz NAME FILE...`), which is how
///   a crash found by the fuzzer is reproduced;
/// - by `scripts/fuzz NAME SECONDS` with `-D FUZZING -sanitize=fuzzer,address`: libFuzzer
///   supplies `main` and calls `LLVMFuzzerTestOneInput` with mutated bytes.
/// Errors are the expected outcome for garbage; only a crash, a hang or a leak is a finding.
enum FuzzTarget: String, CaseIterable {
    case png, jpeg, image, audio, video, probe

    /// Runs one input. Decoders that need a path get a temporary file in /dev/shm.
    func run(_ data: Data) {
        let limits = DecodeLimits(maxPixels: 4_000_000, maxAudioSeconds: 600)
        switch self {
        case .png, .jpeg:
            _ = try? ImageDecoder.decode(data: data, name: "fuzz", limits: limits)
        case .image, .audio, .video, .probe:
            let path = FuzzTarget.scratch
            guard FileManager.default.createFile(atPath: path, contents: data) else { return }
            switch self {
            case .image: _ = try? ImageDecoder.decode(path: path, limits: limits)
            case .audio:
                if let r = try? AudioReader(path: path, sampleRate: 16_000, limits: limits) {
                    var total = 0
                    while total < 16_000 * 60, let chunk = try? r.read(maxFrames: 16_000) { total += chunk.count }
                }
            case .video:
                if let v = try? VideoReader(path: path, limits: limits) {
                    var n = 0
                    while n < 5, (try? v.next(fps: 4)) != nil { n += 1 }
                }
            default: _ = try? MediaProbe.probe(path: path, limits: limits)
            }
        }
    }

    static let scratch: String = {
        let dir = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        return (dir as NSString).appendingPathComponent("mmpipe-fuzz-\(getpid())")
    }()

    /// Chosen by the `MMPIPE_FUZZ_TARGET` environment variable (libFuzzer owns argv).
    static let current: FuzzTarget = {
        let name = ProcessInfo.processInfo.environment["MMPIPE_FUZZ_TARGET"] ?? "png"
        return FuzzTarget(rawValue: name) ?? .png
    }()
}

#if FUZZING
typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: FuzzCallback) -> CInt

/// SwiftPM links executables with `main` aliased to `<module>_main`, so libFuzzer's own
/// `main` is not used: this one hands control to libFuzzer's driver.
@_cdecl("mmpipe_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        FuzzTarget.current.run(data.map { Data(bytes: $0, count: size) } ?? Data())
        return 0
    }
}
#else
@main
enum Replay {
    static func main() {
        let args = CommandLine.arguments.dropFirst()
        guard let name = args.first, let target = FuzzTarget(rawValue: name), args.count >= 2 else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
            FileHandle.standardError.write(Data("usage: mmpipe-fuzz \(names) FILE...\n".utf8))
            exit(2)
        }
        for file in args.dropFirst() {
            guard let data = FileManager.default.contents(atPath: file) else {
                FileHandle.standardError.write(Data("\(file): cannot read\n".utf8))
                exit(1)
            }
            target.run(data)
            print("\(file): ok")
        }
        try? FileManager.default.removeItem(atPath: FuzzTarget.scratch)
    }
}
#endif
