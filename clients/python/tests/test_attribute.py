"""`SeqLens.attribute` against the real daemon with tiny-gpt2."""

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import TINY_GPT2  # noqa: E402
from seqlens_client import InvalidParams, RequestCancelled, attribute_params  # noqa: E402


def columns(matrix):
    """[position][step] -> per step, the non-null values."""
    steps = len(matrix[0])
    return [[row[step] for row in matrix if row[step] is not None] for step in range(steps)]


def test_keyword_names_follow_inseq():
    params = attribute_params("m", "Hello", "Hello world", method="integrated_gradients", n_steps=10,
                              internal_batch_size=5, integration="riemann_middle", step_scores=["probability"],
                              attributed_fn="contrast_prob_diff", contrast_targets="Hello there", logprob=True,
                              contrast_targets_alignments=[[(1, 1)]], attr_pos_start=2, granular=True,
                              generation_args={"max_new_tokens": 3})
    assert params == {
        "model": "m", "inputs": ["Hello"], "generatedTexts": ["Hello world"], "method": "integrated_gradients",
        "methodArgs": {"nSteps": 10, "internalBatchSize": 5, "integration": "riemann_middle"},
        "attributedFn": "contrast_prob_diff", "attributedFnArgs": {"logprob": True},
        "stepScores": ["probability"], "contrastTargets": ["Hello there"], "contrastTargetsAlignments": [[[1, 1]]],
        "attrPosStart": 2, "generationArgs": {"maxNewTokens": 3}, "granular": True,
    }
    # Method arguments go through in camelCase; the daemon checks them against the method.
    assert attribute_params("m", "Hello", method="occlusion", sliding_window_shapes=(2, 64))["methodArgs"] == {
        "slidingWindowShapes": [2, 64]}


def test_forward_only_methods_and_their_argument_errors(gpt2):
    out = gpt2.attribute("gpt2", "Hello world", "Hello world and more", method="value_zeroing",
                         similarity_metric="cosine", granular=True)
    assert len(out[0].target_attributions) == len(out[0].target)
    with pytest.raises(InvalidParams, match="params.methodArgs.nsteps: unknown argument"):
        gpt2.attribute("gpt2", "Hello", "Hello world", method="occlusion", nsteps=3)


def test_saliency_with_step_scores_and_progress(gpt2):
    updates = []
    out = gpt2.attribute("gpt2", ["Hello world", "A cat"], step_scores=["probability"],
                         generation_args={"max_new_tokens": 3}, progress=updates.append)
    assert len(out) == 2
    for sequence in out:
        steps = sequence.attr_pos_end - sequence.attr_pos_start
        assert steps == len(sequence.generated_tokens) >= 1
        assert [t.token for t in sequence.source] == [t.token for t in sequence.target[:sequence.attr_pos_start]]
        matrix = sequence.target_attributions
        assert len(matrix) == sequence.attr_pos_end and all(len(row) == steps for row in matrix)
        for step in range(steps):  # step s attributes the positions before its token, nothing after
            predicted = sequence.attr_pos_start + step
            assert all(matrix[position][step] is not None for position in range(predicted))
            assert all(matrix[position][step] is None for position in range(predicted, len(matrix)))
        for column in columns(matrix):  # Inseq's default aggregation normalises each step to sum 1
            assert math.isclose(sum(column), 1, rel_tol=1e-5) and min(column) >= 0
        probabilities = sequence.step_scores["probability"]
        assert len(probabilities) == steps and all(0 < p <= 1 for p in probabilities)
    # Reports per generated token and per forward/backward pass, rising through both sequences.
    kinds = [u.kind for u in updates]
    assert kinds[0] == "begin" and kinds[-1] == "end" and set(kinds[1:-1]) == {"report"}
    percentages = [u.percentage for u in updates if u.kind == "report"]
    assert len(percentages) >= 4 and percentages == sorted(percentages) and percentages[-1] >= 50


def test_granular_values_aggregate_to_the_matrix(gpt2):
    [sequence] = gpt2.attribute("gpt2", "Hello", "Hello world", method="integrated_gradients", n_steps=4,
                                return_convergence_delta=True, step_scores=["probability"], granular=True)
    tensor = sequence.granular_target_attributions
    steps = sequence.attr_pos_end - sequence.attr_pos_start
    assert tensor.shape == (sequence.attr_pos_end, steps, 64)
    assert len(sequence.step_scores["deltas"]) == steps
    # Inseq's default aggregation by hand: L2 norm over the hidden units, each step's column normalised.
    norms = [[math.sqrt(sum(v * v for v in tensor.tolist()[p][s])) for s in range(steps)] for p in range(tensor.shape[0])]
    for step in range(steps):
        visible = [p for p in range(tensor.shape[0]) if not math.isnan(norms[p][step])]
        total = sum(norms[p][step] for p in visible)
        for position in visible:
            assert math.isclose(sequence.target_attributions[position][step], norms[position][step] / total,
                                rel_tol=1e-5, abs_tol=1e-7)


def test_step_attributions_are_the_matrix_columns(gpt2, tmp_path):
    path = tmp_path / "steps.json"
    [sequence] = gpt2.attribute("gpt2", "Hello", "Hello world and more", step_scores=["probability"],
                                output_step_attributions=True, granular=True, save_path=str(path))
    steps = sequence.step_attributions
    assert [step.position for step in steps] == list(range(sequence.attr_pos_start, sequence.attr_pos_end))
    assert [step.target for step in steps] == sequence.generated_tokens
    for index, step in enumerate(steps):
        assert step.attributions == [row[index] for row in sequence.target_attributions[:step.position]]
        assert step.step_scores["probability"] == sequence.step_scores["probability"][index]
        assert step.granular_attributions.shape == (step.position, 64)
        assert step.granular_attributions.tolist() == [
            sequence.granular_target_attributions.tolist()[p][index] for p in range(step.position)]
    saved = json.loads(path.read_text())["attributes"]
    assert saved["info"]["output_step_attributions"] is True
    assert [s["__instance_type__"][1] for s in saved["step_attributions"]] == \
        ["GranularFeatureAttributionStepOutput"] * len(steps)
    assert gpt2.attribute("gpt2", "Hello", "Hello world")[0].step_attributions is None


def test_mc_dropout_step_score_is_seeded(gpt2):
    def scores(seed):
        [sequence] = gpt2.attribute("gpt2", "Hello", "Hello world and more", method="dummy",
                                    step_scores=["mc_dropout_prob_avg"], n_mcd_steps=8, mcd_seed=seed)
        return sequence.step_scores["mc_dropout_prob_avg"]
    first = scores(1)
    assert len(first) >= 2 and all(math.isfinite(v) for v in first)
    assert scores(1) == first and scores(2) != first


def test_contrastive_attribution(gpt2):
    [sequence] = gpt2.attribute("gpt2", "Hello", "Hello world", contrast_targets="Hello there",
                                attributed_fn="contrast_prob_diff", step_scores=["contrast_prob_diff", "probability"],
                                method="input_x_gradient")
    assert set(sequence.step_scores) == {"contrast_prob_diff", "probability"}
    assert any(" → " in token.token and token.id == -1 for token in sequence.generated_tokens)


def test_matches_the_command_line(binary, gpt2):
    """The daemon and `seqlens attribute --json` (another code path over the same engine) agree."""
    [served] = gpt2.attribute("gpt2", "Hello", "Hello world", method="integrated_gradients", n_steps=6,
                              step_scores=["probability"])
    done = subprocess.run([binary, "attribute", "-m", TINY_GPT2, "Hello", "--generated-text", "Hello world",
                           "--method", "integrated_gradients", "--n-steps", "6", "--step-scores", "probability",
                           "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    [printed] = json.loads(done.stdout)
    assert [t.token for t in served.target] == printed["target"]
    assert (served.attr_pos_start, served.attr_pos_end) == (printed["attrPosStart"], printed["attrPosEnd"])
    for row, expected in zip(served.target_attributions, printed["targetAttributions"]):
        assert [v is None for v in row] == [v is None for v in expected]
        assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(row, expected) if a is not None)


def test_save_path_writes_inseq_json(gpt2, tmp_path):
    path = tmp_path / "out.json"
    out = gpt2.attribute("gpt2", "Hello", "Hello world", step_scores=["probability"], save_path=str(path))
    assert out.saved_to == str(path)
    saved = json.loads(path.read_text())
    assert saved["__instance_type__"] == ["inseq.data.attribution", "FeatureAttributionOutput"]
    with pytest.raises(InvalidParams, match="already exists"):
        gpt2.attribute("gpt2", "Hello", "Hello world", save_path=str(path))


@pytest.mark.parametrize("arguments, words", [
    ({"method": "magic"}, "params.method: unknown attribution method 'magic' (known: saliency"),
    ({"step_scores": ["surprise"]}, "params.stepScores[0]"),
    ({"generated_texts": "Goodbye"}, "params.generatedTexts[0]: expected a text that starts with its input"),
    ({"contrast_targets": ["a", "b"]}, "params.contrastTargets: expected 1 (one per input), got 2"),
    ({"generated_texts": "Hello world", "attr_pos_start": 50}, "attribution positions 50..<"),
    ({"method": "integrated_gradients", "n_steps": 0}, "params.methodArgs.nSteps"),
])
def test_bad_arguments_raise_invalid_params(gpt2, arguments, words):
    with pytest.raises(InvalidParams) as raised:
        gpt2.attribute("gpt2", "Hello", **arguments)
    assert words in raised.value.message
    assert len(gpt2.attribute("gpt2", "Hello", "Hello world")) == 1  # still serving


def test_cancellation(gpt2):
    updates = []
    # 100 sequences of integrated gradients: seconds of work, stopped after the current sequence.
    pending = gpt2.attribute_async("gpt2", [f"Hello world {i}" for i in range(100)], method="integrated_gradients",
                                   n_steps=16, generation_args={"max_new_tokens": 5}, progress=updates.append)
    deadline = time.time() + 10
    while not any(update.kind == "report" for update in updates) and time.time() < deadline:
        time.sleep(0.01)
    cancelled_at = time.time()
    pending.cancel()
    with pytest.raises(RequestCancelled):
        pending.result(timeout=5)
    assert time.time() - cancelled_at < 1
    assert updates[-1].kind == "end" and updates[-1].message == "cancelled"
