#!/usr/bin/env python3
"""Perturbation and attention benchmark: SeqLens vs Inseq 0.7.1 on the forward-only attribution
methods, on the same machine, in the same run.

Cases: occlusion, value_zeroing and attention (and lime, when SeqLens lists it in `initialize`'s
capabilities.attributionMethods; a method SeqLens does not list is skipped, and the run says so),
each on a 20-token prompt with 20 FORCED tokens (generated_texts = prompt + a fixed 20-token
continuation: no generation in the measured call; both token counts are checked with the model's
tokenizer on both sides), on
  - SmolLM2-135M-Instruct (the Q4_1 GGUF, dequantized to float32 by both; Inseq loads it through
    transformers with gguf_file, dtype float32 and eager attention),
  - or, with --model tiny-gpt2, the tiny random GPT-2 of the test fixtures (a quick smoke test of
    this script; its timings are dominated by per-call overhead).
Step scores: occlusion is called as scripts/fixtures/make_perturbation_fixtures.py calls it, with
step_scores ["probability"], on both sides; value_zeroing and attention with none on both sides
(Inseq refuses step scores for these "final step" methods).

Inseq: a fresh child process per case; the model load (from_pretrained + inseq.load_model) is timed
separately and excluded; then ONE timed call of model.attribute(prompt, prompt + continuation,
show_progress=False) (calls take seconds to minutes); peak RSS = ru_maxrss of the child.
value_zeroing needs the monkeypatches of make_perturbation_fixtures.py's apply_patches() (Inseq
0.7.1's block hook assumes tuple block outputs; transformers 5 returns a Tensor), applied in the
child for every case (they only touch value zeroing).

SeqLens: through the daemon, a fresh `seqlens serve` per case over JSON-RPC on stdio
(benchmarks/rpc_client.py): initialize, model/load (excluded, timed separately), one warm-up
`attribute` call, then the median of N timed `attribute` calls (round trip, JSON included) with
{model, inputs: [prompt], generatedTexts: [prompt + continuation], method, stepScores}; peak RSS =
the daemon's VmHWM (/proc/<pid>/status) after the calls.

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv-ref/bin/python benchmarks/perturbation_bench.py \
        [--only METHOD ...] [-n N] [--model smollm2|tiny-gpt2]

Prints a JSON line per case as it finishes, then a markdown table. Needs the release binary
(.build/release/seqlens, or $SEQLENS_BIN), the reference venv and the cached SmolLM2 GGUF
(scripts/fetch-models.sh).
"""
import argparse, importlib.util, json, os, resource, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
from rpc_client import Daemon  # noqa: E402

CACHE = os.environ.get("SEQLENS_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "seqlens")
BINARY = os.environ.get("SEQLENS_BIN") or os.path.join(ROOT, ".build", "release", "seqlens")
GGUF = os.path.join(CACHE, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
TINY = os.path.join(ROOT, "Tests", "Fixtures", "models", "tiny-gpt2")
FIXTURE_SCRIPT = os.path.join(ROOT, "scripts", "fixtures", "make_perturbation_fixtures.py")
METHODS = ("occlusion", "value_zeroing", "attention", "lime")
STEP_SCORES = {"occlusion": ["probability"]}  # the others: none (Inseq refuses them)
PROMPT_TOKENS = FORCED_TOKENS = 20
CASES = {  # prompt (20 tokens) and forced continuation (20 tokens) with each model's tokenizer (checked)
    "smollm2": {
        "seqlens_path": GGUF,
        "prompt": "The history of the printing press shows how a single invention can change the way people share their ideas and",
        "continuation": " knowledge with the world. Before the press, books were copied by hand, which made them rare.",
    },
    "tiny-gpt2": {  # the tiny fixture vocabulary splits most words: these ones it mostly keeps whole
        "seqlens_path": TINY,
        "prompt": "The software is free and the code of the license is free and the code is the",
        "continuation": " software of the license and the code is free and the software is the code of the license is",
    },
}


def inseq_case(model_key, method):
    """Runs in a child process: Inseq's load (timed apart), then one timed attribute() call."""
    import torch
    started = time.perf_counter()
    import inseq
    from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2TokenizerFast
    spec = importlib.util.spec_from_file_location("make_perturbation_fixtures", FIXTURE_SCRIPT)
    fixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixtures)
    fixtures.apply_patches()
    torch.set_num_threads(os.cpu_count())
    if model_key == "smollm2":
        folder, name = os.path.dirname(GGUF), os.path.basename(GGUF)
        hf = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32, attn_implementation="eager")
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    else:
        hf = AutoModelForCausalLM.from_pretrained(TINY, attn_implementation="eager")
        vocab = json.load(open(os.path.join(TINY, "vocab.json")))
        merges = [tuple(l.split()) for l in open(os.path.join(TINY, "merges.txt")).read().splitlines()[1:] if l]
        tokenizer = GPT2TokenizerFast(vocab=vocab, merges=merges, unk_token="<|endoftext|>", bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    model = inseq.load_model(hf.eval(), method, tokenizer=tokenizer)
    load_seconds = time.perf_counter() - started
    case = CASES[model_key]
    prompt, generated = case["prompt"], case["prompt"] + case["continuation"]
    prompt_ids = model.encode([prompt]).input_ids[0].tolist()
    target_ids = model.encode([generated]).input_ids[0].tolist()
    assert len(prompt_ids) == PROMPT_TOKENS and len(target_ids) == PROMPT_TOKENS + FORCED_TOKENS, (len(prompt_ids), len(target_ids))
    assert target_ids[:PROMPT_TOKENS] == prompt_ids, "the prompt's tokens must be a prefix of the generated text's"
    start = time.perf_counter()
    out = model.attribute(prompt, generated, step_scores=STEP_SCORES.get(method, []), show_progress=False)
    seconds = time.perf_counter() - start
    seq = out.sequence_attributions[0]
    print(json.dumps({"seconds": seconds, "load_seconds": load_seconds, "attr_pos_start": seq.attr_pos_start,
                      "attr_pos_end": seq.attr_pos_end, "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


def run_inseq(model_key, method):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--inseq-case", model_key, method], capture_output=True, text=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    if out.returncode != 0:
        sys.exit(f"Inseq {model_key}:{method} failed (exit {out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_seqlens(model_key, method, repeats):
    case = CASES[model_key]
    daemon = Daemon(BINARY)
    try:
        daemon.call("initialize", {"processId": os.getpid()})
        start = time.perf_counter()
        daemon.call("model/load", {"path": case["seqlens_path"], "id": "bench"})
        load_seconds = time.perf_counter() - start
        params = {"model": "bench", "inputs": [case["prompt"]], "generatedTexts": [case["prompt"] + case["continuation"]],
                  "method": method, "stepScores": STEP_SCORES.get(method, [])}
        result = daemon.call("attribute", params)["results"][0]  # warm-up
        assert len(result["source"]) == PROMPT_TOKENS and len(result["target"]) == PROMPT_TOKENS + FORCED_TOKENS, \
            (len(result["source"]), len(result["target"]))
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            daemon.call("attribute", params)
            times.append(time.perf_counter() - start)
        peak = daemon.peak_rss_mib() * 2**20
    finally:
        daemon.close()
    return {"seconds": statistics.median(times), "all_seconds": times, "load_seconds": load_seconds,
            "attr_pos_start": result["attrPosStart"], "attr_pos_end": result["attrPosEnd"], "peak_rss_bytes": peak}


def size(n):
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=METHODS, help="methods to run (default: all)")
    parser.add_argument("-n", type=int, default=3, help="timed SeqLens calls per case after one warm-up (median reported)")
    parser.add_argument("--model", choices=sorted(CASES), default="smollm2")
    arguments = parser.parse_args()
    if not os.path.isfile(BINARY):
        sys.exit(f"no binary at {BINARY}: swift build -c release --product seqlens, or set SEQLENS_BIN")
    daemon = Daemon(BINARY)
    listed = daemon.call("initialize", {})["capabilities"]["attributionMethods"]
    daemon.close()
    rows = ["| model | method | steps | Inseq s | SeqLens s | speed-up | Inseq peak RSS | SeqLens peak RSS |",
            "|---|---|---|---|---|---|---|---|"]
    for method in arguments.only or METHODS:
        if method not in listed:
            print(f"skipped {method}: SeqLens does not list it in capabilities.attributionMethods", file=sys.stderr, flush=True)
            continue
        theirs = run_inseq(arguments.model, method)
        ours = run_seqlens(arguments.model, method, arguments.n)
        steps = ours["attr_pos_end"] - ours["attr_pos_start"]
        assert (theirs["attr_pos_start"], theirs["attr_pos_end"]) == (ours["attr_pos_start"], ours["attr_pos_end"]), (theirs, ours)
        speedup = theirs["seconds"] / ours["seconds"]
        print(json.dumps({"model": arguments.model, "method": method, "steps": steps, "step_scores": STEP_SCORES.get(method, []),
                          "inseq_seconds": theirs["seconds"], "seqlens_seconds": ours["seconds"], "seqlens_all_seconds": ours["all_seconds"],
                          "speedup": speedup, "inseq_load_seconds": theirs["load_seconds"], "seqlens_load_seconds": ours["load_seconds"],
                          "inseq_peak_rss_bytes": theirs["peak_rss_bytes"], "seqlens_peak_rss_bytes": ours["peak_rss_bytes"]}), flush=True)
        rows.append(f"| {arguments.model} | {method} | {steps} | {theirs['seconds']:.4g} | {ours['seconds']:.4g} (median of {arguments.n}) "
                    f"| {speedup:.1f}x | {size(theirs['peak_rss_bytes'])} | {size(ours['peak_rss_bytes'])} |")
    print("\n".join(rows))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--inseq-case":
        inseq_case(sys.argv[2], sys.argv[3])
    else:
        main()
