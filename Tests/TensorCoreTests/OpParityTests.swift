import Foundation
import Testing
@testable import TensorCore

/// Every op against numpy reference values (scripts/gen-op-fixtures.py).
@Suite("Op parity with the numpy reference")
struct OpParityTests {
    @Test("fixture file is present and complete")
    func fixturesLoad() throws {
        #expect(OpFixtures.cases.count >= 200, "ops.json missing or unreadable: \(String(describing: OpFixtures.url))")
        let ops = Set(OpFixtures.cases.map(\.op))
        for op in ["matmul", "linear", "conv1d", "conv2d", "conv2d_bn", "layer_norm", "softmax", "log_softmax",
                   "gelu", "gelu_tanh", "quick_gelu", "relu", "relu6", "silu", "sigmoid", "attention",
                   "avg_pool2d", "max_pool2d", "adaptive_avg_pool2d", "add", "sub", "mul", "div",
                   "concat", "split", "permute", "argmax", "topk"] {
            #expect(ops.contains(op), "no fixture for \(op)")
        }
    }

    @Test("op matches reference", arguments: OpFixtures.cases.map(\.name))
    func parity(_ name: String) throws {
        let c = try #require(OpFixtures.cases.first { $0.name == name })
        let x = c.inputs.map(OpFixtures.tensor)
        let a = c.attrs
        func geometry() -> Conv2DGeometry {
            Conv2DGeometry(stride: a["stride"]!.pair, padding: a["padding"]!.pair,
                           dilation: a["dilation"]!.pair, groups: a["groups"]!.int)
        }
        var got: [Tensor] = []
        var gotIndices: [[Int]] = []
        switch c.op {
        case "matmul": got = [Tensor.matmul(x[0], x[1])]
        case "linear": got = [Tensor.linear(x[0], weight: x[1], bias: a["bias"]!.bool ? x[2] : nil)]
        case "conv1d":
            got = [Tensor.conv1d(x[0], weight: x[1], bias: a["bias"]!.bool ? x[2] : nil, stride: a["stride"]!.int,
                                 padding: a["padding"]!.int, dilation: a["dilation"]!.int, groups: a["groups"]!.int)]
        case "conv2d":
            got = [Tensor.conv2d(x[0], weight: x[1], bias: a["bias"]!.bool ? x[2] : nil, geometry())]
        case "conv2d_bn":
            let hasBias = a["bias"]!.bool
            let bn = Array(x[(hasBias ? 3 : 2)...])
            let folded = Tensor.foldBatchNorm(weight: x[1], bias: hasBias ? x[2] : nil, gamma: bn[0], beta: bn[1],
                                              mean: bn[2], variance: bn[3], eps: Float(a["eps"]!.double))
            got = [Tensor.conv2d(x[0], weight: folded.weight, bias: folded.bias, geometry())]
        case "layer_norm": got = [x[0].layerNorm(weight: x[1], bias: x[2], eps: Float(a["eps"]!.double))]
        case "softmax": got = [x[0].softmax(axis: a["axis"]!.int)]
        case "log_softmax": got = [x[0].logSoftmax(axis: a["axis"]!.int)]
        case "gelu": got = [x[0].gelu()]
        case "gelu_tanh": got = [x[0].geluTanh()]
        case "quick_gelu": got = [x[0].quickGELU()]
        case "relu": got = [x[0].relu()]
        case "relu6": got = [x[0].relu6()]
        case "silu": got = [x[0].silu()]
        case "sigmoid": got = [x[0].sigmoid()]
        case "attention":
            got = [Tensor.attention(query: x[0], key: x[1], value: x[2], scale: a["scale"].map { Float($0.double) },
                                    causal: a["causal"]!.bool, keyMask: a["key_mask"]!.bool ? x[3] : nil)]
        case "avg_pool2d":
            got = [x[0].avgPool2d(kernel: a["kernel"]!.pair, stride: a["stride"]!.pair, padding: a["padding"]!.pair,
                                  countIncludePad: a["count_include_pad"]!.bool)]
        case "max_pool2d":
            got = [x[0].maxPool2d(kernel: a["kernel"]!.pair, stride: a["stride"]!.pair, padding: a["padding"]!.pair)]
        case "adaptive_avg_pool2d": got = [x[0].adaptiveAvgPool2d(a["output"]!.pair)]
        case "add": got = [x[0] + x[1]]
        case "sub": got = [x[0] - x[1]]
        case "mul": got = [x[0] * x[1]]
        case "div": got = [x[0] / x[1]]
        case "concat": got = [Tensor.concat(x, axis: a["axis"]!.int)]
        case "split": got = x[0].split(a["sizes"]!.ints, axis: a["axis"]!.int)
        case "permute": got = [x[0].permuted(a["perm"]!.ints).contiguous()]
        case "argmax": gotIndices = [x[0].argmax(axis: a["axis"]!.int)]
        case "topk":
            let r = x[0].topK(a["k"]!.int, axis: a["axis"]!.int)
            got = [r.values]
            gotIndices = [r.indices]
        default:
            Issue.record("unknown op \(c.op) in fixture \(c.name)")
            return
        }

        let floatOutputs = c.outputs.filter { $0.dtype != "int64" }
        let intOutputs = c.outputs.filter { $0.dtype == "int64" }
        #expect(got.count == floatOutputs.count, "\(c.name): \(got.count) outputs, expected \(floatOutputs.count)")
        for (g, e) in zip(got, floatOutputs) {
            #expect(g.shape == e.shape, "\(c.name): shape \(g.shape), expected \(e.shape)")
            guard g.shape == e.shape else { continue }
            let tol = Tolerance.for(op: c.op)
            let r = compare(g.scalars, e.data, tol)
            #expect(r.ok, "\(c.name): max abs error \(r.maxAbs) at \(r.worst) (got \(r.gotWorst), want \(r.wantWorst)); tolerance \(tol)")
        }
        for (g, e) in zip(gotIndices, intOutputs) {
            #expect(g == e.data.map { Int($0) }, "\(c.name): indices \(g), expected \(e.data.map { Int($0) })")
        }
    }
}

struct Tolerance: CustomStringConvertible {
    let abs: Double, rel: Double
    var description: String { "abs \(abs) + rel \(rel)" }

    /// Float32 with reductions of up to a few hundred terms: products and sums get a
    /// looser absolute bound than element-wise ops, whose SIMD polynomials are within
    /// a few ulp.
    static func `for`(op: String) -> Tolerance {
        switch op {
        case "matmul", "linear", "conv1d", "conv2d", "conv2d_bn", "attention": return Tolerance(abs: 2e-5, rel: 2e-5)
        case "layer_norm", "softmax", "log_softmax", "avg_pool2d", "adaptive_avg_pool2d": return Tolerance(abs: 1e-5, rel: 1e-5)
        case "gelu", "gelu_tanh", "quick_gelu", "silu", "sigmoid": return Tolerance(abs: 1e-6, rel: 1e-5)
        default: return Tolerance(abs: 0, rel: 1e-7)
        }
    }
}

func compare(_ got: [Float], _ want: [Double], _ tol: Tolerance)
    -> (ok: Bool, maxAbs: Double, worst: Int, gotWorst: Float, wantWorst: Double) {
    var ok = true, maxAbs = 0.0, worst = 0
    for (i, (g, w)) in zip(got, want).enumerated() {
        let err = Swift.abs(Double(g) - w)
        if !(err <= tol.abs + tol.rel * Swift.abs(w)) { ok = false }
        if err > maxAbs || err.isNaN { maxAbs = err; worst = i }
    }
    return (ok && got.count == want.count, maxAbs, worst, got.isEmpty ? 0 : got[worst], want.isEmpty ? 0 : want[worst])
}
