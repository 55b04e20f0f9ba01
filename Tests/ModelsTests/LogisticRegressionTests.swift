import Foundation
import Testing
import TensorCore
@testable import Models

/// The logistic-regression head against scikit-learn 1.5.2's `LogisticRegression` (lbfgs,
/// multinomial, L2, on `StandardScaler`'d features; fit to convergence, tol 1e-12) on the
/// handwritten digits bundled with scikit-learn (scripts/gen-head-fixtures.py): the test rows'
/// probabilities within 1e-4, accuracy within a point; StratifiedKFold's folds exactly, and the C
/// that GridSearchCV chooses by 5-fold cross-validation (each C's mean accuracy within a point).
@Suite("Logistic-regression head vs scikit-learn")
struct LogisticRegressionTests {
    static let folder = Bundle.module.url(forResource: "head", withExtension: nil, subdirectory: "Fixtures")!

    struct Cases: Decodable {
        struct Case: Decodable {
            let name: String, train: [Int], test_start: Int, C: Double, class_weight: String?, sklearn_accuracy: Double
        }
        struct CV: Decodable { let rows: Int, folds: Int, grid: [Double], mean_accuracy: [Double], best_C: Double }
        struct Folds: Decodable { let labels: [Int], folds: Int, test_fold: [Int] }
        let cases: [Case]
        let cv: CV
        let stratified_folds: [Folds]
    }

    static func cases() throws -> Cases {
        try JSONDecoder().decode(Cases.self, from: Data(contentsOf: folder.appendingPathComponent("cases.json")))
    }

    static func data() throws -> (x: [Float], y: [Int], n: Int, d: Int) {
        let x = try NPY.read(folder.appendingPathComponent("digits-x.npy"))
        let y = try NPY.read(folder.appendingPathComponent("digits-y.npy"))
        let t = x.tensor, labels = y.tensor.scalars.map { Int($0) }
        return (t.scalars, labels, t.shape[0], t.shape[1])
    }

    @Test(arguments: ["c1", "c01-balanced"])
    func probabilitiesMatchScikitLearn(_ name: String) throws {
        let c = try #require(try Self.cases().cases.first { $0.name == name })
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

    @Test func foldsAreStratifiedKFolds() throws {
        for c in try Self.cases().stratified_folds {
            #expect(LogisticRegression.stratifiedFolds(c.labels, folds: c.folds) == c.test_fold, "\(c.folds) folds of \(c.labels.count) labels")
        }
    }

    @Test func crossValidationChoosesScikitLearnsC() throws {
        let cv = try Self.cases().cv
        let (x, y, _, d) = try Self.data()
        let rows = Tensor(shape: [cv.rows, d], scalars: Array(x[0..<(cv.rows * d)]))
        let found = try #require(LogisticRegression.crossValidate(rows, labels: Array(y[0..<cv.rows]), classes: 10, folds: cv.folds, grid: cv.grid))
        let worst = zip(found.meanAccuracy, cv.mean_accuracy).map { abs($0 - $1) }.max() ?? 1
        #expect(worst <= 0.01, "mean accuracies \(found.meanAccuracy), scikit-learn's \(cv.mean_accuracy)")
        #expect(abs(found.best - cv.best_C) < 1e-9 * cv.best_C, "chose C \(found.best), scikit-learn \(cv.best_C)")
        print("cv: C \(found.best) (sklearn \(cv.best_C)); mean accuracy off scikit-learn's by up to \(worst)")
        var calls = 0
        #expect(LogisticRegression.crossValidate(rows, labels: Array(y[0..<cv.rows]), classes: 10, folds: 3, grid: cv.grid,
                                                 stop: { calls += 1; return calls > 2 }) == nil)
    }
}
