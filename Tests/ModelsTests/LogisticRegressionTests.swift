import Foundation
import Testing
import TensorCore
@testable import Models

/// The logistic-regression head against scikit-learn 1.5.2's `LogisticRegression` (lbfgs,
/// multinomial, L2, on `StandardScaler`'d features; fit to convergence, tol 1e-12) on the
/// handwritten digits bundled with scikit-learn (scripts/gen-head-fixtures.py): the test rows'
/// probabilities within 1e-4, accuracy within a point.
@Suite("Logistic-regression head vs scikit-learn")
struct LogisticRegressionTests {
    static let folder = Bundle.module.url(forResource: "head", withExtension: nil, subdirectory: "Fixtures")!

    struct Cases: Decodable {
        struct Case: Decodable {
            let name: String, train: [Int], test_start: Int, C: Double, class_weight: String?, sklearn_accuracy: Double
        }
        let cases: [Case]
    }

    static func data() throws -> (x: [Float], y: [Int], n: Int, d: Int) {
        let x = try NPY.read(folder.appendingPathComponent("digits-x.npy"))
        let y = try NPY.read(folder.appendingPathComponent("digits-y.npy"))
        let t = x.tensor, labels = y.tensor.scalars.map { Int($0) }
        return (t.scalars, labels, t.shape[0], t.shape[1])
    }

    @Test(arguments: ["c1", "c01-balanced"])
    func probabilitiesMatchScikitLearn(_ name: String) throws {
        let cases = try JSONDecoder().decode(Cases.self, from: Data(contentsOf: Self.folder.appendingPathComponent("cases.json")))
        let c = try #require(cases.cases.first { $0.name == name })
        let (x, y, n, d) = try Self.data()
        let train = Tensor(shape: [c.train.count, d], scalars: c.train.flatMap { x[($0 * d)..<(($0 + 1) * d)] })
        var options = LogisticRegression.Options()
        options.c = c.C
        options.balanced = c.class_weight == "balanced"
        let (head, report) = LogisticRegression.fit(train, labels: c.train.map { y[$0] }, classes: 10, options: options)
        #expect(report.converged, "\(report)")
        let test = Tensor(shape: [n - c.test_start, d], scalars: Array(x[(c.test_start * d)...]))
        let got = head.probabilities(test)
        let want = try NPY.read(Self.folder.appendingPathComponent("\(name)-proba.npy")).tensor.scalars
        var worst = 0.0
        for (i, row) in got.enumerated() { for (k, p) in row.enumerated() { worst = max(worst, abs(p - Double(want[i * 10 + k]))) } }
        #expect(worst < 1e-4, "\(name): probabilities off scikit-learn's by up to \(worst)")
        let accuracy = Double(got.enumerated().filter { i, row in row.indices.max { row[$0] < row[$1] } == y[c.test_start + i] }.count) / Double(got.count)
        #expect(abs(accuracy - c.sklearn_accuracy) <= 0.01, "\(name): accuracy \(accuracy), scikit-learn \(c.sklearn_accuracy)")
        print("\(name): \(report.iterations) iterations, max |p - sklearn| \(worst), accuracy \(accuracy) (sklearn \(c.sklearn_accuracy))")
    }
}
