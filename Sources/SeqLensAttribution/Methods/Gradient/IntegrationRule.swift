import Foundation

/// Captum's approximation methods for integrated gradients (captum/attr/_utils/approximation_methods.py):
/// the points α along the path and the weight of each.
public enum IntegrationRule: String, CaseIterable, Sendable {
    case gaussLegendre = "gausslegendre"
    case riemannLeft = "riemann_left"
    case riemannRight = "riemann_right"
    case riemannMiddle = "riemann_middle"
    case riemannTrapezoid = "riemann_trapezoid"

    /// (alphas, step sizes) for `steps` points.
    public func points(_ steps: Int) -> (alphas: [Float], weights: [Float]) {
        let n = Double(steps)
        switch self {
        case .riemannLeft:
            return ((0..<steps).map { Float(Double($0) / n) }, Array(repeating: Float(1 / n), count: steps))
        case .riemannRight:
            return ((0..<steps).map { Float(Double($0 + 1) / n) }, Array(repeating: Float(1 / n), count: steps))
        case .riemannMiddle:
            return ((0..<steps).map { Float((Double($0) + 0.5) / n) }, Array(repeating: Float(1 / n), count: steps))
        case .riemannTrapezoid:
            // Captum's deltas: 1/n, halved at both ends (they sum to (n − 1)/n), on linspace(0, 1, n).
            precondition(steps > 1, "the trapezoid rule needs at least two steps")
            var weights = Array(repeating: Float(1 / n), count: steps)
            weights[0] = Float(0.5 / n)
            weights[steps - 1] = Float(0.5 / n)
            return ((0..<steps).map { Float(Double($0) / (n - 1)) }, weights)
        case .gaussLegendre:
            let (nodes, weights) = Self.legendreGauss(steps)
            // Mapped from [−1, 1] to [0, 1], as numpy's leggauss is in Captum.
            return (nodes.map { Float(0.5 * ($0 + 1)) }, weights.map { Float(0.5 * $0) })
        }
    }

    /// Gauss–Legendre nodes (ascending) and weights on [−1, 1], by Newton's method on P_n.
    static func legendreGauss(_ n: Int) -> (nodes: [Double], weights: [Double]) {
        var nodes = [Double](repeating: 0, count: n), weights = nodes
        for i in 0..<((n + 1) / 2) {
            var x = cos(Double.pi * (Double(i) + 0.75) / (Double(n) + 0.5))
            var derivative = 0.0
            for _ in 0..<100 {
                var p0 = 1.0, p1 = x
                if n == 1 { p1 = x } else {
                    for k in 2...n {
                        let p2 = (Double(2 * k - 1) * x * p1 - Double(k - 1) * p0) / Double(k)
                        p0 = p1
                        p1 = p2
                    }
                }
                let pn = n == 1 ? x : p1, pnMinus1 = n == 1 ? 1.0 : p0
                derivative = Double(n) * (x * pn - pnMinus1) / (x * x - 1)
                let dx = pn / derivative
                x -= dx
                if abs(dx) < 1e-15 { break }
            }
            let weight = 2 / ((1 - x * x) * derivative * derivative)
            nodes[i] = -x
            nodes[n - 1 - i] = x
            weights[i] = weight
            weights[n - 1 - i] = weight
        }
        return (nodes, weights)
    }
}
