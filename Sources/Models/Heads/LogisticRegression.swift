import Foundation
import TensorCore

/// A linear classification head on frozen embeddings (a linear probe), as scikit-learn's
/// `LogisticRegression(solver="lbfgs")` fits one on `StandardScaler`'d features: multinomial
/// (softmax over all K classes), L2 on the weights (not the intercepts) with strength 1/C,
/// optional per-class weights; minimised with L-BFGS.
///
/// The objective is scikit-learn's, divided by C and by the total sample weight S (the same
/// minimiser, better scaled): `(1/S) Σ_i s_i CE(y_i, softmax(W x_i + b)) + ||W||² / (2 C S)`.
/// Everything is double, as scikit-learn's; a large fit (n x D x K over 4 M) first runs its
/// products in float32 on TensorCore (X W^T and the gradient's R^T X) to near the optimum, and
/// then finishes in double.
public struct LogisticRegression: Sendable {
    /// `[K, D]` weights and `[K]` intercepts, on standardised features.
    public let weights: [Double]
    public let intercepts: [Double]
    public let classes: Int
    public let dimension: Int
    /// The standardisation the weights expect: `(x - mean) / scale`.
    public let mean: [Double]
    public let scale: [Double]

    public init(weights: [Double], intercepts: [Double], mean: [Double], scale: [Double]) {
        precondition(mean.count == scale.count && weights.count == intercepts.count * mean.count,
                     "LogisticRegression: \(weights.count) weights, \(intercepts.count) classes, \(mean.count) features disagree")
        self.weights = weights
        self.intercepts = intercepts
        classes = intercepts.count
        dimension = mean.count
        self.mean = mean
        self.scale = scale
    }

    /// How the fit went.
    public struct Report: Sendable {
        public let iterations: Int
        public let evaluations: Int
        public let converged: Bool
        /// The objective at the end (see the type's documentation).
        public let loss: Double
    }

    /// Options of a fit.
    public struct Options: Sendable {
        /// Inverse L2 strength, scikit-learn's `C`.
        public var c: Double = 1
        /// `class_weight="balanced"`: each class weighs `n / (K n_k)`.
        public var balanced = false
        public var maxIterations = 1000
        /// Stops when the largest gradient component is at most this.
        public var gradientTolerance = 1e-9
        public init() {}
    }

    /// Per-feature mean and scale (population standard deviation; 1 where it is 0), as
    /// `StandardScaler`.
    public static func standardisation(_ x: Tensor) -> (mean: [Double], scale: [Double]) {
        precondition(x.rank == 2, "standardisation: features \(x.shape) are not [n, D]")
        let n = x.shape[0], d = x.shape[1], v = x.contiguous().scalars
        var mean = [Double](repeating: 0, count: d), sq = [Double](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { mean[j] += Double(v[i * d + j]) } }
        for j in 0..<d { mean[j] /= Double(max(n, 1)) }
        for i in 0..<n { for j in 0..<d { let e = Double(v[i * d + j]) - mean[j]; sq[j] += e * e } }
        let scale = sq.map { s -> Double in
            let sd = (s / Double(max(n, 1))).squareRoot()
            return sd > 1e-12 ? sd : 1
        }
        return (mean, scale)
    }

    /// `(x - mean) / scale` in float32.
    static func standardised(_ x: Tensor, mean: [Double], scale: [Double]) -> Tensor {
        let n = x.shape[0], d = x.shape[1], v = x.contiguous().scalars
        var out = [Float](repeating: 0, count: n * d)
        for i in 0..<n { for j in 0..<d { out[i * d + j] = Float((Double(v[i * d + j]) - mean[j]) / scale[j]) } }
        return Tensor(shape: [n, d], scalars: out)
    }

    /// Fits the head to features `x` `[n, D]` and labels `0..<classes`. `start`: a head fitted
    /// on the same rows with another C, to start from (a warm start along a grid of C).
    public static func fit(_ x: Tensor, labels: [Int], classes k: Int, options: Options = .init(),
                           start initial: LogisticRegression? = nil) -> (LogisticRegression, Report) {
        precondition(x.rank == 2 && x.shape[0] == labels.count && k >= 2 && labels.allSatisfy { (0..<k).contains($0) },
                     "LogisticRegression.fit: features \(x.shape), \(labels.count) labels of \(k) classes")
        let n = labels.count, d = x.shape[1]
        let (mean, scale) = standardisation(x)
        let xs = standardised(x, mean: mean, scale: scale)
        var weight = [Double](repeating: 1, count: n)
        if options.balanced {
            var counts = [Int](repeating: 0, count: k)
            for y in labels { counts[y] += 1 }
            for i in 0..<n { weight[i] = Double(n) / (Double(k) * Double(counts[labels[i]])) }
        }
        let total = weight.reduce(0, +)
        let l2 = 1 / (options.c * total)
        // Parameters: W row-major [K, D], then b [K]. The loss and its gradient from the
        // logits and from the residuals' product with the features (two ways below).
        func lossAndGradient(_ p: [Double], logits: (([Double]) -> [Double]), product: ([Double]) -> [Double]) -> (Double, [Double]) {
            let z0 = logits(p)                                                   // [n, K]
            var loss = 0.0
            var residual = [Double](repeating: 0, count: n * k)
            var grad = [Double](repeating: 0, count: k * d + k)
            var z = [Double](repeating: 0, count: k)
            for i in 0..<n {
                var top = -Double.infinity
                for c in 0..<k { z[c] = z0[i * k + c] + p[k * d + c]; top = max(top, z[c]) }
                var sum = 0.0
                for c in 0..<k { z[c] = exp(z[c] - top); sum += z[c] }
                loss += weight[i] * (log(sum) - log(z[labels[i]])) / total
                for c in 0..<k {
                    let r = weight[i] * (z[c] / sum - (c == labels[i] ? 1 : 0)) / total
                    residual[i * k + c] = r
                    grad[k * d + c] += r
                }
            }
            let gw = product(residual)                                           // [K, D]
            for j in 0..<(k * d) {
                grad[j] = gw[j] + l2 * p[j]
                loss += 0.5 * l2 * p[j] * p[j]
            }
            return (loss, grad)
        }
        // float32 products on TensorCore: fast, but their rounding (about 1e-6 of the
        // gradient's terms) is a floor on how close to the optimum L-BFGS can get.
        let single: ([Double]) -> (Double, [Double]) = { p in
            lossAndGradient(p, logits: { p in
                let w = Tensor(shape: [k, d], scalars: p[0..<(k * d)].map { Float($0) })
                return Tensor.matmul(xs, w.transposed()).scalars.map { Double($0) }
            }, product: { r in
                Tensor.matmul(Tensor(shape: [n, k], scalars: r.map { Float($0) }).transposed(), xs).scalars.map { Double($0) }
            })
        }
        // Double products: what scikit-learn computes; used to finish.
        let xd = xs.scalars.map { Double($0) }
        let double: ([Double]) -> (Double, [Double]) = { p in
            lossAndGradient(p, logits: { p in LogisticRegression.timesTransposed(xd, n, d, p, k) },
                            product: { r in LogisticRegression.transposedTimes(r, n, k, xd, d) })
        }
        var start = [Double](repeating: 0, count: k * d + k)
        if let initial, initial.classes == k, initial.dimension == d { start = initial.weights + initial.intercepts }
        var report = LogisticRegression.Report(iterations: 0, evaluations: 0, converged: false, loss: 0)
        if n * d * k > 4_000_000 && initial == nil {
            let (p, r) = LBFGS.minimise(single, start: start, maxIterations: options.maxIterations,
                                        gradientTolerance: max(options.gradientTolerance, 1e-5))
            start = p
            report = r
        }
        let (p, r) = LBFGS.minimise(double, start: start, maxIterations: options.maxIterations, gradientTolerance: options.gradientTolerance)
        report = .init(iterations: report.iterations + r.iterations, evaluations: report.evaluations + r.evaluations,
                       converged: r.converged, loss: r.loss)
        return (LogisticRegression(weights: Array(p[0..<(k * d)]), intercepts: Array(p[(k * d)...]), mean: mean, scale: scale), report)
    }

    /// `x [n, D] · w[0..<K*D] as [K, D]^T` → `[n, K]`, in double (dgemm, on the pool).
    static func timesTransposed(_ x: [Double], _ n: Int, _ d: Int, _ w: [Double], _ k: Int) -> [Double] {
        DoubleMatrix.timesTransposed(x, Array(w[0..<(k * d)]), m: n, k: d, n: k)
    }

    /// `r [n, K]^T · x [n, D]` → `[K, D]`, in double (dgemm, on the pool).
    static func transposedTimes(_ r: [Double], _ n: Int, _ k: Int, _ x: [Double], _ d: Int) -> [Double] {
        DoubleMatrix.transposedTimes(r, x, k: n, m: k, n: d)
    }

    /// scikit-learn's `StratifiedKFold(n_splits: folds)` without shuffling: each example's test
    /// fold. Classes are taken in order of first appearance; the examples sorted by class are
    /// dealt to the folds in turn (fold f gets every folds-th one from the f-th), which fixes
    /// how many of each class every fold holds; each class's examples then fill the folds in
    /// input order.
    public static func stratifiedFolds(_ labels: [Int], folds: Int) -> [Int] {
        precondition(folds >= 2, "stratifiedFolds: at least 2 folds")
        var order: [Int: Int] = [:]                          // label -> rank of first appearance
        for y in labels where order[y] == nil { order[y] = order.count }
        let encoded = labels.map { order[$0]! }
        let sorted = encoded.sorted()
        var allocation = [[Int]](repeating: [Int](repeating: 0, count: order.count), count: folds)
        for (i, c) in sorted.enumerated() { allocation[i % folds][c] += 1 }
        var next = [Int](repeating: 0, count: order.count)   // position in each class's fold list
        let lists = (0..<order.count).map { c in (0..<folds).flatMap { f in [Int](repeating: f, count: allocation[f][c]) } }
        var out = [Int](repeating: 0, count: labels.count)
        for (i, c) in encoded.enumerated() {
            out[i] = lists[c][next[c]]
            next[c] += 1
        }
        return out
    }

    /// scikit-learn's `LogisticRegressionCV` grid (`Cs=10`): ten values of C from 1e-4 to 1e4,
    /// evenly spaced in log.
    public static let defaultGrid: [Double] = (0..<10).map { pow(10, -4 + 8 * Double($0) / 9) }

    /// What cross-validation found: each C's mean held-out accuracy over the folds, and the
    /// best C (the first of the best, as scikit-learn's `argmax`).
    public struct CrossValidation: Sendable {
        public let grid: [Double]
        public let meanAccuracy: [Double]
        public let folds: Int
        public var best: Double { grid[meanAccuracy.indices.max { meanAccuracy[$0] < meanAccuracy[$1] }!] }   // the first of equals
    }

    /// Chooses C by stratified K-fold cross-validation on accuracy, as scikit-learn's
    /// `GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression(tol=1e-8)), {"C": grid},
    /// cv=StratifiedKFold(folds))`: every fold standardises and fits on the others, along the
    /// grid from each C's solution to the next (a warm start: each fit still goes to its own
    /// optimum, to a largest gradient component of 1e-6; at scikit-learn's default tol of 1e-4 a
    /// large-C fit stops where it happens to be, and its accuracy with it). nil when `stop`
    /// says so between fits.
    public static func crossValidate(_ x: Tensor, labels: [Int], classes k: Int, folds: Int, grid: [Double] = defaultGrid,
                                     options: Options = .init(), stop: () -> Bool = { false }) -> CrossValidation? {
        precondition(x.rank == 2 && x.shape[0] == labels.count && !grid.isEmpty, "crossValidate: features \(x.shape), \(labels.count) labels")
        let d = x.shape[1]
        let fold = stratifiedFolds(labels, folds: folds)
        var correct = [[Double]](repeating: [Double](repeating: 0, count: folds), count: grid.count)
        let c = x.contiguous()
        func rows(_ ids: [Int]) -> Tensor {
            var out = [Float](); out.reserveCapacity(ids.count * d)
            for i in ids { out.append(contentsOf: UnsafeBufferPointer(start: c.pointer + i * d, count: d)) }
            return Tensor(shape: [ids.count, d], scalars: out)
        }
        for f in 0..<folds {
            let train = labels.indices.filter { fold[$0] != f }, test = labels.indices.filter { fold[$0] == f }
            guard !test.isEmpty else { continue }
            let (xTrain, xTest) = (rows(train), rows(test))
            var previous: LogisticRegression?
            for (g, value) in grid.enumerated() {
                if stop() { return nil }
                var o = options
                o.c = value
                o.gradientTolerance = max(options.gradientTolerance, 1e-6)
                let (head, _) = fit(xTrain, labels: train.map { labels[$0] }, classes: k, options: o, start: previous)
                previous = head
                let p = head.probabilities(xTest)
                let hits = zip(test, p).filter { i, row in row.indices.max { row[$0] < row[$1] } == labels[i] }.count
                correct[g][f] = Double(hits) / Double(test.count)
            }
        }
        return CrossValidation(grid: grid, meanAccuracy: correct.map { $0.reduce(0, +) / Double(folds) }, folds: folds)
    }

    /// Class probabilities `[n, K]` of features `x` `[n, D]` (raw, not standardised).
    public func probabilities(_ x: Tensor) -> [[Double]] {
        precondition(x.rank == 2 && x.shape[1] == dimension, "LogisticRegression: features \(x.shape), the head takes \(dimension)")
        let n = x.shape[0], k = classes
        let xs = LogisticRegression.standardised(x, mean: mean, scale: scale)
        let w = Tensor(shape: [k, dimension], scalars: weights.map { Float($0) })
        let logits = Tensor.matmul(xs, w.transposed()).scalars
        return (0..<n).map { i in
            let z = (0..<k).map { Double(logits[i * k + $0]) + intercepts[$0] }
            let top = z.max() ?? 0
            let e = z.map { exp($0 - top) }
            let s = e.reduce(0, +)
            return e.map { $0 / s }
        }
    }
}

/// Limited-memory BFGS (10 corrections) with a backtracking line search that keeps the
/// Armijo condition; an update is skipped when its curvature is not positive.
enum LBFGS {
    static func minimise(_ f: ([Double]) -> (Double, [Double]), start: [Double], maxIterations: Int,
                         gradientTolerance: Double, memory: Int = 10) -> ([Double], LogisticRegression.Report) {
        var x = start
        var (fx, g) = f(x)
        var evaluations = 1
        var s: [[Double]] = [], y: [[Double]] = [], rho: [Double] = []
        func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        var iteration = 0
        while iteration < maxIterations {
            if (g.map(abs).max() ?? 0) <= gradientTolerance {
                return (x, .init(iterations: iteration, evaluations: evaluations, converged: true, loss: fx))
            }
            // Two-loop recursion: d = -H g.
            var q = g
            var alpha = [Double](repeating: 0, count: s.count)
            for i in stride(from: s.count - 1, through: 0, by: -1) {
                alpha[i] = rho[i] * dot(s[i], q)
                for j in q.indices { q[j] -= alpha[i] * y[i][j] }
            }
            let gamma = s.isEmpty ? 1 / max(1e-12, (dot(g, g)).squareRoot()) : dot(s[s.count - 1], y[y.count - 1]) / dot(y[y.count - 1], y[y.count - 1])
            for j in q.indices { q[j] *= gamma }
            for i in 0..<s.count {
                let beta = rho[i] * dot(y[i], q)
                for j in q.indices { q[j] += s[i][j] * (alpha[i] - beta) }
            }
            var direction = q.map { -$0 }
            var slope = dot(g, direction)
            if slope >= 0 {          // not a descent direction: restart from steepest descent
                s.removeAll(); y.removeAll(); rho.removeAll()
                direction = g.map { -$0 }
                slope = -dot(g, g)
            }
            var step = 1.0, accepted = false
            var xNew = x, fNew = fx, gNew = g
            for _ in 0..<40 {
                xNew = zip(x, direction).map { $0 + step * $1 }
                (fNew, gNew) = f(xNew)
                evaluations += 1
                if fNew <= fx + 1e-4 * step * slope { accepted = true; break }
                step *= 0.5
            }
            iteration += 1
            if !accepted { return (x, .init(iterations: iteration, evaluations: evaluations, converged: false, loss: fx)) }
            let sk = zip(xNew, x).map { $0 - $1 }, yk = zip(gNew, g).map { $0 - $1 }
            let sy = dot(sk, yk)
            if sy > 1e-12 * dot(yk, yk).squareRoot() * dot(sk, sk).squareRoot() {
                s.append(sk); y.append(yk); rho.append(1 / sy)
                if s.count > memory { s.removeFirst(); y.removeFirst(); rho.removeFirst() }
            }
            let decrease = fx - fNew
            x = xNew; fx = fNew; g = gNew
            if decrease <= 1e-15 * max(1, abs(fx)) && (g.map(abs).max() ?? 0) <= gradientTolerance * 100 {
                return (x, .init(iterations: iteration, evaluations: evaluations, converged: true, loss: fx))
            }
        }
        return (x, .init(iterations: iteration, evaluations: evaluations, converged: (g.map(abs).max() ?? 0) <= gradientTolerance, loss: fx))
    }
}
