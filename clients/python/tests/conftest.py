"""Fixtures: the real daemon binary ($SEQLENS_BIN, else .build/release or .build/debug of the repo) and
the committed tiny random GPT-2 (Tests/Fixtures/models/tiny-gpt2: loads in milliseconds)."""

import os
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[3]
TINY_GPT2 = str(REPOSITORY / "Tests" / "Fixtures" / "models" / "tiny-gpt2")


def daemon_binary() -> str:
    if os.environ.get("SEQLENS_BIN"):
        return os.environ["SEQLENS_BIN"]
    for build in ("release", "debug"):
        candidate = REPOSITORY / ".build" / build / "seqlens"
        if candidate.is_file():
            return str(candidate)
    pytest.fail("no seqlens binary: build it (swift build) or set SEQLENS_BIN")


@pytest.fixture
def binary() -> str:
    return daemon_binary()


@pytest.fixture
def lens(binary):
    from seqlens_client import SeqLens

    client = SeqLens([binary, "serve"])
    yield client
    client.close()


@pytest.fixture
def gpt2(lens):
    """A daemon with tiny-gpt2 resident as "gpt2"."""
    lens.load_model(TINY_GPT2, id="gpt2")
    return lens
