import Foundation
import Testing
import SeqLensTestSupport

/// The suites that need the fetched models are skipped where the models are missing; in CI
/// (`CI` set, as .ci/run runs) they must not be, so a missing model fails here instead.
@Suite("CI has every resource the conditional suites need")
struct CIResourcesTests {
    static var inCI: Bool { ProcessInfo.processInfo.environment["CI"].map { !$0.isEmpty && $0 != "false" } ?? false }

    @Test(.enabled(if: inCI, "only CI must have every resource"))
    func fetchedModelsArePresent() {
        #expect(Fixtures.smolLM2IsCached, "\(Fixtures.smolLM2Missing)")
        for file in ["encoder.json", "vocab.bpe"] {
            let path = Fixtures.cache + "/gpt2-tokenizer/" + file
            #expect(FileManager.default.fileExists(atPath: path), "\(path) is missing: run scripts/fetch-models.sh")
        }
    }
}
