import CFFmpeg

/// Sample conversion to mono Float: the mean of the channels, integer formats scaled by
/// 1/2^(bits-1) (so int16 x becomes exactly x/32768), unsigned 8-bit centred on 128.
/// Loops run over raw pointers (no per-sample array work) and vectorise in release builds.
enum AudioMixdown {
    /// Mixes an FFmpeg audio frame into `out` (`frame.nb_samples` floats).
    /// Returns false for a sample format it does not know.
    static func mix(_ frame: UnsafePointer<AVFrame>, into out: UnsafeMutablePointer<Float>) -> Bool {
        let n = Int(frame.pointee.nb_samples)
        let channels = Int(frame.pointee.ch_layout.nb_channels)
        guard n > 0, channels > 0, let planes = frame.pointee.extended_data else { return false }
        let format = AVSampleFormat(rawValue: frame.pointee.format)
        let planeCount = av_sample_fmt_is_planar(format) != 0 ? channels : 1
        guard (0..<planeCount).allSatisfy({ planes[$0] != nil }) else { return false }
        switch format {
        case AV_SAMPLE_FMT_FLTP: planar(planes, channels, n, out) { (x: Float) in x }
        case AV_SAMPLE_FMT_FLT: interleaved(planes, channels, n, out) { (x: Float) in x }
        case AV_SAMPLE_FMT_S16P: planar(planes, channels, n, out) { (x: Int16) in Float(x) * (1 / 32768) }
        case AV_SAMPLE_FMT_S16: interleaved(planes, channels, n, out) { (x: Int16) in Float(x) * (1 / 32768) }
        case AV_SAMPLE_FMT_S32P: planar(planes, channels, n, out) { (x: Int32) in Float(x) * (1 / 2_147_483_648) }
        case AV_SAMPLE_FMT_S32: interleaved(planes, channels, n, out) { (x: Int32) in Float(x) * (1 / 2_147_483_648) }
        case AV_SAMPLE_FMT_DBLP: planar(planes, channels, n, out) { (x: Double) in Float(x) }
        case AV_SAMPLE_FMT_DBL: interleaved(planes, channels, n, out) { (x: Double) in Float(x) }
        case AV_SAMPLE_FMT_U8P: planar(planes, channels, n, out) { (x: UInt8) in (Float(x) - 128) * (1 / 128) }
        case AV_SAMPLE_FMT_U8: interleaved(planes, channels, n, out) { (x: UInt8) in (Float(x) - 128) * (1 / 128) }
        case AV_SAMPLE_FMT_S64P: planar(planes, channels, n, out) { (x: Int64) in Float(x) * 0x1p-63 }
        case AV_SAMPLE_FMT_S64: interleaved(planes, channels, n, out) { (x: Int64) in Float(x) * 0x1p-63 }
        default: return false
        }
        return true
    }

    /// Mixes interleaved Float frames (libsndfile's output) into `out`.
    static func mix(interleaved src: UnsafePointer<Float>, channels: Int, frames n: Int,
                    into out: UnsafeMutablePointer<Float>) {
        var p = UnsafeMutablePointer(mutating: src)
        withUnsafePointer(to: &p) { planes in
            planes.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 1) {
                interleaved(UnsafeMutablePointer(mutating: $0), channels, n, out) { (x: Float) in x }
            }
        }
    }

    @inline(__always)
    private static func planar<T>(_ planes: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, _ channels: Int,
                                  _ n: Int, _ out: UnsafeMutablePointer<Float>, _ convert: (T) -> Float) {
        let first = UnsafeRawPointer(planes[0]!).assumingMemoryBound(to: T.self)
        for i in 0..<n { out[i] = convert(first[i]) }
        guard channels > 1 else { return }
        for c in 1..<channels {
            let p = UnsafeRawPointer(planes[c]!).assumingMemoryBound(to: T.self)
            for i in 0..<n { out[i] += convert(p[i]) }
        }
        let scale = 1 / Float(channels)
        for i in 0..<n { out[i] *= scale }
    }

    @inline(__always)
    private static func interleaved<T>(_ planes: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, _ channels: Int,
                                       _ n: Int, _ out: UnsafeMutablePointer<Float>, _ convert: (T) -> Float) {
        let p = UnsafeRawPointer(planes[0]!).assumingMemoryBound(to: T.self)
        switch channels {
        case 1:
            for i in 0..<n { out[i] = convert(p[i]) }
        case 2:
            for i in 0..<n { out[i] = (convert(p[2 * i]) + convert(p[2 * i + 1])) * 0.5 }
        default:
            let scale = 1 / Float(channels)
            for i in 0..<n {
                let row = p + i * channels
                var sum = convert(row[0])
                for c in 1..<channels { sum += convert(row[c]) }
                out[i] = sum * scale
            }
        }
    }
}
