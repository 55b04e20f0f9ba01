import Foundation
import Media
import TensorCore

/// Which files to probe, and the decode limits.
public struct ProbeRequest: Sendable {
    public var paths: [String]
    public var limits = DecodeLimits.default
    public init(paths: [String]) { self.paths = paths }
}

extension ProbeResult: TableRecord {
    public var tableLines: [String] { ["\(path)  \(summary)"] }
}

/// What each media file is, from its bytes, and whether it decodes.
public struct ProbeTask: Sendable {
    public let request: ProbeRequest
    public init(_ request: ProbeRequest) { self.request = request }

    public func run(into sink: any ResultSink<ProbeResult>, progress: Progress, workers: Int = Compute.threads) throws -> JobSummary {
        let limits = request.limits
        try request.validate()
        try InputPaths(request.paths).checkStandardInput(hint: "give media files by path")
        let inputs = InputPaths(request.paths) { MediaFormat.hasExtension($0, of: [.image, .audio, .video]) }
        return try Runner.run(into: sink, window: 4 * workers + 16, progress: progress) { job, skip in
            job.source(inputs, skip: skip)
                .map("decode", workers: workers) { _, item in
                    let result = try MediaProbe.probe(path: item.path, limits: limits)
                    for w in result.warnings ?? [] { job.progress.warn("\(item.path): \(w)") }
                    return result
                }
        }
    }
}
