import Foundation
import TensorCore

/// The one place where an error becomes the text a person reads: one line, naming the path
/// it is about. Foundation's file errors (`Error Domain=NSCocoaErrorDomain Code=516 ...
/// UserInfo={...}`) become `PATH: exists and is not a folder`, POSIX errors their
/// `strerror` text; the project's own errors keep their description.
public enum ErrorText {
    /// `error` as one line (`path: reason` when it is about a file).
    public static func describe(_ error: Error) -> String {
        let (path, reason) = parts(error)
        return oneLine(path.map { "\($0): \(reason)" } ?? reason)
    }

    /// `error` as the reason said after `path` (an input's failure line): without the path
    /// again when the error names that same path.
    public static func reason(_ error: Error, path: String) -> String {
        let (p, reason) = parts(error)
        guard let p, p != path else { return oneLine(reason) }
        return oneLine("\(p): \(reason)")
    }

    /// The path an error is about (nil when none), and what is wrong.
    static func parts(_ error: Error) -> (path: String?, reason: String) {
        switch error {
        case let e as RequestError: return (nil, e.description)
        case let e as ItemFailure:
            // A reason that is another error's whole description names the path again.
            let prefix = e.path + ": "
            return (e.path, e.reason.hasPrefix(prefix) ? String(e.reason.dropFirst(prefix.count)) : e.reason)
        case let e as FileAccessError: return (e.path, e.problem)
        case let e as WeightFileError: return (e.path, e.problem)
        default:
            if let foundation = foundationParts(error as NSError) { return foundation }
            return (nil, String(describing: error))
        }
    }

    /// Foundation's file errors (Cocoa and POSIX domains) in words; nil for other errors.
    static func foundationParts(_ e: NSError) -> (path: String?, reason: String)? {
        let path = (e.userInfo[NSFilePathErrorKey] as? String) ?? (e.userInfo[NSURLErrorKey] as? URL)?.path
        let underlying = e.userInfo[NSUnderlyingErrorKey] as? NSError
        let posix = underlying.flatMap { $0.domain == NSPOSIXErrorDomain ? Int32($0.code) : nil }
        if e.domain == NSPOSIXErrorDomain { return (path, String(cString: strerror(Int32(e.code)))) }
        guard e.domain == NSCocoaErrorDomain else { return nil }
        let reason: String
        switch e.code {
        case NSFileNoSuchFileError, NSFileReadNoSuchFileError: reason = "no such file or folder"
        case NSFileReadNoPermissionError: reason = "cannot read it (permission denied)"
        case NSFileWriteNoPermissionError: reason = "cannot write there (permission denied)"
        case NSFileWriteFileExistsError:
            var isDir: ObjCBool = false
            if let path, FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue {
                reason = "exists and is not a folder"
            } else {
                reason = "already exists"
            }
        case NSFileWriteOutOfSpaceError: reason = "no space left on the device"
        case NSFileWriteVolumeReadOnlyError: reason = "the volume is read-only"
        case NSFileReadCorruptFileError: reason = "the file is damaged or not in the expected format"
        case NSFileReadInapplicableStringEncodingError: reason = "not valid text in the expected encoding"
        default:
            if let posix { reason = String(cString: strerror(posix)) } else { reason = e.localizedDescription }
        }
        return (path, reason)
    }

    static func oneLine(_ s: String) -> String { s.split(whereSeparator: \.isNewline).joined(separator: " ") }
}
