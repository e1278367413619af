import Foundation
import SeqLensModels
import Synchronization

/// A model the registry holds, with its bookkeeping.
public struct ResidentEntry: Sendable {
    public var id: String
    /// The loader's key for the files (canonical path): same key, same model.
    public var key: String
    public var model: LoadedModel
    public var loadMilliseconds: Double
    public var loadedAt: Date
    /// Logical clock of the last use, for least-recently-used eviction.
    var lastUse: UInt64
    public var requestsServed: Int

    public var info: ModelInfo { model.info }
}

/// The result of `load`: the entry, whether it was already resident, and models evicted for room.
public struct LoadOutcome: Sendable {
    public var entry: ResidentEntry
    public var alreadyResident: Bool
    public var evicted: [String]
}

/// The resident models: load once, reuse by id or by path, stay within a memory budget by unloading
/// the least recently used idle models.
///
/// Thread safety: lookups come from any thread; `load` and `unload` run on the compute queue, one at a
/// time, so two loads never race.
public final class ModelRegistry: Sendable {
    struct State {
        var entries: [String: ResidentEntry] = [:]
        var budgetBytes: Int?
        var clock: UInt64 = 0
        var loadsFromStorage = 0
    }

    private let loader: any ResidentModelLoader
    private let state: Mutex<State>

    public init(loader: any ResidentModelLoader, budgetBytes: Int? = nil) {
        self.loader = loader
        self.state = Mutex(State(budgetBytes: budgetBytes))
    }

    public var budgetBytes: Int? {
        get { state.withLock { $0.budgetBytes } }
        set { state.withLock { $0.budgetBytes = newValue } }
    }

    /// Number of times a model was actually read from storage (not served from residence).
    public var loadsFromStorage: Int { state.withLock { $0.loadsFromStorage } }

    public var residentBytes: Int { state.withLock { $0.entries.values.reduce(0) { $0 + $1.info.memoryBytes } } }

    /// Resident models, least recently used first.
    public var entries: [ResidentEntry] { state.withLock { $0.entries.values.sorted { $0.lastUse < $1.lastUse } } }

    /// The decoder-only model with `id`, marked as used now.
    /// - Throws: `modelNotFound` naming the resident ids; `invalidParams` for an encoder-decoder model.
    public func use(_ id: String) throws(RPCError) -> LanguageModel {
        switch try useAny(id) {
        case .causal(let model): return model
        case .encoderDecoder(let model):
            throw RPCError(
                .invalidParams,
                "params.model: '\(id)' is an encoder-decoder model (\(model.info.architecture)); this method serves decoder-only models so far (encoder-decoder models support tokenize, detokenize and generate)")
        }
    }

    /// The model with `id`, of either shape, marked as used now.
    /// - Throws: `modelNotFound` naming the resident ids.
    public func useAny(_ id: String) throws(RPCError) -> LoadedModel {
        let found: LoadedModel? = state.withLock { state in
            guard var entry = state.entries[id] else { return nil }
            state.clock += 1
            entry.lastUse = state.clock
            entry.requestsServed += 1
            state.entries[id] = entry
            return entry.model
        }
        guard let found else { throw notFound(id) }
        return found
    }

    /// Loads `location` unless it is already resident.
    /// - Parameters:
    ///   - requestedID: the id to give the model; derived from the path when nil.
    ///   - busy: ids that queued or running requests still need: never evicted.
    /// - Throws: `RPCError` with `modelLoadFailed`, `memoryBudgetExceeded` or `invalidParams` (id taken).
    public func load(_ location: ModelLocation, requestedID: String?, busy: Set<String>) throws(RPCError) -> LoadOutcome {
        let key = loader.key(for: location)
        if let existing = try residentEntry(forKey: key, requestedID: requestedID) {
            return LoadOutcome(entry: existing, alreadyResident: true, evicted: [])
        }
        var evicted: [String] = []
        if let estimate = loader.estimatedBytes(for: location) {
            evicted += try makeRoom(for: estimate, what: Self.describe(location), busy: busy)
        }
        let started = Date()
        let model: LoadedModel
        do {
            model = try loader.load(location)
        } catch {
            throw RPCError(.modelLoadFailed, "cannot load \(Self.describe(location)): \(error)")
        }
        state.withLock { $0.loadsFromStorage += 1 }
        evicted += try makeRoom(for: model.info.memoryBytes, what: Self.describe(location), busy: busy)
        let entry = state.withLock { state in
            state.clock += 1
            let id = requestedID ?? Self.uniqueID(base: Self.derivedID(location), taken: state.entries)
            let entry = ResidentEntry(
                id: id, key: key, model: model,
                loadMilliseconds: Date().timeIntervalSince(started) * 1000, loadedAt: started, lastUse: state.clock,
                requestsServed: 0)
            state.entries[id] = entry
            return entry
        }
        return LoadOutcome(entry: entry, alreadyResident: false, evicted: evicted)
    }

    /// Removes the model `id`; its memory is freed once no request holds it.
    @discardableResult
    public func unload(_ id: String) throws(RPCError) -> ResidentEntry {
        guard let entry = state.withLock({ $0.entries.removeValue(forKey: id) }) else { throw notFound(id) }
        return entry
    }

    private func residentEntry(forKey key: String, requestedID: String?) throws(RPCError) -> ResidentEntry? {
        let result: Result<ResidentEntry?, RPCError> = state.withLock { state in
            if let existing = state.entries.values.first(where: { $0.key == key }) {
                state.clock += 1
                state.entries[existing.id]?.lastUse = state.clock
                return .success(existing)
            }
            if let requestedID, let holder = state.entries[requestedID] {
                return .failure(
                    RPCError(
                        .invalidParams,
                        "params.id: '\(requestedID)' is already the id of the model from \(holder.info.source); unload it or choose another id"
                    ))
            }
            return .success(nil)
        }
        return try result.get()
    }

    /// Unloads least recently used idle models until `bytes` more fit the budget.
    private func makeRoom(for bytes: Int, what: String, busy: Set<String>) throws(RPCError) -> [String] {
        let result: Result<[String], RPCError> = state.withLock { state in
            guard let budget = state.budgetBytes else { return .success([]) }
            var resident = state.entries.values.reduce(0) { $0 + $1.info.memoryBytes }
            if resident + bytes <= budget { return .success([]) }
            let idle = state.entries.values.filter { !busy.contains($0.id) }.sorted { $0.lastUse < $1.lastUse }
            let idleBytes = idle.reduce(0) { $0 + $1.info.memoryBytes }
            guard resident - idleBytes + bytes <= budget else {
                let busyIDs = state.entries.keys.filter { busy.contains($0) }.sorted()
                return .failure(
                    RPCError(
                        .memoryBudgetExceeded,
                        "loading \(what) needs \(bytes) bytes but the memory budget is \(budget) bytes, with \(resident - idleBytes) bytes held by models in use"
                            + (busyIDs.isEmpty ? "" : " (\(busyIDs.joined(separator: ", ")))")
                            + "; raise the budget (--memory-budget or initializationOptions.memoryBudgetBytes)",
                        data: ["neededBytes": .integer(bytes), "budgetBytes": .integer(budget)]))
            }
            var evicted: [String] = []
            for entry in idle where resident + bytes > budget {
                state.entries.removeValue(forKey: entry.id)
                resident -= entry.info.memoryBytes
                evicted.append(entry.id)
            }
            return .success(evicted)
        }
        return try result.get()
    }

    private func notFound(_ id: String) -> RPCError {
        let ids = state.withLock { $0.entries.keys.sorted() }
        let resident = ids.isEmpty ? "no model is loaded (use model/load)" : "resident: \(ids.joined(separator: ", "))"
        return RPCError(.modelNotFound, "no resident model with id '\(id)'; \(resident)")
    }

    static func describe(_ location: ModelLocation) -> String {
        switch location {
        case .defaultModel: "the default model"
        case .path(let path): "'\(path)'"
        }
    }

    /// "default", or the last path component without its extension.
    static func derivedID(_ location: ModelLocation) -> String {
        switch location {
        case .defaultModel: return "default"
        case .path(let path):
            let name = URL(fileURLWithPath: path).lastPathComponent
            let stem = name.hasSuffix(".gguf") ? String(name.dropLast(5)) : name
            return stem.isEmpty ? "model" : stem
        }
    }

    static func uniqueID(base: String, taken: [String: ResidentEntry]) -> String {
        guard taken[base] != nil else { return base }
        var suffix = 2
        while taken["\(base)-\(suffix)"] != nil { suffix += 1 }
        return "\(base)-\(suffix)"
    }
}
