import Foundation
import Testing
import SeqLensTestSupport
@testable import SeqLensAttribution
import SeqLensModels
import SeqLensTensor

/// Inseq's mc_dropout_prob_avg: (p − mean) / std of the target's probability over forward passes
/// with dropout. torch's masks cannot be replayed, so SeqLens's dropout is checked against the
/// distribution transformers' GPT-2 gives in train mode (make_dropout_fixtures.py), and the step
/// function by its formula and gradient.
@Suite("Monte Carlo dropout matches transformers' train mode", .serialized)
struct MonteCarloDropoutTests {
    nonisolated(unsafe) static let fixture: [String: Any] = (try? Fixtures.json("attribution/dropout/tiny-gpt2.json")) ?? [:]

    struct Moments {
        var mean: [Double]
        var std: [Double]
    }

    /// Mean and unbiased std of each step's target probability over `samples` dropout passes.
    static func moments(_ model: LanguageModel, ids: [Int], start: Int, rates: DropoutRates, samples: Int) throws -> Moments {
        let sampler = DropoutSampler(rates: rates, seed: 11)
        let steps = ids.count - start
        var sum = [Double](repeating: 0, count: steps), squares = sum
        for _ in 0..<samples {
            let logits = try model.logits(ids, probe: sampler)
            let v = logits.shape[1]
            for s in 0..<steps {
                let row = Array(logits.scalars[((start + s - 1) * v)..<((start + s) * v)])
                let m = row.max()!
                let total = row.reduce(0.0) { $0 + Double(expf($1 - m)) }
                let p = Double(expf(row[ids[start + s]] - m)) / total
                sum[s] += p
                squares[s] += p * p
            }
        }
        let n = Double(samples)
        let mean = sum.map { $0 / n }
        let std = zip(squares, mean).map { (($0 - n * $1 * $1) / (n - 1)).squareRoot() }
        return Moments(mean: mean, std: std)
    }

    /// Steps whose mean or std differ from torch's by more than `sigmas` combined standard errors.
    static func mismatches(_ moments: Moments, sigmas: Double) -> [String] {
        let steps = fixture["steps"] as? [[String: Any]] ?? []
        var problems: [String] = []
        for (s, step) in steps.enumerated() {
            let mean = step["noisy_mean"] as! Double, std = step["noisy_std"] as! Double
            // Both sides are samples of the same size: their difference has √2 × one's error.
            let meanError = (step["mean_standard_error"] as! Double) * 2.0.squareRoot()
            let stdError = (step["std_standard_error"] as! Double) * 2.0.squareRoot()
            if abs(moments.mean[s] - mean) > sigmas * meanError { problems.append("step \(s) mean \(moments.mean[s]) vs \(mean)") }
            if abs(moments.std[s] - std) > sigmas * stdError { problems.append("step \(s) std \(moments.std[s]) vs \(std)") }
        }
        return problems
    }

    static func setup() throws -> (LanguageModel, [Int], Int) {
        let model = try InseqFixtureTests.model("tiny-gpt2")
        let ids = try #require(fixture["ids"] as? [Int])
        let steps = try #require(fixture["steps"] as? [[String: Any]])
        let start = try #require(steps.first?["position"] as? Int)
        #expect(model.encode(fixture["text"] as! String) == ids)
        return (model, ids, start)
    }

    @Test("GPT-2's dropout rates come from its config")
    func ratesFromConfig() throws {
        let (model, _, _) = try Self.setup()
        let rates = try #require(Self.fixture["rates"] as? [String: Double])
        #expect(model.transformer.dropout == DropoutRates(
            embedding: Float(rates["embedding"]!), attention: Float(rates["attention"]!), residual: Float(rates["residual"]!)))
        #expect(try InseqFixtureTests.model("tiny-llama").transformer.dropout.isZero)
    }

    @Test("Dropout passes have torch's distribution; dropping at fewer places does not")
    func distributionMatchesTorch() throws {
        let (model, ids, start) = try Self.setup()
        let samples = try #require(Self.fixture["samples"] as? Int)
        let rates = model.transformer.dropout
        let problems = Self.mismatches(try Self.moments(model, ids: ids, start: start, rates: rates, samples: samples), sigmas: 5)
        #expect(problems.isEmpty, "\(problems)")
        // The check can fail: without the attention dropout, or without the residual one, the
        // same comparison finds differences.
        for wrong in [DropoutRates(embedding: rates.embedding, attention: 0, residual: rates.residual),
                      DropoutRates(embedding: rates.embedding, attention: rates.attention, residual: 0)] {
            let found = Self.mismatches(try Self.moments(model, ids: ids, start: start, rates: wrong, samples: samples), sigmas: 5)
            #expect(!found.isEmpty, "\(wrong) should not pass")
        }
    }

    @Test("A sampler with zero rates changes nothing")
    func zeroRatesAreInference() throws {
        let (model, ids, _) = try Self.setup()
        let plain = try model.logits(ids)
        let sampled = try model.logits(ids, probe: DropoutSampler(rates: DropoutRates(), seed: 3))
        #expect(plain.scalars == sampled.scalars)
    }

    @Test("The z-score formula uses torch's unbiased standard deviation")
    func formula() throws {
        let formula = try #require(Self.fixture["formula"] as? [String: Any])
        let samples = try #require(formula["samples"] as? [Double]).map(Float.init)
        let p = Float(try #require(formula["probability"] as? Double))
        // Logits whose softmax gives p at index 0 of two tokens.
        let logits: [Float] = [logf(p), logf(1 - p)]
        let context = StepContext(logits: logits, target: 0, contrastLogits: nil, contrastTarget: nil, noisyScores: samples)
        let value = try StepFunction.mcDropoutProbAvg.evaluate(context, options: StepFunctionOptions(), withGradient: true)
        #expect(abs(value.value - Float(formula["z"] as! Double)) <= 1e-4)
        // One pass: std is NaN, as torch's.
        let single = StepContext(logits: logits, target: 0, contrastLogits: nil, contrastTarget: nil, noisyScores: [0.3])
        #expect(try StepFunction.mcDropoutProbAvg.evaluate(single, options: StepFunctionOptions(), withGradient: false).value.isNaN)
    }

    static func request(_ method: any AttributionMethod, function: StepFunction, seed: UInt64 = 5) -> AttributionRequest {
        var request = AttributionRequest(inputs: [fixture["prompt"] as! String])
        request.generatedTexts = [fixture["text"] as! String]
        request.method = method
        request.attributedFunction = function
        request.stepScores = [.probability, .mcDropoutProbAvg]
        request.functionOptions.mcDropoutSeed = seed
        request.functionOptions.mcDropoutSteps = 7
        return request
    }

    /// Each step's target probability under `passes` dropout passes drawn from `seed`.
    static func noisySamples(_ model: LanguageModel, ids: [Int], start: Int, seed: UInt64, passes: Int) throws -> [[Float]] {
        let sampler = DropoutSampler(rates: model.transformer.dropout, seed: seed)
        var noisy = [[Float]](repeating: [], count: ids.count - start)
        for _ in 0..<passes {
            let logits = try model.logits(ids, probe: sampler)
            let v = logits.shape[1]
            for s in noisy.indices {
                let row = Array(logits.scalars[((start + s - 1) * v)..<((start + s) * v)])
                let m = row.max()!
                let total = row.reduce(0.0) { $0 + Double(expf($1 - m)) }
                noisy[s].append(Float(Double(expf(row[ids[start + s]] - m)) / total))
            }
        }
        return noisy
    }

    static func meanAndStd(_ values: [Float]) -> (Float, Float) {
        let n = Float(values.count)
        let mean = values.reduce(0, +) / n
        return (mean, (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)).squareRoot())
    }

    @Test("As a step score: the eval probability against the samples, reproducible by seed")
    func stepScore() throws {
        let (model, ids, start) = try Self.setup()
        let output = try Attributor(model: model).attribute(Self.request(DummyMethod(), function: .probability))
        let sequence = output.sequenceAttributions[0]
        let scores = try #require(sequence.stepScores["mc_dropout_prob_avg"]).values
        let probabilities = try #require(sequence.stepScores["probability"]).values
        // The eval-mode probabilities are transformers'.
        for (s, step) in (Self.fixture["steps"] as! [[String: Any]]).enumerated() {
            let reference = Float(step["probability"] as! Double)
            #expect(abs(probabilities[s] - reference) <= 1e-4 * reference)
        }
        // Recomputed from the same seed's seven passes.
        let noisy = try Self.noisySamples(model, ids: ids, start: start, seed: 5, passes: 7)
        for s in noisy.indices {
            let (mean, std) = Self.meanAndStd(noisy[s])
            let expected = (probabilities[s] - mean) / std
            #expect(abs(scores[s] - expected) <= 1e-3 * max(1, abs(expected)), "step \(s): \(scores[s]) vs \(expected)")
        }
        let again = try Attributor(model: model).attribute(Self.request(DummyMethod(), function: .probability))
        #expect(again.sequenceAttributions[0].stepScores == sequence.stepScores)
        let other = try Attributor(model: model).attribute(Self.request(DummyMethod(), function: .probability, seed: 6))
        #expect(other.sequenceAttributions[0].stepScores["mc_dropout_prob_avg"] != sequence.stepScores["mc_dropout_prob_avg"])
    }

    @Test("As the attributed function: the probability's gradient over the samples' std")
    func attributedFunction() throws {
        let (model, ids, start) = try Self.setup()
        let attributor = Attributor(model: model)
        let mcd = try attributor.attribute(Self.request(InputXGradient(), function: .mcDropoutProbAvg)).sequenceAttributions[0]
        let probability = try attributor.attribute(Self.request(InputXGradient(), function: .probability)).sequenceAttributions[0]
        let noisy = try Self.noisySamples(model, ids: ids, start: start, seed: 5, passes: 7)
        let a = try #require(mcd.targetAttributions), b = try #require(probability.targetAttributions)
        var compared = 0
        for s in 0..<a.shape[1] {
            // z = (p − mean) / std with mean and std constants: ∂z = ∂p / std.
            let (_, std) = Self.meanAndStd(noisy[s])
            for position in 0..<a.shape[0] {
                for j in 0..<a.shape[2] {
                    let x = a[position, s, j], y = b[position, s, j]
                    if x.isNaN || y.isNaN { continue }
                    #expect(abs(x - y / std) <= 1e-3 * abs(y / std) + 1e-12, "step \(s) position \(position)")
                    compared += 1
                }
            }
        }
        #expect(compared > 100)
    }

    @Test("A model without dropout gives a clear error")
    func noDropout() throws {
        let model = try InseqFixtureTests.model("tiny-llama")
        var request = AttributionRequest(inputs: ["Hello"])
        request.generatedTexts = ["Hello world"]
        request.method = DummyMethod()
        request.stepScores = [.mcDropoutProbAvg]
        #expect {
            _ = try Attributor(model: model).attribute(request)
        } throws: { error in
            "\(error)".contains("mc_dropout_prob_avg needs a model with dropout")
        }
    }
}
