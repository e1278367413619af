import Testing
@testable import SeqLensAttribution
import SeqLensModels
import SeqLensTensor
import Foundation

/// Properties of the sampling methods that a wrong implementation fails, on the tiny checkpoints.
@Suite struct SamplingMethodTests {
    static func attribute(_ model: String, _ method: any AttributionMethod) throws -> FeatureAttributionSequenceOutput {
        var request = AttributionRequest(inputs: ["The code is free"])
        request.generatedTexts = ["The code is free software and the code is"]
        request.method = method
        return try #require(try Attributor(model: try InseqFixtureTests.model(model)).attribute(request).sequenceAttributions.first)
    }

    /// Efficiency: each order's marginal effects telescope, so per step the values sum to
    /// f(input) − f(all tokens at the baseline) whatever the orders drawn.
    @Test(arguments: InseqFixtureTests.modelNames)
    func shapleyValuesSumToTheChangeFromTheBaseline(model: String) throws {
        let shapley = try Self.attribute(model, ShapleyValueSampling(samples: 3, seed: 1))
        var dummy = AttributionRequest(inputs: ["The code is free"])
        dummy.generatedTexts = ["The code is free software and the code is"]
        // f(all at baseline) per step: the first variant of the sampling, computed independently
        // as the UNK sequence's probabilities with the real target tokens.
        let lm = try InseqFixtureTests.model(model)
        let ids = lm.encode("The code is free software and the code is", addSpecialTokens: true)
        let start = shapley.attrPosStart
        let unk = lm.tokenizer.specialTokens.unk ?? 0
        let values = try #require(shapley.targetAttributions)
        let steps = shapley.stepCount
        for s in 0..<steps {
            let position = start + s
            let clean = try lm.logits(Array(ids.prefix(position)))
            let baseline = try lm.logits(Array(repeating: unk, count: position))
            func probability(_ logits: Tensor) -> Double {
                let v = logits.shape[1], row = Array(logits.scalars[((position - 1) * v)..<(position * v)]).map(Double.init)
                let top = row.max()!, sum = row.reduce(0) { $0 + exp($1 - top) }
                return exp(row[ids[position]] - top) / sum
            }
            let sum = (0..<position).reduce(0.0) { $0 + Double(values.values[$1 * steps + s]) }
            #expect(abs(sum - (probability(clean) - probability(baseline))) < 1e-5, "step \(s): \(sum)")
        }
        // Same seed, same values; another seed, other orders.
        #expect(try Self.attribute(model, ShapleyValueSampling(samples: 3, seed: 1)).targetAttributions == values)
        #expect(try Self.attribute(model, ShapleyValueSampling(samples: 3, seed: 2)).targetAttributions != values)
    }

    /// LIME drawn from a seed: reproducible, another seed draws other masks, and a token the
    /// masks never change would get 0 (here every prompt token varies, so all get weight).
    @Test func limeIsSeededAndReproducible() throws {
        let a = try Self.attribute("tiny-gpt2", Lime(samples: 20, seed: 3)).targetAttributions
        #expect(try Self.attribute("tiny-gpt2", Lime(samples: 20, seed: 3)).targetAttributions == a)
        #expect(try Self.attribute("tiny-gpt2", Lime(samples: 20, seed: 4)).targetAttributions != a)
        #expect(a?.shape == [11, 5, 64])
    }
}
