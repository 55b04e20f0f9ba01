import Foundation
import TensorCore

/// Reference cases written by `scripts/gen-op-fixtures.py` (numpy, float64 math).
struct OpCase: Decodable, Sendable {
    struct Array: Decodable, Sendable {
        let shape: [Int]
        let permute: [Int]?
        let dtype: String?
        let data: [Double]
    }
    let name: String
    let op: String
    let attrs: [String: Attr]
    let inputs: [Array]
    let outputs: [Array]

}

enum Attr: Decodable, Sendable {
    case int(Int), double(Double), bool(Bool), ints([Int])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else { self = .ints(try c.decode([Int].self)) }
    }

    var int: Int { if case .int(let i) = self { return i }; preconditionFailure("attr \(self) is not an int") }
    var bool: Bool { if case .bool(let b) = self { return b }; preconditionFailure("attr \(self) is not a bool") }
    var double: Double {
        switch self {
        case .double(let d): return d
        case .int(let i): return Double(i)
        default: preconditionFailure("attr \(self) is not a number")
        }
    }
    var ints: [Int] { if case .ints(let v) = self { return v }; preconditionFailure("attr \(self) is not a list") }
    var pair: (Int, Int) { let v = ints; return (v[0], v[1]) }
}

enum OpFixtures {
    static let url = Bundle.module.url(forResource: "ops", withExtension: "json", subdirectory: "Fixtures")

    static let cases: [OpCase] = {
        guard let url, let data = try? Data(contentsOf: url) else { return [] }
        struct File: Decodable { let cases: [OpCase] }
        return (try? JSONDecoder().decode(File.self, from: data).cases) ?? []
    }()

    static func tensor(_ a: OpCase.Array) -> Tensor {
        let t = Tensor(shape: a.shape, scalars: a.data.map { Float($0) })
        return a.permute.map { t.permuted($0) } ?? t
    }
}
