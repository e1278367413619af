"""The Python client against the real daemon binary."""

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seqlens_client import (  # noqa: E402
    InputTooLong, InvalidParams, MemoryBudgetExceeded, ModelLoadFailed, ModelNotFound, RequestCancelled, SeqLens,
)


def test_initialize_reports_server_and_capabilities(lens):
    assert lens.server_info["serverInfo"]["name"] == "seqlens"
    assert "generate" in lens.server_info["capabilities"]["methods"]


def test_load_tokenize_detokenize(lens):
    model = lens.load_model("synthetic:a", id="a")
    assert (model.id, model.architecture, model.vocab_size, model.already_resident) == ("a", "synthetic", 258, False)
    again = lens.load_model("synthetic:a")
    assert again.already_resident and again.id == "a"
    assert lens.status()["modelLoadsFromStorage"] == 1
    [encoding] = lens.tokenize("a", ["hi"])
    assert encoding.ids == [256, 104, 105] and encoding.tokens == ["<s>", "h", "i"]
    assert lens.detokenize("a", [encoding.ids], skip_special_tokens=True) == ["hi"]
    assert [m.id for m in lens.list_models()] == ["a"]
    assert lens.unload_model("a") == model.memory_bytes


def test_generate_with_progress_callback(lens):
    lens.load_model("synthetic:g", id="g")
    updates = []
    [generation] = lens.generate("g", ["abc"], max_new_tokens=4, return_top_k=2, progress=updates.append)
    assert generation.text == "defg"
    assert generation.stop_reason == "maxNewTokens"
    assert [t.id for t in generation.tokens] == [100, 101, 102, 103]
    assert [a.token for a in generation.tokens[0].top] == ["d", "e"]
    assert [u.kind for u in updates] == ["begin", "report", "report", "report", "report", "end"]
    assert [u.percentage for u in updates if u.kind == "report"] == [25, 50, 75, 100]


def test_cancellation_raises_request_cancelled(lens):
    lens.load_model("synthetic:slow?delayMs=10&maxPositions=100000", id="slow")
    started = []
    pending = lens.generate_async("slow", ["a"], max_new_tokens=10000, progress=started.append)
    deadline = time.time() + 5
    while not started and time.time() < deadline:
        time.sleep(0.01)
    cancelled_at = time.time()
    pending.cancel()
    with pytest.raises(RequestCancelled) as raised:
        pending.result(timeout=5)
    assert time.time() - cancelled_at < 1
    assert raised.value.code == -32800
    assert lens.tokenize("slow", ["ok"], add_special_tokens=False)[0].ids == [111, 107]


@pytest.mark.parametrize("call, error, words", [
    (lambda lens: lens.tokenize("missing", ["x"]), ModelNotFound, "no resident model with id 'missing'"),
    (lambda lens: lens.load_model("/no/such/model.gguf"), ModelLoadFailed, "/no/such/model.gguf"),
    (lambda lens: lens.request("tokenize", {"model": "m", "texts": [1]}), InvalidParams, "params.texts[0]"),
    (lambda lens: lens.load_model("synthetic:huge?memory=999999999999"), MemoryBudgetExceeded, "memory budget"),
])
def test_errors_are_exceptions_with_codes(binary, call, error, words):
    with SeqLens([binary, "serve"], env={"SEQLENS_SYNTHETIC_MODELS": "1"}, memory_budget_bytes=10**9) as lens:
        with pytest.raises(error) as raised:
            call(lens)
        assert words in raised.value.message
        assert raised.value.code == error.code
        assert lens.list_models() == []


def test_input_too_long(lens):
    lens.load_model("synthetic:short?maxPositions=8", id="short")
    with pytest.raises(InputTooLong) as raised:
        lens.generate("short", ["abcdefgh"], max_new_tokens=2)
    assert raised.value.data == {"promptTokens": 9, "maxPositions": 8}


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
