#!/usr/bin/env python3
"""Daemon round-trip benchmark (issue 3): protocol overhead of a small request and start-up time.

Measures, against the real binary over pipes with a minimal synchronous client (no threads):
  1. start-up to first answer: process start -> `initialize` answered (and -> model loaded);
  2. round trip of `model/list` (answered on the reader thread: pure protocol cost);
  3. round trip of a one-text `tokenize` (through the compute queue);
  4. the same texts tokenized in one batched request, per text: the in-process tokenize cost
     plus JSON for its ids, without the per-request protocol cost.
Protocol overhead per small request = (3) - (4).

Usage: benchmarks/daemon_roundtrip.py [--binary .build/release/seqlens] [--model default] [-n 2000]
The model defaults to "default" (SmolLM2); when the engine cannot load it, the committed tiny GPT-2
(Tests/Fixtures/models/tiny-gpt2) is used instead and the report says so.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FALLBACK_MODEL = str(ROOT / "Tests" / "Fixtures" / "models" / "tiny-gpt2")


class Daemon:
    def __init__(self, binary):
        self.started = time.perf_counter()
        self.process = subprocess.Popen([binary, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, bufsize=0)
        self.next_id = 0

    def call(self, method, params=None):
        self.next_id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params or {}},
                          separators=(",", ":")).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        while True:
            reply = self.read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def read(self):
        stream = self.process.stdout
        length = None
        while True:
            line = stream.readline()
            if not line:
                raise RuntimeError("daemon closed its output")
            if line == b"\r\n":
                break
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        body = b""
        while len(body) < length:
            body += stream.read(length - len(body))
        return json.loads(body)

    def close(self):
        self.call("shutdown")
        self.process.stdin.write(b'Content-Length: 33\r\n\r\n{"jsonrpc":"2.0","method":"exit"}')
        self.process.stdin.close()
        return self.process.wait()


def timed(function, repeat):
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return samples


def describe(samples):
    samples = sorted(samples)
    median = statistics.median(samples) * 1e6
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1e6
    return f"median {median:9.1f} us   p99 {p99:9.1f} us   (n={len(samples)})", median


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=os.environ.get("SEQLENS_BIN") or str(ROOT / ".build/release/seqlens"))
    parser.add_argument("--model", default="default")
    parser.add_argument("-n", type=int, default=2000, help="requests per measurement")
    parser.add_argument("--startups", type=int, default=20)
    arguments = parser.parse_args()
    if not Path(arguments.binary).is_file():
        sys.exit(f"no binary at {arguments.binary}: swift build -c release, or pass --binary")
    text = "The quick brown fox jumps over the lazy dog."

    startup, loaded = [], []
    model_path = arguments.model
    for _ in range(arguments.startups):
        daemon = Daemon(arguments.binary)
        daemon.call("initialize", {"processId": os.getpid()})
        startup.append(time.perf_counter() - daemon.started)
        try:
            daemon.call("model/load", {"path": model_path, "id": "m"})
        except RuntimeError as error:
            if model_path == FALLBACK_MODEL:
                raise
            print(f"note: cannot load {model_path!r} ({error}); using {FALLBACK_MODEL}", file=sys.stderr)
            model_path = FALLBACK_MODEL
            daemon.call("model/load", {"path": model_path, "id": "m"})
        daemon.call("tokenize", {"model": "m", "texts": [text]})
        loaded.append(time.perf_counter() - daemon.started)
        daemon.close()

    daemon = Daemon(arguments.binary)
    daemon.call("initialize", {})
    daemon.call("model/load", {"path": model_path, "id": "m"})
    for _ in range(200):  # warm up
        daemon.call("tokenize", {"model": "m", "texts": [text]})
    listing = timed(lambda: daemon.call("model/list"), arguments.n)
    single = timed(lambda: daemon.call("tokenize", {"model": "m", "texts": [text]}), arguments.n)
    batch_size = 1000
    batches = timed(lambda: daemon.call("tokenize", {"model": "m", "texts": [text] * batch_size}),
                    max(5, arguments.n // batch_size))
    per_text = [sample / batch_size for sample in batches]
    status = daemon.close()

    print(f"binary: {arguments.binary}   model: {model_path}   exit status {status}")
    print(f"start-up -> initialize answered:            {describe(startup)[0]}")
    print(f"start-up -> model loaded + first tokenize:  {describe(loaded)[0]}")
    print(f"model/list round trip (reader thread):      {describe(listing)[0]}")
    single_text, single_median = describe(single)
    per_text_text, per_text_median = describe(per_text)
    print(f"tokenize, 1 text per request:               {single_text}")
    print(f"tokenize, per text in a batch of {batch_size}:    {per_text_text}")
    print(f"protocol overhead per small request:        {single_median - per_text_median:9.1f} us (goal: < 1000 us)")


if __name__ == "__main__":
    main()
