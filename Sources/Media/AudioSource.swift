/// A decoder that yields mono Float blocks at the source's rate. AudioReader resamples and
/// buffers on top of it.
protocol AudioSource: AnyObject {
    var format: AudioFormat { get }
    /// The next block of mono samples and its sample rate, nil at the end. The buffer is
    /// valid until the next call.
    func nextBlock() throws -> (samples: UnsafeBufferPointer<Float>, rate: Int)?
    /// True when the decoder skipped damaged data or stopped before the end of the file.
    var hadErrors: Bool { get }
    /// Why decoding stopped early, if it did.
    var endReason: String? { get }
}
