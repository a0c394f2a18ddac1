import Foundation
import Shared
import Testing
@testable import WorkerCore

@Suite struct SelectionTests {
    typealias Candidate = Selection.Candidate

    func candidates(weights: [Int], priorities: [Int]? = nil) -> [Candidate] {
        weights.enumerated().map { i, w in
            Candidate(index: i, priority: priorities?[i] ?? 1, weight: w, inFlight: 0, currentWeight: 0)
        }
    }

    /// Picks `n` times, feeding the accumulators back as the pool does; returns the picks.
    func run(_ start: [Candidate], strategy: BalanceStrategy = .roundRobin, n: Int,
             random: (Int) -> Double = { _ in 0 }) throws -> [Int] {
        var cs = start
        var picks: [Int] = []
        for i in 0..<n {
            let choice = try #require(Selection.choose(cs, strategy: strategy, random: random(i)))
            for (index, w) in choice.currentWeights {
                let pos = try #require(cs.firstIndex { $0.index == index })
                cs[pos].currentWeight = w
            }
            picks.append(choice.index)
        }
        return picks
    }

    func counts(_ picks: [Int]) -> [Int: Int] {
        picks.reduce(into: [:]) { $0[$1, default: 0] += 1 }
    }

    func longestRun(of value: Int, in picks: [Int]) -> Int {
        var best = 0, current = 0
        for p in picks {
            current = p == value ? current + 1 : 0
            best = max(best, current)
        }
        return best
    }

    @Test func noCandidatesNoChoice() {
        for strategy in BalanceStrategy.allCases {
            #expect(Selection.choose([], strategy: strategy, random: 0.5) == nil)
        }
    }

    // MARK: round robin

    @Test func roundRobinEqualWeightsIsExact() throws {
        let picks = try run(candidates(weights: [1, 1, 1]), n: 300)
        #expect(counts(picks) == [0: 100, 1: 100, 2: 100])
        #expect(Array(picks.prefix(6)) == [0, 1, 2, 0, 1, 2])
    }

    @Test func roundRobinIsProportionalAndSmooth() throws {
        let picks = try run(candidates(weights: [2, 1]), n: 300)
        #expect(counts(picks) == [0: 200, 1: 100])
        #expect(longestRun(of: 0, in: picks) <= 2)
        #expect(longestRun(of: 1, in: picks) == 1)
    }

    @Test func roundRobinSmoothForLargerWeights() throws {
        // nginx's classic example: 5,1,1 gives a,a,b,a,c,a,a (never five in a row).
        let picks = try run(candidates(weights: [5, 1, 1]), n: 7)
        #expect(picks == [0, 0, 1, 0, 2, 0, 0])
        let many = try run(candidates(weights: [5, 1, 1]), n: 700)
        #expect(counts(many) == [0: 500, 1: 100, 2: 100])
    }

    @Test func weightBelowOneCountsAsOne() throws {
        let picks = try run(candidates(weights: [0, -3]), n: 10)
        #expect(counts(picks) == [0: 5, 1: 5])
    }

    @Test func candidateIndicesNeedNotBeContiguous() throws {
        let cs = [
            Candidate(index: 7, priority: 1, weight: 1, inFlight: 0, currentWeight: 0),
            Candidate(index: 3, priority: 1, weight: 1, inFlight: 0, currentWeight: 0),
        ]
        let picks = try run(cs, n: 4)
        #expect(counts(picks) == [7: 2, 3: 2])
    }

    // MARK: priority tiers

    @Test(arguments: BalanceStrategy.allCases)
    func lowestPriorityNumberWins(strategy: BalanceStrategy) throws {
        let cs = candidates(weights: [1, 1, 1, 1], priorities: [2, 1, 3, 1])
        let picks = try run(cs, strategy: strategy, n: 40, random: { Double($0 % 10) / 10 })
        #expect(Set(picks) == [1, 3])
    }

    @Test(arguments: BalanceStrategy.allCases)
    func nextTierOnlyWhenBestTierIsEmpty(strategy: BalanceStrategy) throws {
        // The pool passes usable candidates only: with tier 1 gone, tier 2 serves.
        let all = candidates(weights: [1, 1, 1], priorities: [1, 2, 2])
        #expect(Set(try run(all, strategy: strategy, n: 10)) == [0])
        let withoutTierOne = all.filter { $0.priority != 1 }
        #expect(Set(try run(withoutTierOne, strategy: strategy, n: 10, random: { Double($0 % 2) / 2 + 0.1 })) == [1, 2])
    }

    @Test func roundRobinOnlyTouchesTheChosenTiersAccumulators() throws {
        let cs = candidates(weights: [1, 1, 1], priorities: [1, 1, 5])
        let choice = try #require(Selection.choose(cs, strategy: .roundRobin, random: 0))
        #expect(Set(choice.currentWeights.keys) == [0, 1])
    }

    // MARK: least busy

    @Test func leastBusyPicksFewestInFlight() throws {
        var cs = candidates(weights: [1, 1, 1])
        cs[0].inFlight = 3
        cs[1].inFlight = 1
        cs[2].inFlight = 2
        #expect(Selection.choose(cs, strategy: .leastBusy, random: 0)?.index == 1)
    }

    @Test func leastBusyIsPerWeight() throws {
        var cs = candidates(weights: [4, 1])
        cs[0].inFlight = 3  // 0.75 per unit of weight
        cs[1].inFlight = 1  // 1.0
        #expect(Selection.choose(cs, strategy: .leastBusy, random: 0)?.index == 0)
        cs[0].inFlight = 5  // 1.25
        #expect(Selection.choose(cs, strategy: .leastBusy, random: 0)?.index == 1)
    }

    @Test func leastBusySpreadsTies() throws {
        let picks = try run(candidates(weights: [1, 1, 1]), strategy: .leastBusy, n: 30)
        #expect(counts(picks) == [0: 10, 1: 10, 2: 10])
        #expect(Array(picks.prefix(3)).sorted() == [0, 1, 2])
    }

    @Test func leastBusySimulatedInFlight() throws {
        // Lease without completing: the in-flight counts should stay balanced.
        var cs = candidates(weights: [1, 1, 1])
        for _ in 0..<9 {
            let choice = try #require(Selection.choose(cs, strategy: .leastBusy, random: 0))
            for (index, w) in choice.currentWeights { cs[index].currentWeight = w }
            cs[choice.index].inFlight += 1
        }
        #expect(cs.map(\.inFlight) == [3, 3, 3])
    }

    // MARK: random

    @Test func randomHonoursWeights() throws {
        // Evenly spaced "random" numbers over 0..<1: the picks must split exactly 3:1.
        let n = 400
        let picks = try run(candidates(weights: [3, 1]), strategy: .random, n: n, random: { Double($0) / Double(n) })
        #expect(counts(picks) == [0: 300, 1: 100])
    }

    @Test func randomBoundaries() {
        let cs = candidates(weights: [3, 1])
        #expect(Selection.choose(cs, strategy: .random, random: 0)?.index == 0)
        #expect(Selection.choose(cs, strategy: .random, random: 0.74)?.index == 0)
        #expect(Selection.choose(cs, strategy: .random, random: 0.75)?.index == 1)
        #expect(Selection.choose(cs, strategy: .random, random: 0.999_999)?.index == 1)
        // A generator that returns exactly 1 must not fall off the end.
        #expect(Selection.choose(cs, strategy: .random, random: 1)?.index == 1)
    }

    @Test func randomStatisticallyWithSeededGenerator() throws {
        var rng = SeededGenerator(seed: 42)
        let values = (0..<6000).map { _ in Double.random(in: 0..<1, using: &rng) }
        let picks = try run(candidates(weights: [1, 2, 3]), strategy: .random, n: values.count, random: { values[$0] })
        let c = counts(picks)
        // Expected 1000 / 2000 / 3000; allow ±10 %.
        #expect((900...1100).contains(c[0] ?? 0))
        #expect((1800...2200).contains(c[1] ?? 0))
        #expect((2700...3300).contains(c[2] ?? 0))
    }
}
