import Foundation
import SeqLensModels
import Synchronization
import Testing

@testable import SeqLensServer

/// Counts loads so tests can tell a real read from a resident hit.
final class CountingLoader: ResidentModelLoader {
    let inner = EngineModelLoader()
    let loads = Mutex(0)
    func load(_ location: ModelLocation) throws -> LoadedModel {
        loads.withLock { $0 += 1 }
        return try inner.load(location)
    }
    func key(for location: ModelLocation) -> String { inner.key(for: location) }
    func estimatedBytes(for location: ModelLocation) -> Int? { inner.estimatedBytes(for: location) }
}

/// The registry in process, with the tiny checkpoints: gpt2 (a), llama (b), qwen2 (c).
@Suite struct ModelRegistryTests {
    let loader = CountingLoader()
    let a = ModelLocation.path(TinyModels.gpt2Path)
    let b = ModelLocation.path(TinyModels.llamaPath)
    let c = ModelLocation.path(TinyModels.qwen2Path)
    let sizes: [Int]

    init() throws {
        sizes = try [TinyModels.gpt2, TinyModels.llama, TinyModels.qwen2].map { try $0.get().info.memoryBytes }
    }

    @Test func loadsOncePerPath() throws {
        let registry = ModelRegistry(loader: loader)
        let first = try registry.load(a, requestedID: nil, busy: [])
        let second = try registry.load(.path(TinyModels.gpt2Path + "/."), requestedID: "other", busy: [])
        #expect(!first.alreadyResident && second.alreadyResident)
        #expect(second.entry.id == first.entry.id)
        #expect(loader.loads.withLock { $0 } == 1)
        #expect(registry.loadsFromStorage == 1)
    }

    @Test func derivesDistinctIdsAndRejectsATakenOne() throws {
        // A copy of tiny-gpt2 elsewhere: the same folder name, other files.
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("seqlens-registry-\(getpid())/tiny-gpt2")
        try? FileManager.default.removeItem(at: copy)
        try FileManager.default.createDirectory(at: copy.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TinyModels.gpt2Path, toPath: copy.path)
        defer { try? FileManager.default.removeItem(at: copy.deletingLastPathComponent()) }
        let registry = ModelRegistry(loader: loader)
        let first = try registry.load(a, requestedID: nil, busy: [])
        let second = try registry.load(.path(copy.path), requestedID: nil, busy: [])
        #expect(first.entry.id == "tiny-gpt2")
        #expect(second.entry.id == "tiny-gpt2-2")
        #expect(throws: RPCError.self) { try registry.load(b, requestedID: "tiny-gpt2", busy: []) }
    }

    @Test func evictsTheLeastRecentlyUsedIdleModel() throws {
        let registry = ModelRegistry(loader: loader, budgetBytes: sizes.reduce(0, +) - 1)
        _ = try registry.load(a, requestedID: "a", busy: [])
        _ = try registry.load(b, requestedID: "b", busy: [])
        _ = try registry.use("a")
        let outcome = try registry.load(c, requestedID: "c", busy: [])
        #expect(outcome.evicted == ["b"])
        #expect(Set(registry.entries.map(\.id)) == ["a", "c"])
        #expect(registry.residentBytes == sizes[0] + sizes[2])
    }

    @Test func busyModelsAreNotEvicted() throws {
        let budget = sizes.reduce(0, +) - 1
        let registry = ModelRegistry(loader: loader, budgetBytes: budget)
        _ = try registry.load(a, requestedID: "a", busy: [])
        _ = try registry.load(b, requestedID: "b", busy: [])
        // a is least recently used, but a queued request needs it: b goes.
        let outcome = try registry.load(c, requestedID: "c", busy: ["a"])
        #expect(outcome.evicted == ["b"])
        do {
            _ = try registry.load(b, requestedID: "d", busy: ["a", "c"])
            Issue.record("loading past the budget with only busy models should fail")
        } catch {
            #expect(error.code == .memoryBudgetExceeded)
            #expect(error.message.contains("budget is \(budget) bytes"))
            #expect(error.message.contains("a, c"))
        }
        #expect(Set(registry.entries.map(\.id)) == ["a", "c"])
    }

    @Test func aModelLargerThanTheBudgetFailsWithoutEvicting() throws {
        // Room for tiny-qwen2 alone; tiny-gpt2's files alone exceed it.
        let registry = ModelRegistry(loader: loader, budgetBytes: sizes[2])
        _ = try registry.load(c, requestedID: "c", busy: [])
        #expect(throws: RPCError.self) { try registry.load(a, requestedID: nil, busy: []) }
        #expect(registry.entries.map(\.id) == ["c"])
        #expect(loader.loads.withLock { $0 } == 1, "the estimate refuses before reading the file")
    }

    @Test func unknownIdsAndLoadFailuresHaveTheirCodes() {
        let registry = ModelRegistry(loader: loader)
        #expect(throws: RPCError(.modelNotFound, "no resident model with id 'x'; no model is loaded (use model/load)")) {
            try registry.use("x")
        }
        do {
            _ = try registry.load(.path(TinyModels.corruptCheckpoint), requestedID: nil, busy: [])
            Issue.record("a corrupt checkpoint loaded")
        } catch {
            #expect(error.code == .modelLoadFailed)
            #expect(error.message.contains("cannot load '\(TinyModels.corruptCheckpoint)'"))
        }
        #expect(registry.entries.isEmpty)
        #expect(throws: RPCError.self) { try registry.unload("x") }
    }
}
