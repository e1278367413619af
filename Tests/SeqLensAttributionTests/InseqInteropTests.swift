import Foundation
import Testing
import SeqLensTestSupport

@testable import SeqLensAttribution

/// Files that SeqLens writes, checked by real Inseq: `SEQLENS_WRITE_FIXTURES=1 swift test` writes
/// them, `make_output_fixtures.py --check-seqlens` loads them with Inseq and records what it read
/// in seqlens-check.json, which these tests compare with what SeqLens wrote.
@Suite("Inseq loads what SeqLens saves", .serialized)
struct InseqInteropTests {
    /// An output built in Swift: a decoder-only sequence with NaN, signs and non-ASCII tokens, and
    /// an encoder-decoder one with source and target attributions.
    static func builtOutput() -> FeatureAttributionOutput {
        let hidden = 5
        func pattern(_ rows: Int, _ steps: Int, _ seed: Float, visible: (Int, Int) -> Bool) -> AttributionTensor {
            var tensor = AttributionTensor(shape: [rows, steps, hidden], repeating: .nan)
            for r in 0..<rows {
                for s in 0..<steps where visible(r, s) {
                    for h in 0..<hidden { tensor[r, s, h] = sin(seed + Float(r * 31 + s * 7 + h)) * Float(h + 1) / 3 }
                }
            }
            return tensor
        }
        let prompt = ["▁Bonjour", "▁le", "monde", "😀"].enumerated().map { TokenWithId($1, id: 10 + $0) }
        let generated = ["Ġ\"quoted\"", "tab\t<b>", "é\u{7F}"].enumerated().map { TokenWithId($1, id: 20 + $0) }
        let decoderOnly = FeatureAttributionSequenceOutput(
            source: prompt, target: prompt + generated,
            targetAttributions: pattern(7, 3, 0.5) { row, step in row < 4 + step },
            stepScores: [
                "probability": AttributionTensor(shape: [3], values: [0.5, 0.25, 0.125]),
                "entropy": AttributionTensor(shape: [3], values: [2.5, -0.0, 1e-7]),
            ],
            attrPosStart: 4, attrPosEnd: 7)
        let encoderDecoder = FeatureAttributionSequenceOutput(
            source: ["▁Hallo", "▁Welt", "</s>"].enumerated().map { TokenWithId($1, id: $0) },
            target: ["<pad>", "▁Hello", "▁world"].enumerated().map { TokenWithId($1, id: 100 + $0) },
            sourceAttributions: pattern(3, 3, 1.5) { _, _ in true },
            targetAttributions: pattern(3, 3, 2.5) { row, step in row <= step },
            stepScores: ["probability": AttributionTensor(shape: [3], values: [0.9, 0.8, 0.7])],
            attrPosStart: 0, attrPosEnd: 3)
        let info: [String: JSONValue] = [
            "attribution_method": .string("integrated_gradients"),
            "model_name": .string("seqlens/built-in-swift"),
            "attribution_args": .object(["n_steps": .int(50), "method": .string("gausslegendre"), "stdevs": .double(0.1)]),
            "exec_time": .double(0.000125),
            "input_texts": .array([.string("Bonjour le monde😀"), .string("Hallo Welt")]),
            "generated_texts": .array([.string("Bonjour le monde😀 \"quoted\"tab\t<b>é"), .string("Hello world")]),
            "step_scores": .array([.string("probability"), .string("entropy")]),
            "attr_pos_start": .int(0), "attr_pos_end": .int(7), "include_eos_baseline": .bool(false),
            "tokenizer_name": .null, "generation_args": .object([:]), "large": .double(1.5e300),
        ]
        return FeatureAttributionOutput(sequenceAttributions: [decoderOnly, encoderDecoder], info: info)
    }

    static func writtenFiles() throws -> [String: String] {
        [
            "seqlens-saved.json": try OutputFixtures.load("inseq-saliency.json").inseqJSON(),
            "seqlens-built.json": builtOutput().inseqJSON(),
            "seqlens-steps.json": try OutputFixtures.load("inseq-step-attributions.json").inseqJSON(),
        ]
    }

    @Test("Writes the SeqLens files when SEQLENS_WRITE_FIXTURES=1",
          .enabled(if: ProcessInfo.processInfo.environment["SEQLENS_WRITE_FIXTURES"] == "1"))
    func writeFixtures() throws {
        for (name, text) in try Self.writtenFiles() {
            try Data(text.utf8).write(to: OutputFixtures.directory.appendingPathComponent(name))
        }
    }

    @Test("The committed SeqLens files are what SeqLens writes today")
    func committedFilesAreCurrent() throws {
        for (name, text) in try Self.writtenFiles() {
            let committed = try Data(contentsOf: OutputFixtures.directory.appendingPathComponent(name))
            #expect(committed == Data(text.utf8), "\(name) is stale: rerun SEQLENS_WRITE_FIXTURES=1 and --check-seqlens")
        }
    }

    @Test("Real Inseq read SeqLens's files with equal tokens, values, NaN and info")
    func inseqReadsSeqLensFiles() throws {
        let check = try OutputFixtures.json("seqlens-check.json")
        let records = try #require(check["records"] as? [[String: Any]])
        #expect(Set(records.compactMap { $0["file"] as? String }) == ["seqlens-saved.json", "seqlens-built.json", "seqlens-steps.json"])
        for record in records {
            let name = try #require(record["file"] as? String)
            if let steps = record["steps"] as? [[String: Any]] {
                // Inseq's json decoder reads SeqLens's step outputs with Inseq's values; Inseq's
                // load() itself fails on its own step files too (recorded).
                StepAttributionTests.expectEqual(try OutputFixtures.load(name).stepAttributions, steps.map(ReferenceStep.init),
                                                 tolerance: 0, name)
                #expect(record["equals_inseq_original_steps"] as? Bool == true)
                #expect(record["byte_identical_to_inseq_file"] as? Bool == true)
                #expect((record["inseq_load_error"] as? String)?.contains("_recover_from_safetensors") == true)
                continue
            }
            let written = try OutputFixtures.load(name)
            let seenByInseq = try #require(record["sequences"] as? [[String: Any]]).map(ReferenceSequence.init)
            #expect(written.sequenceAttributions.count == seenByInseq.count)
            for (mine, theirs) in zip(written.sequenceAttributions, seenByInseq) {
                #expect(mine.source == theirs.source && mine.target == theirs.target)
                #expect(mine.attrPosStart == theirs.attrPosStart && mine.attrPosEnd == theirs.attrPosEnd)
                #expect(mine.kind.rawValue == theirs.className)
                #expect(mine.sourceAttributions == theirs.tensor("source"), "\(name): source values as Inseq read them")
                #expect(mine.targetAttributions == theirs.tensor("target"), "\(name): target values as Inseq read them")
                #expect(mine.stepScores.mapValues(\.values) == theirs.stepScores)
            }
            // Inseq's own default aggregation of SeqLens's file equals SeqLens's.
            let inseqAggregate = try #require(record["default_aggregate"] as? [[String: Any]]).map(ReferenceSequence.init)
            for (mine, theirs) in zip(try written.aggregated().sequenceAttributions, inseqAggregate) {
                #expect(relativeDifference(mine.targetAttributions, theirs.tensor("target")) <= 1e-6)
                #expect(relativeDifference(mine.sourceAttributions, theirs.tensor("source")) <= 1e-6)
            }
            let info = try #require(record["info"] as? [String: Any])
            #expect(info["model_name"] as? String == written.info["model_name"]?.stringValue)
            #expect(Set(info.keys) == Set(written.info.keys))
            if name == "seqlens-saved.json" {
                #expect(record["equals_inseq_original"] as? Bool == true)
                #expect(record["byte_identical_to_inseq_file"] as? Bool == true)
            }
        }
    }
}
