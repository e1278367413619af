"""clients/shell/seqlens-rpc against the real daemon."""

import json
import subprocess
from pathlib import Path

from conftest import TINY_GPT2

SCRIPT = Path(__file__).resolve().parents[2] / "shell" / "seqlens-rpc"


def run(binary, *arguments, stdin=None):
    return subprocess.run([str(SCRIPT), "-c", f"{binary} serve", *arguments], input=stdin, capture_output=True,
                          text=True, timeout=30)


def test_prints_the_result_json(binary):
    done = run(binary, "-l", f"{TINY_GPT2}=a", "tokenize", '{"model":"a","texts":["Hello world"]}')
    assert done.returncode == 0, done.stderr
    # As Hugging Face tokenizers encodes it with the fixture's tokenizer.json.
    assert json.loads(done.stdout) == {"results": [{"ids": [40, 69, 360, 79, 279, 263, 76, 68],
                                                    "tokens": ["H", "e", "ll", "o", "Ġw", "or", "l", "d"]}]}


def test_reads_params_from_stdin(binary, gpt2):
    done = run(binary, "-l", TINY_GPT2, "generate", "-",
               stdin='{"model":"tiny-gpt2","inputs":["Hello"],"maxNewTokens":3,"stopAtEos":false}')
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)["results"]
    assert result["text"] == gpt2.generate("gpt2", ["Hello"], max_new_tokens=3, stop_at_eos=False)[0].text
    assert len(result["tokens"]) == 3


def test_attribute_in_a_pipeline(binary, gpt2):
    params = {"model": "tiny-gpt2", "inputs": ["Hello"], "generatedTexts": ["Hello world"],
              "stepScores": ["probability"]}
    done = run(binary, "-l", TINY_GPT2, "attribute", json.dumps(params))
    assert done.returncode == 0, done.stderr
    [served] = json.loads(done.stdout)["results"]
    [expected] = gpt2.attribute("gpt2", "Hello", "Hello world", step_scores=["probability"])
    assert served["targetAttributions"] == expected.target_attributions
    assert served["stepScores"] == expected.step_scores


def test_an_error_reply_goes_to_stderr_with_status_1(binary):
    done = run(binary, "tokenize", '{"model":"nope","texts":["x"]}')
    assert done.returncode == 1
    assert done.stdout == ""
    assert json.loads(done.stderr)["code"] == -32010


def test_bad_usage_exits_2(binary):
    assert run(binary).returncode == 2
