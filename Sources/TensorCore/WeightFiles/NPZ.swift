import Foundation
import ZIPFoundation

/// A NumPy `.npz` archive (`np.savez`, `np.savez_compressed`): a zip of `.npy` members,
/// read with ZIPFoundation (stored and deflated members, zip64, CRC-32 checked).
///
/// - Important: not thread-safe (the archive is read through one file position).
public final class NPZFile {
    public struct Member: Sendable, Equatable {
        public let name: String
        public let isCompressed: Bool
        /// Uncompressed size in bytes.
        public let size: Int
    }

    public let path: String
    /// The members in archive order.
    public let members: [Member]
    private let archive: Archive
    private let entries: [String: ZIPFoundation.Entry]

    public convenience init(contentsOf url: URL) throws {
        guard FileManager.default.isReadableFile(atPath: url.path) else {
            throw WeightFileError(path: url.path, "cannot read: no such file, or not readable")
        }
        let archive: Archive
        do { archive = try Archive(url: url, accessMode: .read) } catch {
            throw WeightFileError(path: url.path, "not a zip archive (\(NPZFile.describe(error)))")
        }
        try self.init(archive, path: url.path)
    }

    /// An archive held in memory; `path` names it in errors.
    public convenience init(data: Data, path: String) throws {
        let archive: Archive
        do { archive = try Archive(data: data, accessMode: .read) } catch {
            throw WeightFileError(path: path, "not a zip archive (\(NPZFile.describe(error)))")
        }
        try self.init(archive, path: path)
    }

    private init(_ archive: Archive, path: String) throws {
        self.archive = archive
        self.path = path
        var members: [Member] = []
        var entries: [String: ZIPFoundation.Entry] = [:]
        for e in archive where e.type == .file {
            guard let size = Int(exactly: e.uncompressedSize) else {
                throw WeightFileError(path: path, "member \(e.path) is too large (\(e.uncompressedSize) bytes)")
            }
            members.append(Member(name: e.path, isCompressed: e.isCompressed, size: size))
            entries[e.path] = e
        }
        self.members = members
        self.entries = entries
    }

    /// The uncompressed bytes of a member (`"mel_80.npy"`), CRC-32 checked.
    public func data(of name: String) throws -> Data {
        guard let entry = entries[name] else {
            throw WeightFileError(path: path, "no member '\(name)' (members: \(members.map(\.name).joined(separator: ", ")))")
        }
        var out = Data()
        if let size = Int(exactly: entry.uncompressedSize) { out.reserveCapacity(size) }
        do {
            _ = try archive.extract(entry, skipCRC32: false) { out.append($0) }
        } catch Archive.ArchiveError.invalidCRC32 {
            throw WeightFileError(path: path, "member \(name): CRC-32 mismatch (damaged file)")
        } catch {
            throw WeightFileError(path: path, "member \(name): cannot extract (\(NPZFile.describe(error)))")
        }
        guard out.count == entry.uncompressedSize else {
            throw WeightFileError(path: path, "member \(name): \(out.count) bytes, the directory says \(entry.uncompressedSize)")
        }
        return out
    }

    /// One array by name without the `.npy` suffix (`"mel_80"`).
    public func array(_ name: String) throws -> NPY.Array {
        try NPY.decode(try data(of: name + ".npy"), path: "\(path):\(name).npy")
    }

    /// Every `.npy` member, by name without the suffix.
    public func arrays() throws -> [String: NPY.Array] {
        var out: [String: NPY.Array] = [:]
        for m in members where m.name.hasSuffix(".npy") {
            out[String(m.name.dropLast(4))] = try NPY.decode(try data(of: m.name), path: "\(path):\(m.name)")
        }
        return out
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case Archive.ArchiveError.missingEndOfCentralDirectoryRecord: return "no end-of-central-directory record"
        case Archive.ArchiveError.unreadableArchive: return "damaged or unreadable"
        default: return "\(error)"
        }
    }
}

/// `.npz` files read in one call.
public enum NPZ {
    /// Every array, by name without the `.npy` suffix.
    public static func read(_ url: URL) throws -> [String: NPY.Array] {
        try NPZFile(contentsOf: url).arrays()
    }

    /// One array by name (`"mel_80"`).
    public static func read(_ url: URL, array name: String) throws -> NPY.Array {
        try NPZFile(contentsOf: url).array(name)
    }
}
