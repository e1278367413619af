#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Foundation
import Testing

@testable import SeqLensCheckpoints

/// Inputs that crashed, hung or leaked file content before (issue 10); each must now be a clean
/// `CheckpointError`. The fuzz corpus keeps the raw inputs under Tests/Fuzz/regressions/.
@Suite("Checkpoints: regressions from fuzzing and review")
struct HostileInputRegressionTests {
    let folder: TemporaryFolder

    init() throws { folder = try TemporaryFolder() }

    /// The error `body` throws, run on another thread; records an issue if it has not returned
    /// within `seconds` (then `unblock` is called so that the stuck thread can finish).
    func errorThrownPromptly(
        within seconds: Double = 5, unblock: () -> Void, sourceLocation: SourceLocation = #_sourceLocation,
        _ body: @escaping @Sendable () throws -> Void
    ) -> CheckpointError? {
        final class Outcome: @unchecked Sendable { var error: (any Error)? }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Thread {
            do { try body() } catch { outcome.error = error }
            done.signal()
        }.start()
        if done.wait(timeout: .now() + seconds) == .timedOut {
            Issue.record("still blocked after \(seconds) s", sourceLocation: sourceLocation)
            unblock()
            done.wait()
        }
        return outcome.error as? CheckpointError
    }

    @Test func fifoIsRefusedWithoutBlocking() throws {
        defer { folder.cleanUp() }
        let path = folder.path("model.gguf")
        #expect(mkfifo(path, 0o600) == 0)
        // Were open() blocking, opening the FIFO for writing would release it.
        let unblock = {
            let fd = open(path, O_WRONLY | O_NONBLOCK)
            if fd >= 0 { close(fd) }
        }
        let gguf = errorThrownPromptly(unblock: unblock) { _ = try GGUFFile(path: path) }
        #expect(gguf?.caseName == "cannotMap")
        #expect(gguf?.description == "\(path): cannot open or map the file: not a regular file (a FIFO)")
        let safetensors = errorThrownPromptly(unblock: unblock) { _ = try SafetensorsCheckpoint(path: path) }
        #expect(safetensors?.caseName == "cannotMap")
        #expect(safetensors?.description.contains("a FIFO") == true)
    }

    @Test func pathWithNULIsRefused() throws {
        defer { folder.cleanUp() }
        let real = try folder.write("real.gguf", CraftedGGUF().bytes)
        expectCheckpointError("cannotMap", mentioning: ["NUL"]) { _ = try GGUFFile(path: real + "\u{0}.gguf") }
    }

    @Test func textFileNamedSafetensorsIsNotQuoted() throws {
        defer { folder.cleanUp() }
        let text = "hello world, this is not a checkpoint\n"
        let path = try folder.write("model.safetensors", Array(text.utf8))
        let declared = Array(text.utf8.prefix(8)).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.1) << (8 * UInt64($1.0)) }
        do {
            _ = try SafetensorsCheckpoint(path: path)
            Issue.record("a text file opened as safetensors")
        } catch let error as CheckpointError {
            #expect(error.caseName == "headerLengthMismatch")
            #expect(error.description.contains("header length field is larger than the file (38 bytes)"))
            #expect(error.description.contains("not a safetensors file or truncated"))
            #expect(!error.description.contains("\(declared)"), "echoes the first 8 bytes: \(error)")
        }
    }

    @Test func foreignFileNamedGGUFIsNotQuoted() throws {
        defer { folder.cleanUp() }
        let path = try folder.write("model.gguf", Array("secret text".utf8))
        do {
            _ = try GGUFFile(path: path)
            Issue.record("a text file opened as GGUF")
        } catch let error as CheckpointError {
            #expect(error.description == "\(path): does not start with the GGUF magic: not a GGUF file")
            #expect(!error.description.contains("73 65 63 72") && !error.description.contains("secr"))
        }
    }

    @Test func alignmentOfAnotherTypeIsNamedNotQuoted() throws {
        defer { folder.cleanUp() }
        var file = CraftedGGUF()
        file.metadata = { writer in
            writer.string("general.alignment")
            writer.u32(8)
            writer.string("a long string value that must not appear in the message")
            return 1
        }
        let path = try folder.write("aligned.gguf", file.bytes)
        expectCheckpointError("invalidHeader", mentioning: ["general.alignment", "a value of another type"]) {
            _ = try GGUFFile(path: path)
        }
    }

    /// A zero dimension used to hide an overflowing product of the others: the row count
    /// (`dims.dropLast().reduce(1, *)`) then trapped.
    @Test func zeroDimensionDoesNotHideAnOverflow() throws {
        defer { folder.cleanUp() }
        for dims: [UInt64] in [[0, 1 << 62, 1 << 62], [1 << 62, 0, 1 << 62], [1 << 32, 1 << 32, 0]] {
            var file = CraftedGGUF()
            file.tensors = [CraftedTensor(dims: dims)]
            let path = try folder.write("zero.gguf", file.bytes)
            expectCheckpointError("invalidShape", mentioning: ["overflows"]) { _ = try GGUFFile(path: path) }
        }
    }

    /// An overflow reported before a later dimension past Int64.max was checked used to trap
    /// while building the message (`Int64($0)` of every raw dimension).
    @Test func overflowMessageWithAHugeLaterDimension() throws {
        defer { folder.cleanUp() }
        var file = CraftedGGUF()
        file.tensors = [CraftedTensor(dims: [1 << 62, 4, .max])]
        let path = try folder.write("huge.gguf", file.bytes)
        expectCheckpointError("invalidShape", mentioning: ["overflows"]) { _ = try GGUFFile(path: path) }
    }

    @Test func safetensorsZeroDimensionDoesNotHideAnOverflow() throws {
        defer { folder.cleanUp() }
        let header = #"{"a":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}}"#
        let path = try folder.write("zero.safetensors", craftedSafetensors(header))
        expectCheckpointError("invalidShape", mentioning: ["overflows"]) { _ = try SafetensorsCheckpoint(path: path) }
    }

    /// `floats(_:)` allocated the element count before asking the store, so an unconvertible
    /// tensor claiming 2^40 elements in no bytes aborted the process.
    @Test func unconvertibleTensorClaimingAHugeShapeAllocatesNothing() throws {
        defer { folder.cleanUp() }
        let header = #"{"x":{"dtype":"F4","shape":[1099511627776],"data_offsets":[0,0]}}"#
        let checkpoint = try SafetensorsCheckpoint(path: try folder.write("f4.safetensors", craftedSafetensors(header)))
        expectCheckpointError("unsupportedDType", mentioning: ["'x'", "F4"]) { _ = try checkpoint.floats("x") }

        var file = CraftedGGUF()
        file.tensors = [CraftedTensor(dims: [1 << 40], type: 99)]
        let gguf = try GGUFFile(path: try folder.write("unknown.gguf", file.bytes))
        #expect(gguf.info("w")?.elementCount == 1 << 40)
        expectCheckpointError("unsupportedQuantization", mentioning: ["GGML type 99"]) { _ = try gguf.floats("w") }
    }

    /// Metadata arrays share one element budget: a file that is one big byte array would
    /// otherwise cost many times its size in memory.
    @Test func metadataArraysShareAnElementBudget() throws {
        defer { folder.cleanUp() }
        let count = GGUFFile.maxMetadataElements + 1
        var file = CraftedGGUF()
        file.metadata = { writer in
            writer.string("huge")
            writer.u32(9)  // array
            writer.u32(0)  // of uint8
            writer.u64(UInt64(count))
            writer.bytes += [UInt8](repeating: 0, count: count)
            return 1
        }
        let path = try folder.write("huge-array.gguf", file.bytes)
        expectCheckpointError("invalidHeader", mentioning: ["'huge'", "\(count) elements", "\(count - 1)"]) {
            _ = try GGUFFile(path: path)
        }
    }

    /// Every input the fuzzers ever crashed on, parsed again (scripts/fuzz also replays them).
    @Test(arguments: ["safetensors", "gguf"])
    func fuzzRegressionsThrowOrParse(target: String) throws {
        let regressions = Fixtures.repositoryRoot.appendingPathComponent("Tests/Fuzz/regressions/\(target)")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: regressions.path)) ?? []
        for name in names.sorted() {
            let bytes = try [UInt8](Data(contentsOf: regressions.appendingPathComponent(name)))
            let path = try folder.write("input", bytes)
            let store: (any TensorStore)? =
                target == "gguf" ? try? GGUFFile(path: path) : try? SafetensorsCheckpoint(path: path)
            for tensor in store?.tensorNames ?? [] { _ = try? store?.floats(tensor) }
        }
        folder.cleanUp()
    }
}
