"""Fixtures: the real daemon binary ($SEQLENS_BIN, else .build/release or .build/debug of the repo)."""

import os
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[3]


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
    """A daemon that also accepts synthetic: model paths (a test hook needing no weights)."""
    from seqlens_client import SeqLens

    client = SeqLens([binary, "serve"], env={"SEQLENS_SYNTHETIC_MODELS": "1"})
    yield client
    client.close()
