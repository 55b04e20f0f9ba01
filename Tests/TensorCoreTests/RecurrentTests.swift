import Foundation
import Testing
@testable import TensorCore

/// `Tensor.lstm` against the LSTM equations evaluated in Double (ONNX gate order i, o, f, c).
@Suite("LSTM op")
struct RecurrentTests {
    static func values(_ n: Int, seed: UInt64, scale: Float) -> [Float] {
        var s = seed
        return (0..<n).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: s >> 11) % 2001 - 1000) / 1000 * scale
        }
    }

    @Test(arguments: [1, 5, 40])
    func matchesTheEquations(_ steps: Int) {
        let hidden = 16
        let gates = Self.values(steps * 4 * hidden, seed: 1, scale: 3)
        let r = Self.values(4 * hidden * hidden, seed: 2, scale: 0.5)
        var state = LSTMState(hidden: hidden)
        state.h = Self.values(hidden, seed: 3, scale: 1)
        state.c = Self.values(hidden, seed: 4, scale: 2)
        var h = state.h.map(Double.init), c = state.c.map(Double.init)
        let out = Tensor.lstm(inputGates: Tensor(shape: [steps, 4 * hidden], scalars: gates),
                              recurrent: Tensor(shape: [4 * hidden, hidden], scalars: r), state: &state)
        #expect(out.shape == [steps, hidden])
        func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
        var worst = 0.0
        for t in 0..<steps {
            var g = [Double](repeating: 0, count: 4 * hidden)
            for j in 0..<4 * hidden {
                g[j] = Double(gates[t * 4 * hidden + j]) + (0..<hidden).reduce(0.0) { $0 + Double(r[j * hidden + $1]) * h[$1] }
            }
            for j in 0..<hidden {
                let i = sigmoid(g[j]), o = sigmoid(g[hidden + j]), f = sigmoid(g[2 * hidden + j]), cc = tanh(g[3 * hidden + j])
                c[j] = f * c[j] + i * cc
                h[j] = o * tanh(c[j])
                worst = max(worst, abs(Double(out[t, j]) - h[j]))
            }
        }
        #expect(worst < 1e-5, "max |h - reference| = \(worst)")
        #expect(zip(state.h, h).allSatisfy { abs(Double($0) - $1) < 1e-5 })
        #expect(zip(state.c, c).allSatisfy { abs(Double($0) - $1) < 1e-5 })
    }

    @Test func tanhIsAccurateAndSaturates() {
        let xs: [Float] = [-100, -20, -3, -1, -0.1, -1e-4, 0, 1e-4, 0.1, 1, 3, 20, 100, .infinity, -.infinity]
        for x in xs {
            let v = VectorMath.tanh(VectorMath.V(repeating: x))[0]
            #expect(abs(Double(v) - tanh(Double(x))) < 2e-7, "tanh(\(x)) = \(v)")
        }
    }
}
