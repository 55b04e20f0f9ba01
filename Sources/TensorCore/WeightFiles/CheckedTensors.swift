/// The tensors of one weight file under the names a model asks for: each is handed out
/// once after a shape check, and whatever is never taken is reported as unexpected, by its
/// name in the file. Every model loader (vision, CLIP, BERT, Whisper) takes its weights
/// through this, so a file with a missing, extra or misshapen tensor fails the same way:
/// one line naming the file, the tensor and both shapes.
///
/// Names: the file's tensor names are renamed once, on creation (`rename`: the file's name
/// to the model's, nil to drop a tensor the model never uses, such as BatchNorm counters);
/// errors show the file's name again (`inverse` names the ones the file lacks).
public struct CheckedTensors {
    /// The wording of errors, each loader its own; the defaults say the least.
    public struct Wording: Sendable {
        /// Who the tensors are for: "N unexpected tensors for OWNER" (nil: not said).
        public var owner: String?
        /// Said after "missing tensor 'X' (expected shape S)".
        public var missing: String
        /// Said after "missing tensor 'X'" when only its rank is asked for (`shape(_:rank:)`).
        public var absent: String
        /// Said after "tensor 'X' has shape A, ": what was expected instead.
        public var expected: @Sendable (_ shape: [Int]) -> String
        /// Said after the list of unexpected tensors.
        public var unexpected: String

        public init(owner: String? = nil, missing: String = "", absent: String = "",
                    expected: @escaping @Sendable (_ shape: [Int]) -> String = { "expected \($0)" },
                    unexpected: String = "") {
            self.owner = owner
            self.missing = missing
            self.absent = absent
            self.expected = expected
            self.unexpected = unexpected
        }
    }

    /// The weight file (named in every error).
    public let path: String
    /// The config file the expected shapes come from (the weight file when there is none).
    public let configPath: String
    public let wording: Wording
    /// Shapes by the model's names.
    public private(set) var shapes: [String: [Int]] = [:]
    private var original: [String: String] = [:]
    private let inverse: (String) -> String
    private let load: (String) throws -> Tensor
    private var taken: Set<String> = []

    /// `shapes`: the file's tensors by the file's names; `load` reads one by the file's name.
    /// Throws when two file names rename to one model name.
    public init(path: String, configPath: String? = nil, shapes fileShapes: [String: [Int]],
                rename: (String) -> String? = { $0 }, inverse: @escaping (String) -> String = { $0 },
                wording: Wording = Wording(), load: @escaping (String) throws -> Tensor) throws {
        self.path = path
        self.configPath = configPath ?? path
        self.wording = wording
        self.inverse = inverse
        self.load = load
        for name in fileShapes.keys.sorted() {
            guard let key = rename(name) else { continue }
            if let other = original[key] {
                throw WeightFileError(path: path, "tensors '\(other)' and '\(name)' both stand for '\(key)'")
            }
            original[key] = name
            shapes[key] = fileShapes[name]
        }
    }

    /// The tensors of a safetensors file.
    public init(_ file: SafeTensorsFile, configPath: String? = nil, rename: (String) -> String? = { $0 },
                inverse: @escaping (String) -> String = { $0 }, wording: Wording = Wording(),
                load: ((String) throws -> Tensor)? = nil) throws {
        try self.init(path: file.path, configPath: configPath, shapes: file.entries.mapValues(\.shape),
                      rename: rename, inverse: inverse, wording: wording, load: load ?? { try file.tensor($0) })
    }

    public func has(_ name: String) -> Bool { shapes[name] != nil }

    /// The name a tensor has in the file (for messages).
    public func display(_ name: String) -> String { original[name] ?? inverse(name) }

    /// The shape of a tensor that must exist, with the given rank (not taken).
    public func shape(_ name: String, rank: Int) throws -> [Int] {
        guard let s = shapes[name] else {
            throw WeightFileError(path: path, "missing tensor '\(display(name))'\(wording.absent)")
        }
        guard s.count == rank else {
            throw WeightFileError(path: path, "tensor '\(display(name))' has shape \(s), expected rank \(rank)")
        }
        return s
    }

    /// The tensor `name`, which must have `shape`; it counts as used.
    public mutating func take(_ name: String, _ shape: [Int]) throws -> Tensor {
        guard let actual = shapes[name] else {
            throw WeightFileError(path: path, "missing tensor '\(display(name))' (expected shape \(shape))\(wording.missing)")
        }
        guard actual == shape else {
            throw WeightFileError(path: path, "tensor '\(display(name))' has shape \(actual), \(wording.expected(shape))")
        }
        taken.insert(name)
        return try load(original[name] ?? name)
    }

    /// Throws when some tensor was never taken, naming up to five of them.
    public func checkAllTaken() throws {
        let left = shapes.keys.filter { !taken.contains($0) }.map(display).sorted()
        guard left.isEmpty else {
            let shown = left.prefix(5).map { "'\($0)'" }.joined(separator: ", ")
            let owner = wording.owner.map { " for \($0)" } ?? ""
            throw WeightFileError(path: path, "\(left.count) unexpected tensor\(left.count == 1 ? "" : "s")\(owner): \(shown)\(left.count > 5 ? " and \(left.count - 5) more" : "")\(wording.unexpected)")
        }
    }

    /// Indices `i` for which some tensor is named `prefix<i>.`... (or `prefix<i>/`...).
    public func indices(under prefix: String) -> [Int] {
        Set(shapes.keys.compactMap { k -> Int? in
            guard k.hasPrefix(prefix) else { return nil }
            return Int(k.dropFirst(prefix.count).prefix { $0 != "." && $0 != "/" })
        }).sorted()
    }

    /// `indices(under:)`, required to be 0..<n with n >= 1.
    public func count(under prefix: String, what: String) throws -> Int {
        let found = indices(under: prefix)
        guard !found.isEmpty, found == Array(0..<found.count) else {
            throw WeightFileError(path: path, "\(what) are numbered \(found) ('\(display(prefix))N...'), expected 0, 1, 2, ...")
        }
        return found.count
    }
}
