import Foundation
import Media
import Models
import TensorCore

/// Images and videos for an image encoder: which files, how video frames are sampled, and
/// how many images go through one forward pass.
public struct ImageInputs: Sendable {
    public var paths: [String]
    public var batchSize = 8
    /// Video frames sampled per second, and at most this many per video.
    public var fps = 1.0
    public var maxFrames = 300
    /// Only this part of the inputs (`--shard I/N`).
    public var shard: Shard?

    public init(paths: [String]) { self.paths = paths }

    /// Refuses image or video bytes piped to `-` (which reads paths, one per line).
    public func checkStandardInput() throws {
        try InputPaths(paths).checkStandardInput(hint: "give image and video files by path")
    }

    /// Bounds the items between source and sink.
    var window: Int { 4 * batchSize + 8 }

    /// Decode workers and the batching encoder. One decoder per core: a busy decoder holds
    /// a core of the compute budget, so the forward pass then runs on the cores left
    /// (compute threads + busy decoders never exceed the cores).
    func encode(_ job: Job, session: VisionSession,
                skip: @escaping @Sendable (SourceItem) -> Bool) -> Flow<(PreparedPixels, VisionFeatures)> {
        let (fps, maxFrames) = (self.fps, self.maxFrames)
        return job.source(InputPaths(paths, shard: shard) { MediaFormat.hasExtension($0, of: [.image, .video]) }, skip: skip)
            .map("decode", workers: Compute.threads) { _, item in try session.prepare(path: item.path, fps: fps, maxFrames: maxFrames) }
            .batch(VisionEncodeStage(session: session, batchSize: batchSize))
    }
}

extension Runner {
    /// As `run(into:...)` for tasks whose inputs give several records each (video frames).
    public static func run<R: Sendable>(rowsInto sink: any ResultSink<R>, window: Int, progress: Progress, control: JobControl? = nil,
                                        graph: (Job, @escaping @Sendable (SourceItem) -> Bool) -> Flow<[R]>) throws -> JobSummary {
        try run(into: RowsSink(sink), window: window, progress: progress, control: control, graph: graph)
    }
}

/// Hands each record of an input's list to the sink underneath.
final class RowsSink<R>: ResultSink {
    let inner: any ResultSink<R>
    init(_ inner: any ResultSink<R>) { self.inner = inner }
    func isDone(_ item: SourceItem) -> Bool { inner.isDone(item) }
    func begin() throws { try inner.begin() }
    func write(_ rows: [R], for source: SourceItem) throws { for r in rows { try inner.write(r, for: source) } }
    func failed(_ failure: ItemFailure, for source: SourceItem) throws { try inner.failed(failure, for: source) }
    func finish() throws { try inner.finish() }
}
