import Foundation
import Testing
import TensorCore

@Suite("CheckedTensors: take by name and shape, report what is missing or left over")
struct CheckedTensorsTests {
    static let fileShapes: [String: [Int]] = [
        "model.layers.0.w": [2, 3], "model.layers.1.w": [2, 3], "model.norm": [3], "model.counter": [],
    ]

    static func tensors(wording: CheckedTensors.Wording = .init()) throws -> CheckedTensors {
        try CheckedTensors(path: "/w/model.safetensors", shapes: fileShapes,
                           rename: { $0 == "model.counter" ? nil : String($0.dropFirst("model.".count)) },
                           inverse: { "model." + $0 }, wording: wording) { name in
            Tensor(shape: fileShapes[name]!, scalars: [Float](repeating: 1, count: fileShapes[name]!.reduce(1, *)))
        }
    }

    @Test func takesByTheModelsNamesAndChecksEverythingWasUsed() throws {
        var w = try Self.tensors()
        #expect(w.has("norm") && !w.has("counter") && !w.has("model.norm"))
        #expect(try w.count(under: "layers.", what: "layers") == 2)
        #expect(try w.shape("layers.0.w", rank: 2) == [2, 3])
        for i in 0..<2 { _ = try w.take("layers.\(i).w", [2, 3]) }
        let e = #expect(throws: WeightFileError.self) { try w.checkAllTaken() }
        #expect(e?.description == "/w/model.safetensors: 1 unexpected tensor: 'model.norm'")
        #expect(try w.take("norm", [3]).scalars == [1, 1, 1])
        try w.checkAllTaken()
    }

    @Test func errorsNameTheFileTheTensorAndBothShapes() throws {
        var w = try Self.tensors()
        let missing = #expect(throws: WeightFileError.self) { try w.take("layers.2.w", [2, 3]) }
        #expect(missing?.description == "/w/model.safetensors: missing tensor 'model.layers.2.w' (expected shape [2, 3])")
        let shape = #expect(throws: WeightFileError.self) { try w.take("norm", [4]) }
        #expect(shape?.description == "/w/model.safetensors: tensor 'model.norm' has shape [3], expected [4]")
        let rank = #expect(throws: WeightFileError.self) { try w.shape("norm", rank: 2) }
        #expect(rank?.description == "/w/model.safetensors: tensor 'model.norm' has shape [3], expected rank 2")
    }

    @Test func eachLoaderWordsItsOwnErrors() throws {
        var w = try Self.tensors(wording: .init(owner: "tiny", missing: ": incomplete", absent: " (not tiny?)",
                                                expected: { "tiny expects \($0)" }, unexpected: ": extra parts"))
        #expect(#expect(throws: WeightFileError.self) { try w.take("x", [1]) }?.problem == "missing tensor 'model.x' (expected shape [1]): incomplete")
        #expect(#expect(throws: WeightFileError.self) { try w.shape("x", rank: 1) }?.problem == "missing tensor 'model.x' (not tiny?)")
        #expect(#expect(throws: WeightFileError.self) { try w.take("norm", [1]) }?.problem == "tensor 'model.norm' has shape [3], tiny expects [1]")
        #expect(#expect(throws: WeightFileError.self) { try w.checkAllTaken() }?.problem
                == "3 unexpected tensors for tiny: 'model.layers.0.w', 'model.layers.1.w', 'model.norm': extra parts")
    }

    @Test func twoFileNamesForOneModelNameAreAnError() {
        let e = #expect(throws: WeightFileError.self) {
            try CheckedTensors(path: "f", shapes: ["a.x": [1], "b.x": [1]], rename: { String($0.dropFirst(2)) }) { _ in Tensor(zeros: [1]) }
        }
        #expect(e?.problem == "tensors 'a.x' and 'b.x' both stand for 'x'")
    }

    @Test func layerNumbersMustRunFromZero() throws {
        let w = try CheckedTensors(path: "f", shapes: ["l.0.w": [1], "l.2.w": [1]]) { _ in Tensor(zeros: [1]) }
        #expect(w.indices(under: "l.") == [0, 2])
        let e = #expect(throws: WeightFileError.self) { try w.count(under: "l.", what: "layers") }
        #expect(e?.problem == "layers are numbered [0, 2] ('l.N...'), expected 0, 1, 2, ...")
    }
}
