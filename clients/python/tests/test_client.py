"""The Python client against the real daemon binary."""

import json
import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import TINY_GPT2  # noqa: E402
from seqlens_client import (  # noqa: E402
    InputTooLong, InvalidParams, MemoryBudgetExceeded, ModelLoadFailed, ModelNotFound, RequestCancelled, SeqLens,
)


def test_initialize_reports_server_and_capabilities(lens):
    assert lens.server_info["serverInfo"]["name"] == "seqlens"
    assert "generate" in lens.server_info["capabilities"]["methods"]


def test_load_tokenize_detokenize(lens):
    model = lens.load_model(TINY_GPT2, id="a")
    assert (model.id, model.architecture, model.vocab_size, model.max_positions, model.already_resident) == \
        ("a", "gpt2", 512, 128, False)
    again = lens.load_model(TINY_GPT2 + "/")
    assert again.already_resident and again.id == "a"
    assert lens.status()["modelLoadsFromStorage"] == 1
    [encoding] = lens.tokenize("a", ["Hello world"])
    # As Hugging Face tokenizers encodes it with the fixture's tokenizer.json.
    assert encoding.ids == [40, 69, 360, 79, 279, 263, 76, 68]
    assert encoding.tokens == ["H", "e", "ll", "o", "Ġw", "or", "l", "d"]
    assert lens.detokenize("a", [encoding.ids], skip_special_tokens=True) == ["Hello world"]
    assert [m.id for m in lens.list_models()] == ["a"]
    assert lens.unload_model("a") == model.memory_bytes


def test_generate_with_progress_callback(gpt2):
    updates = []
    [generation] = gpt2.generate("gpt2", ["Hello"], max_new_tokens=4, return_top_k=2, stop_at_eos=False,
                                 progress=updates.append)
    assert generation.stop_reason == "maxNewTokens"
    assert len(generation.tokens) == 4
    for token in generation.tokens:  # greedy: each token is its step's most likely one
        assert [alternative.id for alternative in token.top][0] == token.id
        assert token.top[0].prob >= token.top[1].prob and token.prob == token.top[0].prob
    assert gpt2.detokenize("gpt2", [[t.id for t in generation.tokens]], skip_special_tokens=True) == [generation.text]
    assert gpt2.generate("gpt2", ["Hello"], max_new_tokens=4, stop_at_eos=False)[0].text == generation.text
    assert [u.kind for u in updates] == ["begin", "report", "report", "report", "report", "end"]
    assert [u.percentage for u in updates if u.kind == "report"] == [25, 50, 75, 100]


def test_cancellation_raises_request_cancelled(gpt2):
    started = []
    # 200 inputs x 120 tokens: seconds of work, stopped at its next token.
    pending = gpt2.generate_async("gpt2", [f"Hello {i}" for i in range(200)], max_new_tokens=120, stop_at_eos=False,
                                  progress=started.append)
    deadline = time.time() + 5
    while not any(update.kind == "report" for update in started) and time.time() < deadline:
        time.sleep(0.01)
    cancelled_at = time.time()
    pending.cancel()
    with pytest.raises(RequestCancelled) as raised:
        pending.result(timeout=5)
    assert time.time() - cancelled_at < 1
    assert raised.value.code == -32800
    assert gpt2.tokenize("gpt2", ["Hello world"])[0].ids == [40, 69, 360, 79, 279, 263, 76, 68]


@pytest.mark.parametrize("call, error, words", [
    (lambda lens: lens.tokenize("missing", ["x"]), ModelNotFound, "no resident model with id 'missing'"),
    (lambda lens: lens.load_model("/no/such/model.gguf"), ModelLoadFailed, "/no/such/model.gguf"),
    (lambda lens: lens.request("tokenize", {"model": "m", "texts": [1]}), InvalidParams, "params.texts[0]"),
    (lambda lens: lens.load_model(TINY_GPT2), MemoryBudgetExceeded, "memory budget is 500000 bytes"),
])
def test_errors_are_exceptions_with_codes(binary, call, error, words):
    with SeqLens([binary, "serve"], memory_budget_bytes=500_000) as lens:
        with pytest.raises(error) as raised:
            call(lens)
        assert words in raised.value.message
        assert raised.value.code == error.code
        assert lens.list_models() == []


def test_input_too_long(gpt2):
    text = "long " * 100
    prompt_tokens = len(gpt2.tokenize("gpt2", [text])[0].ids)
    with pytest.raises(InputTooLong) as raised:
        gpt2.generate("gpt2", [text], max_new_tokens=2)
    assert raised.value.data == {"promptTokens": prompt_tokens, "maxPositions": 128}


def test_context_manager_shuts_the_daemon_down_cleanly(binary):
    with SeqLens([binary, "serve"]) as lens:
        process = lens.process
    assert process.returncode == 0


@pytest.mark.skipif(not (Path(os.environ.get("SEQLENS_CACHE", Path.home() / ".cache" / "seqlens"))
                         / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf").is_file(),
                    reason="SmolLM2 is not in the cache: run scripts/fetch-models.sh")
def test_default_model_generate(binary):
    with SeqLens([binary, "serve"]) as lens:
        model = lens.load_model("default")
        assert model.architecture == "llama" and model.layers == 30
        assert lens.tokenize(model.id, ["Hello world"])[0].ids == [19556, 905]
        updates = []
        [generation] = lens.generate(model.id, ["The capital of France is"], max_new_tokens=4, progress=updates.append)
        assert generation.text.startswith(" Paris")
        assert updates[0].kind == "begin" and updates[-1].kind == "end"




def test_encoder_decoder_tokenize_and_generate(lens):
    """The tiny Marian: target-side tokens, greedy and beam search equal transformers' (reference.json)."""
    import json
    from pathlib import Path

    folder = Path(__file__).resolve().parents[3] / "Tests" / "Fixtures" / "models" / "tiny-marian"
    reference = json.loads((folder / "reference.json").read_text())
    info = lens.load_model(str(folder), id="mt")
    assert info.is_encoder_decoder and info.encoder_layers == 2 and info.architecture == "marian"
    differing = next(case for case in reference["tokenizer"] if case["source"] != case["target"])
    assert lens.tokenize("mt", [differing["text"]], side="target")[0].ids == differing["target"]
    assert lens.tokenize("mt", [differing["text"]])[0].ids == differing["source"]
    greedy = reference["greedy"][0]
    result = lens.generate("mt", [greedy["source"]], max_new_tokens=12, num_beams=1)[0]
    assert [331] + [token.id for token in result.tokens] == greedy["ids"]
    assert result.beams is None
    beam = reference["beam"][0]
    searched = lens.generate("mt", [beam["source"]], max_new_tokens=12, num_return_sequences=4)[0]
    assert len(searched.beams) == 4
    for got, expected, score in zip(searched.beams, beam["sequences"], beam["sequenceScores"]):
        ids = expected[1:]
        while ids and ids[-1] == 331:
            ids.pop()
        assert got.ids == ids
        assert abs(got.sequence_score - score) <= 1e-4


def test_encoder_decoder_attribution(lens):
    """attribute_target on the tiny Marian: source and target attributions, each step's column
    normalised over both together."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[3] / "Tests" / "Fixtures" / "models" / "tiny-marian"
    lens.load_model(str(folder), id="mt")
    [out] = lens.attribute("mt", "Hello world", "the program is free", method="input_x_gradient",
                           attribute_target=True, step_scores=["probability"], granular=True)
    assert len(out.source) == 11 and [token.token for token in out.target][0] == "<pad>"
    assert len(out.source_attributions) == 11 and len(out.target_attributions) == 6
    for step in range(5):
        column = [row[step] for row in out.source_attributions + out.target_attributions if row[step] is not None]
        assert abs(sum(column) - 1) <= 1e-5
    assert tuple(out.granular_source_attributions.shape) == (11, 5, 32)
    [plain] = lens.attribute("mt", "Hello world", "the program is free")
    assert plain.target_attributions is None and len(plain.source_attributions) == 11


def test_decoder_only_beam_search(gpt2):
    """num_beams on a decoder-only model: the beams transformers' generate(num_beams=4) returns
    (Tests/Fixtures/generation/decoder-only-beams.json, made by scripts/fixtures/make_beam_fixtures.py)."""
    fixture = json.loads((Path(__file__).resolve().parents[3] / "Tests" / "Fixtures" / "generation"
                          / "decoder-only-beams.json").read_text(encoding="utf-8"))
    case = next(c for c in fixture["cases"] if c["model"] == "tiny-gpt2" and c["options"] == {"num_beams": 4, "num_return_sequences": 4})
    result = gpt2.generate("gpt2", [case["prompt"]], max_new_tokens=12, num_beams=4, num_return_sequences=4)[0]
    prompt = len(case["promptIds"])
    assert [beam.ids for beam in result.beams] == [sequence[prompt:] for sequence in case["sequences"]]
    assert all(abs(beam.sequence_score - score) < 1e-4 for beam, score in zip(result.beams, case["sequenceScores"]))
    assert [token.id for token in result.tokens] == result.beams[0].ids
