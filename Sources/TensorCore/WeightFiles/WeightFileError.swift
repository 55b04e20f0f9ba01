/// An error a job reports against one of its inputs: `itemReason` is the one line said
/// after the input's path (without the path again when the error is about that file).
public protocol ItemReasonError: Error, CustomStringConvertible {
    var itemReason: String { get }
}

/// A weight or array file that cannot be used: which file, and what is wrong with it.
public struct WeightFileError: ItemReasonError, Equatable, Sendable {
    public let path: String
    public let problem: String

    public init(path: String, _ problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }

    /// The weight file is not the job's input: its path stays in the reason.
    public var itemReason: String { description }
}
