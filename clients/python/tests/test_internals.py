"""inspect/* from Python on the tiny GPT-2, against the reference fixture (transformers with hooks,
Tests/Fixtures/internals/tiny-gpt2.json): numpy arrays with numpy, nested lists without it, and
HTML grids for notebooks."""
import json
import math
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import REPOSITORY  # noqa: E402
import seqlens_client  # noqa: E402
from seqlens_client import internals  # noqa: E402

FIXTURE = json.loads((REPOSITORY / "Tests" / "Fixtures" / "internals" / "tiny-gpt2.json").read_text())


def close(actual, expected, scale=None):
    actual, expected = list(actual), list(expected)
    assert len(actual) == len(expected)
    scale = scale or max(abs(x) for x in expected) or 1.0
    worst = max(abs(a - b) for a, b in zip(actual, expected))
    assert worst <= 1e-4 * scale, worst


def flat(value):
    return [x for item in value for x in flat(item)] if isinstance(value, list) else [value]


def test_activations_are_numpy_arrays(gpt2):
    numpy = pytest.importorskip("numpy")  # scripts/test installs numpy: this never skips there
    cache = gpt2.inspect_activations("gpt2", FIXTURE["text"], ["blocks.*.resid_post", "blocks.1.attn.pattern"])
    assert isinstance(cache, seqlens_client.Activations)
    assert [t.id for t in cache.tokens] == FIXTURE["ids"]
    assert sorted(cache) == ["blocks.0.resid_post", "blocks.1.attn.pattern", "blocks.1.resid_post"]
    for site in cache:
        reference = FIXTURE["activations"][site]
        assert isinstance(cache[site], numpy.ndarray) and cache[site].dtype == numpy.float32
        assert list(cache[site].shape) == reference["shape"]
        close(cache[site].ravel().tolist(), reference["data"])


def test_activations_are_lists_without_numpy(gpt2, monkeypatch):
    monkeypatch.setattr(internals, "numpy", None)
    cache = gpt2.inspect_activations("gpt2", FIXTURE["text"], "blocks.0.mlp.out", positions=[2, 0])
    value = cache["blocks.0.mlp.out"]
    assert isinstance(value, list) and len(value) == 2
    reference = FIXTURE["activations"]["blocks.0.mlp.out"]
    width = reference["shape"][1]
    close(flat(value), reference["data"][2 * width:3 * width] + reference["data"][:width])


def test_logit_lens_matches_and_renders_a_grid(gpt2):
    lens = FIXTURE["logit_lens"]
    result = gpt2.logit_lens("gpt2", FIXTURE["text"], targets=lens["targets"])
    assert result.sites == [entry["site"] for entry in lens["sites"]]
    for site, entry in zip(result.top, lens["sites"]):
        assert [[t.id for t in position] for position in site] == entry["top_ids"]
        close([t.prob for position in site for t in position], flat(entry["top_probs"]), scale=1.0)
    close(flat(result.target_probs.tolist()), [p for entry in lens["sites"] for p in flat(entry["target_probs"])], scale=1.0)
    page = result._repr_html_()
    assert page.count("<tr>") == 1 + len(result.sites)
    assert "Logit lens" in page and "background:rgb(" in page
    # The colour of a cell is its probability on the red side of the scale.
    assert re.search(r'background:rgb\(\d+,\d+,\d+\)" title="[0-9.e-]+">', page)


def test_patching_matches_and_renders_a_grid(gpt2):
    patch = FIXTURE["patch"]
    metric = patch["metric"]
    result = gpt2.patch("gpt2", patch["clean"], patch["corrupted"], patch["sites"],
                        target=metric["target"], contrast=metric["contrast"])
    assert result.sites == patch["sites"]
    assert math.isclose(result.clean_metric, patch["clean_metric"], abs_tol=1e-4)
    scale = max(abs(x) for row in patch["values"] for x in row)
    close(result.values.ravel().tolist(), flat(patch["values"]), scale=scale)
    normalized = result.normalized()
    row, column = 0, 0
    expected = (patch["values"][row][column] - patch["corrupted_metric"]) / (patch["clean_metric"] - patch["corrupted_metric"])
    assert math.isclose(normalized[row][column], expected, abs_tol=1e-3)
    page = result._repr_html_()
    assert page.count("<tr>") == 1 + len(patch["sites"]) and "→" in page


def test_head_sweep_and_ablation(gpt2):
    ablate = FIXTURE["ablate"]
    sweep = gpt2.ablate("gpt2", FIXTURE["text"], ablate["target"], sweep_heads=True)
    assert isinstance(sweep, seqlens_client.HeadSweep)
    close(sweep.grid.ravel().tolist(), flat(ablate["grid"]), scale=1.0)
    assert "layer 1" in sweep._repr_html_()
    zero = ablate["zero_heads"]
    single = gpt2.ablate("gpt2", FIXTURE["text"], ablate["target"],
                         ablations=[{"site": zero["site"], "heads": zero["heads"]}])
    assert math.isclose(single.ablated, zero["logprob"], abs_tol=1e-4)


def test_steering_during_generation(gpt2):
    steering = FIXTURE["interventions"]
    ids = steering["generated_ids"]
    interventions = [{key: value for key, value in entry.items() if value is not None} for entry in steering["list"]]
    plain = gpt2.generate("gpt2", [FIXTURE["text"]], max_new_tokens=len(ids), stop_at_eos=False)[0]
    steered = gpt2.generate("gpt2", [FIXTURE["text"]], max_new_tokens=len(ids), stop_at_eos=False,
                            interventions=interventions)[0]
    assert [t.id for t in steered.tokens] == ids
    assert [t.id for t in plain.tokens] != ids


def test_bad_sites_are_invalid_params(gpt2):
    with pytest.raises(seqlens_client.InvalidParams, match="sites"):
        gpt2.inspect_activations("gpt2", "hi", ["blocks.7.resid_post"])


def test_activations_through_a_file_equal_the_reply(gpt2, tmp_path):
    sites = ["blocks.*.resid_pre", "blocks.1.attn.z"]
    direct = gpt2.inspect_activations("gpt2", FIXTURE["text"], sites)
    path = tmp_path / "cache.safetensors"
    saved = gpt2.inspect_activations("gpt2", FIXTURE["text"], sites, save_path=str(path))
    assert path.is_file() and sorted(saved) == sorted(direct)
    for site in direct:
        assert saved[site].shape == direct[site].shape and (saved[site] == direct[site]).all()
    with pytest.raises(seqlens_client.InvalidParams, match="savePath"):
        gpt2.inspect_activations("gpt2", FIXTURE["text"], sites, save_path=str(path))
    again = gpt2.inspect_activations("gpt2", FIXTURE["text"], "blocks.0.resid_pre", save_path=str(path), overwrite=True)
    assert list(again) == ["blocks.0.resid_pre"]
    plain = internals.read_safetensors(str(path), use_numpy=False)
    assert plain["blocks.0.resid_pre"] == direct["blocks.0.resid_pre"].tolist()
