import SeqLensModels
import Synchronization
import Testing

@testable import SeqLensServer

/// Counts loads so tests can tell a real read from a resident hit.
final class CountingLoader: ResidentModelLoader {
    let inner = EngineModelLoader(allowsSyntheticModels: true)
    let loads = Mutex(0)
    func load(_ location: ModelLocation) throws -> any ResidentModel {
        loads.withLock { $0 += 1 }
        return try inner.load(location)
    }
    func key(for location: ModelLocation) -> String { inner.key(for: location) }
    func estimatedBytes(for location: ModelLocation) -> Int? { inner.estimatedBytes(for: location) }
}

@Suite struct ModelRegistryTests {
    let loader = CountingLoader()

    @Test func loadsOncePerPath() throws {
        let registry = ModelRegistry(loader: loader)
        let first = try registry.load(.path("synthetic:a"), requestedID: nil, busy: [])
        let second = try registry.load(.path("synthetic:a"), requestedID: "other", busy: [])
        #expect(!first.alreadyResident && second.alreadyResident)
        #expect(second.entry.id == first.entry.id)
        #expect(loader.loads.withLock { $0 } == 1)
        #expect(registry.loadsFromStorage == 1)
    }

    @Test func derivesDistinctIdsAndRejectsATakenOne() throws {
        let registry = ModelRegistry(loader: loader)
        let a = try registry.load(.path("synthetic:m?memory=1"), requestedID: nil, busy: [])
        let b = try registry.load(.path("synthetic:m?memory=2"), requestedID: nil, busy: [])
        #expect(a.entry.id == "synthetic:m")
        #expect(b.entry.id == "synthetic:m-2")
        #expect(throws: RPCError.self) { try registry.load(.path("synthetic:n"), requestedID: "synthetic:m", busy: []) }
    }

    @Test func evictsTheLeastRecentlyUsedIdleModel() throws {
        let registry = ModelRegistry(loader: loader, budgetBytes: 250)
        _ = try registry.load(.path("synthetic:a?memory=100"), requestedID: "a", busy: [])
        _ = try registry.load(.path("synthetic:b?memory=100"), requestedID: "b", busy: [])
        _ = try registry.use("a")
        let outcome = try registry.load(.path("synthetic:c?memory=100"), requestedID: "c", busy: [])
        #expect(outcome.evicted == ["b"])
        #expect(Set(registry.entries.map(\.id)) == ["a", "c"])
        #expect(registry.residentBytes == 200)
    }

    @Test func busyModelsAreNotEvicted() throws {
        let registry = ModelRegistry(loader: loader, budgetBytes: 250)
        _ = try registry.load(.path("synthetic:a?memory=100"), requestedID: "a", busy: [])
        _ = try registry.load(.path("synthetic:b?memory=100"), requestedID: "b", busy: [])
        let outcome = try registry.load(.path("synthetic:c?memory=100"), requestedID: "c", busy: ["a"])
        #expect(outcome.evicted == ["b"])
        do {
            _ = try registry.load(.path("synthetic:d?memory=100"), requestedID: "d", busy: ["a", "c"])
            Issue.record("loading past the budget with only busy models should fail")
        } catch {
            #expect(error.code == .memoryBudgetExceeded)
            #expect(error.message.contains("budget is 250 bytes"))
            #expect(error.message.contains("a, c"))
        }
        #expect(Set(registry.entries.map(\.id)) == ["a", "c"])
    }

    @Test func aModelLargerThanTheBudgetFailsWithoutEvicting() throws {
        let registry = ModelRegistry(loader: loader, budgetBytes: 150)
        _ = try registry.load(.path("synthetic:a?memory=100"), requestedID: "a", busy: [])
        #expect(throws: RPCError.self) { try registry.load(.path("synthetic:big?memory=200"), requestedID: nil, busy: []) }
        #expect(registry.entries.map(\.id) == ["a"])
        #expect(loader.loads.withLock { $0 } == 1, "the estimate refuses before reading the file")
    }

    @Test func unknownIdsAndLoadFailuresHaveTheirCodes() {
        let registry = ModelRegistry(loader: loader)
        #expect(throws: RPCError(.modelNotFound, "no resident model with id 'x'; no model is loaded (use model/load)")) {
            try registry.use("x")
        }
        do {
            _ = try registry.load(.path("synthetic:broken?fail=1"), requestedID: nil, busy: [])
        } catch {
            #expect(error.code == .modelLoadFailed)
            #expect(error.message.contains("synthetic model asked to fail loading"))
        }
        #expect(throws: RPCError.self) { try registry.unload("x") }
    }
}
