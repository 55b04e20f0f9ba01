import TensorCore
/// Why a media file could not be used: which file, what kind of problem, and a one-line
/// reason a person can act on.
public struct MediaError: ItemReasonError, Equatable, Sendable {
    public enum Kind: String, Sendable {
        case notFound          // no such file
        case unreadable        // permissions, a directory, an I/O error
        case empty             // zero bytes, or no samples / frames
        case unsupported       // a format or codec we cannot decode
        case corrupt           // the bytes do not decode (truncated, damaged)
        case tooLarge          // above a configured limit
        case noStream          // e.g. a video without a video stream
    }

    public let path: String
    public let kind: Kind
    public let reason: String

    public init(_ path: String, _ kind: Kind, _ reason: String) {
        self.path = path
        self.kind = kind
        // One line, always.
        self.reason = reason.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    public var description: String { "\(path): \(reason)" }

    /// The reason for a text file given as media, whatever its name.
    public static let textFileReason = "is a text file, not an image, audio or video file"
    public var itemReason: String { reason }
}

/// Limits checked before anything large is allocated.
public struct DecodeLimits: Sendable, Equatable {
    /// Images above this many pixels are refused (default 100 MP, `--max-pixels`).
    public var maxPixels: Int
    /// Audio longer than this is refused when set (`--max-duration`); nil = no limit.
    public var maxAudioSeconds: Double?

    public init(maxPixels: Int = 100_000_000, maxAudioSeconds: Double? = nil) {
        self.maxPixels = maxPixels
        self.maxAudioSeconds = maxAudioSeconds
    }

    public static let `default` = DecodeLimits()

    /// A pixel count as people read it: `300000 pixels`, `30 M pixels`, `1.2 M pixels`.
    public static func pixels(_ n: Int) -> String {
        n < 1_000_000 ? "\(n) pixels" : String(format: "%.3g M pixels", Double(n) / 1e6)
    }

    /// Why a `width`x`height` picture is refused (`what`: "image", "video frame"):
    /// `image size 451x300 (135300 pixels) is above the limit of 100000 pixels`.
    func refusal(_ what: String, _ width: Int, _ height: Int) -> String {
        let (n, overflow) = width.multipliedReportingOverflow(by: height)
        return "\(what) size \(width)x\(height) (\(overflow ? "too many pixels" : DecodeLimits.pixels(n))) is above the limit of \(DecodeLimits.pixels(maxPixels))"
    }
}
