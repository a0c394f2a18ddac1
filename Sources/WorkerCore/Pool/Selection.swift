import Foundation
import Shared

/// Choosing a JWT: a pure function of the candidates' states.
enum Selection {
    struct Candidate: Sendable, Equatable {
        var index: Int
        var priority: Int
        var weight: Int
        var inFlight: Int
        /// Smooth weighted round-robin accumulator (nginx's algorithm).
        var currentWeight: Int
    }

    struct Choice: Sendable, Equatable {
        var index: Int
        /// New accumulators for the candidates of the chosen tier, by index.
        var currentWeights: [Int: Int]
    }

    /// Picks among usable candidates: the best (lowest) priority tier that has any, then by
    /// strategy within it. `random` is a number in `0..<1`.
    static func choose(_ candidates: [Candidate], strategy: BalanceStrategy, random: Double) -> Choice? {
        guard let best = candidates.map(\.priority).min() else { return nil }
        let tier = candidates.filter { $0.priority == best }
        switch strategy {
        case .roundRobin:
            return smoothWeighted(tier)
        case .random:
            let total = tier.reduce(0) { $0 + max(1, $1.weight) }
            var point = random * Double(total)
            for c in tier {
                point -= Double(max(1, c.weight))
                if point < 0 { return Choice(index: c.index, currentWeights: [:]) }
            }
            return Choice(index: tier[tier.count - 1].index, currentWeights: [:])
        case .leastBusy:
            // Fewest requests in flight per unit of weight; ties go round robin.
            func load(_ c: Candidate) -> Double { Double(c.inFlight) / Double(max(1, c.weight)) }
            let minimum = tier.map(load).min()!
            return smoothWeighted(tier.filter { load($0) == minimum })
        }
    }

    /// nginx's smooth weighted round robin: add each weight to its accumulator, take the
    /// largest, subtract the total from it. Spreads picks evenly (a,a,b → a,b,a).
    static func smoothWeighted(_ tier: [Candidate]) -> Choice? {
        guard !tier.isEmpty else { return nil }
        let total = tier.reduce(0) { $0 + max(1, $1.weight) }
        var weights: [Int: Int] = [:]
        var chosen = tier[0].index
        var chosenWeight = Int.min
        for c in tier {
            let w = c.currentWeight + max(1, c.weight)
            weights[c.index] = w
            if w > chosenWeight {
                chosen = c.index
                chosenWeight = w
            }
        }
        weights[chosen]! -= total
        return Choice(index: chosen, currentWeights: weights)
    }
}
