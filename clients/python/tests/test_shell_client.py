"""clients/shell/seqlens-rpc against the real daemon."""

import json
import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "shell" / "seqlens-rpc"


def run(binary, *arguments, stdin=None):
    env = dict(os.environ, SEQLENS_SYNTHETIC_MODELS="1")
    return subprocess.run([str(SCRIPT), "-c", f"{binary} serve", *arguments], input=stdin, capture_output=True,
                          text=True, env=env, timeout=30)


def test_prints_the_result_json(binary):
    done = run(binary, "-l", "synthetic:a=a", "tokenize", '{"model":"a","texts":["hé"],"addSpecialTokens":false}')
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"results": [{"ids": [104, 195, 169], "tokens": ["h", "<0xC3>", "<0xA9>"]}]}


def test_reads_params_from_stdin(binary):
    done = run(binary, "-l", "synthetic:g", "generate", "-", stdin='{"model":"synthetic:g","inputs":["ab"],"maxNewTokens":2}')
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["results"][0]["text"] == "cd"


def test_an_error_reply_goes_to_stderr_with_status_1(binary):
    done = run(binary, "tokenize", '{"model":"nope","texts":["x"]}')
    assert done.returncode == 1
    assert done.stdout == ""
    assert json.loads(done.stderr)["code"] == -32010


def test_bad_usage_exits_2(binary):
    assert run(binary).returncode == 2
