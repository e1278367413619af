import Foundation
import Testing
@testable import SeqLensAttribution
import SeqLensModels
import SeqLensTensor

/// Properties that hold for any correct implementation, on the tiny checkpoints.
@Suite("Attribution method properties")
struct MethodPropertyTests {
    let model: LanguageModel
    let input = "The code is free"
    let generated = "The code is free software and the code is"

    // tiny-gpt2: the UNK baseline of tiny-llama is its zero padding embedding, where RMS norm is
    // so steep that integrated gradients converge only slowly (PyTorch in float64 agrees).
    init() throws { model = try InseqFixtureTests.model("tiny-gpt2") }

    func run(_ method: any AttributionMethod, configure: (inout AttributionRequest) -> Void = { _ in }) throws -> FeatureAttributionOutput {
        var request = AttributionRequest(inputs: [input])
        request.generatedTexts = [generated]
        request.method = method
        configure(&request)
        return try Attributor(model: model).attribute(request)
    }

    @Test(arguments: ["blocks.0.resid_post", "blocks.1.mlp.out", "blocks.1.attn.out", "embed"])
    func layerIntegratedGradientsIsComplete(site: String) throws {
        // Σ attributions − (f(input) − f(baseline)) is the quadrature error: it vanishes as the
        // Gauss–Legendre rule gets finer. A wrong gradient or baseline leaves a gap that does not.
        func deltas(_ steps: Int) throws -> [Float] {
            let result = try run(LayerIntegratedGradients(layer: site, steps: steps, returnConvergenceDelta: true))
            return try #require(result.sequenceAttributions[0].stepScores["deltas"]).values
        }
        let coarse = try deltas(4), fine = try deltas(128)
        print("\(site): deltas with 4 steps \(coarse), with 128 steps \(fine)")
        for (c, f) in zip(coarse, fine) { #expect(abs(f) <= max(2e-6, 0.05 * abs(c)), "\(site): \(f) vs \(c)") }
    }

    @Test func integratedGradientsOnEmbeddingsEqualsLayerIntegratedGradientsAtEmbed() throws {
        let plain = try run(IntegratedGradients(steps: 10))
        let layer = try run(LayerIntegratedGradients(layer: "embed", steps: 10))
        let a = try #require(plain.sequenceAttributions[0].targetAttributions), b = try #require(layer.sequenceAttributions[0].targetAttributions)
        let worst = zip(a.values, b.values).filter { !$0.0.isNaN }.map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 1e-6)
    }

    @Test func batchingDoesNotChangeResults() throws {
        var request = AttributionRequest(inputs: [input, "Free software is"])
        request.generatedTexts = [generated, "Free software is the code"]
        request.method = IntegratedGradients(steps: 8)
        let together = try Attributor(model: model).attribute(request)
        request.inputs = ["Free software is"]
        request.generatedTexts = ["Free software is the code"]
        let alone = try Attributor(model: model).attribute(request)
        #expect(together.sequenceAttributions[1].targetAttributions?.values.map { $0.isNaN ? 0 : $0 }
                == alone.sequenceAttributions[0].targetAttributions?.values.map { $0.isNaN ? 0 : $0 })
        // A small internal batch gives the same numbers as one pass.
        request.method = IntegratedGradients(steps: 8, internalBatchSize: 3)
        let chunked = try Attributor(model: model).attribute(request)
        let worst = zip(chunked.sequenceAttributions[0].targetAttributions!.values, alone.sequenceAttributions[0].targetAttributions!.values)
            .filter { !$0.0.isNaN }.map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 1e-7)
    }

    @Test func gradientShapWithSeedIsReproducibleAndNoisy() throws {
        let a = try run(GradientShap(standardDeviation: 0.1, seed: 7))
        let b = try run(GradientShap(standardDeviation: 0.1, seed: 7))
        let c = try run(GradientShap(standardDeviation: 0.1, seed: 8))
        let av = a.sequenceAttributions[0].targetAttributions!.values.map { $0.isNaN ? 0 : $0 }
        #expect(av == b.sequenceAttributions[0].targetAttributions!.values.map { $0.isNaN ? 0 : $0 })
        #expect(av != c.sequenceAttributions[0].targetAttributions!.values.map { $0.isNaN ? 0 : $0 })
    }

    @Test func badRequestsAreClearErrors() throws {
        #expect(throws: AttributionError.generatedTextMismatch(input: input, generated: "Another text")) {
            try run(Saliency()) { $0.generatedTexts = ["Another text"] }
        }
        #expect(throws: AttributionError.positionsOutOfRange(start: 3, end: 40, length: 11)) {
            try run(Saliency()) { $0.attrPosStart = 3; $0.attrPosEnd = 40 }
        }
        #expect(throws: AttributionError.invalidMethodArgument(MethodArgumentError("nSteps", "expected an integer in 1...10000, got 0"))) {
            try run(IntegratedGradients(steps: 0))
        }
        #expect(throws: AttributionError.missingContrast("contrast_prob_diff")) {
            try run(Saliency()) { $0.attributedFunction = .contrastProbDiff }
        }
        #expect(throws: AttributionError.contrastTargetMismatch("2 contrast targets for 1 inputs")) {
            try run(Saliency()) { $0.attributedFunction = .contrastProbDiff; $0.contrastTargets = ["a", "b"] }
        }
        #expect(throws: AttributionError.unknownSite("blocks.9.mlp.out")) {
            try run(LayerGradientXActivation(layer: "blocks.9.mlp.out"))
        }
    }
}
