#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target under Tests/Fuzz/corpus/<target>/.

Seeds are small valid inputs (a few KB): copies of small fixtures, and hand-made files where the
fixtures are too big or lack a feature (a GGUF file with tokenizer metadata). Rerun after changing a
fixture; the output is deterministic. Needs only the standard library.
"""
import gzip
import json
import shutil
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "Tests/Fixtures"
CORPUS = ROOT / "Tests/Fuzz/corpus"


def put(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def frame(body):
    body = body.encode() if isinstance(body, str) else body
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, raw bytes)]."""
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def gguf_string(text):
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def gguf(metadata, tensors, alignment=32):
    """metadata: [(key, type id, packed value)]; tensors: [(name, dims innermost first, ggml type, raw)]."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata))
    for key, type_id, value in metadata:
        out += gguf_string(key) + struct.pack("<I", type_id) + value
    offset, data = 0, b""
    for name, dims, ggml_type, raw in tensors:
        out += gguf_string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", ggml_type, offset)
        data += raw + b"\0" * (-len(raw) % alignment)
        offset = len(data)
    out += b"\0" * (-len(out) % alignment)
    return out + data


def gguf_array(type_id, values):
    packed = {8: gguf_string, 5: lambda v: struct.pack("<i", v), 4: lambda v: struct.pack("<I", v)}[type_id]
    return struct.pack("<IQ", type_id, len(values)) + b"".join(packed(v) for v in values)


def main():
    shutil.rmtree(CORPUS, ignore_errors=True)

    request = {"jsonrpc": "2.0", "id": 1, "method": "tokenize", "params": {"model": "m", "text": "Hello"}}
    generate = {"jsonrpc": "2.0", "id": "a", "method": "generate",
                "params": {"model": "m", "texts": ["a", "b"], "maxNewTokens": 8, "temperature": 0.7, "topK": 5,
                           "ids": [[1, 2, 3], [4]], "options": {"seed": 3, "topP": 0.9}}}
    body = json.dumps(request)

    put("framer", "one", frame(body))
    put("framer", "two", frame(body) + b"Content-Type: application/json\r\n" + frame(json.dumps(generate)))
    put("framer", "broken", b"Content-Length: 5\r\n\r\n{\"a\":1}Content-Length: 2\r\n\r\n{}garbage\r\n")
    put("framer", "lowercase", b"content-length:  3 \r\n\r\n[1]" + frame("null"))

    put("json", "request", body)
    put("json", "values", json.dumps({"a": [1, -2, 3.5, 1e300, True, False, None, "\u00e9\ud83d\ude00\\\"\n"],
                                      "b": {"c": {}}, "d": []}))
    put("json", "trailing", '{"x": 1} {"y": 2}')

    put("params", "tokenize", body)
    put("params", "generate", json.dumps(generate))
    put("params", "attribute", json.dumps({"params": {"model": "m", "texts": ["x"], "method": "saliency",
                                                      "nSteps": 50, "stepScores": ["probability"],
                                                      "layer": "blocks.1.mlp.out", "a": None}}))

    checkpoints = FIXTURES / "checkpoints"
    put("safetensors", "single", (checkpoints / "single.safetensors").read_bytes())
    for shard in sorted((checkpoints / "sharded").glob("*.safetensors")):
        put("safetensors", shard.stem, shard.read_bytes())
    put("safetensors", "crafted", safetensors(
        [("a", "F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)), ("b", "F16", [3], b"\x00\x3c\x00\xc0\x00\x7c"),
         ("c", "BF16", [1, 2], b"\x80\x3f\x00\x40"), ("empty", "F32", [0, 4], b""), ("bits", "BOOL", [2], b"\x01\x00")],
        metadata={"format": "pt"}))

    put("safetensors-index", "fixture", (checkpoints / "sharded/model.safetensors.index.json").read_bytes())

    put("gguf", "quants", (checkpoints / "quants.gguf").read_bytes())
    tokens = ["!", "a", "b", "c", "Ġ", "ab", "Ġa", "abc", "<|endoftext|>", "<user>"]
    put("gguf", "tokenizer", gguf(
        [("general.architecture", 8, gguf_string("llama")),
         ("general.alignment", 4, struct.pack("<I", 32)),
         ("tokenizer.ggml.model", 8, gguf_string("gpt2")),
         ("tokenizer.ggml.pre", 8, gguf_string("llama-bpe")),
         ("tokenizer.ggml.tokens", 9, gguf_array(8, tokens)),
         ("tokenizer.ggml.token_type", 9, gguf_array(5, [1] * 8 + [3, 4])),
         ("tokenizer.ggml.merges", 9, gguf_array(8, ["a b", "Ġ a", "ab c"])),
         ("tokenizer.ggml.bos_token_id", 4, struct.pack("<I", 8)),
         ("tokenizer.ggml.eos_token_id", 4, struct.pack("<I", 8)),
         ("tokenizer.ggml.add_bos_token", 7, b"\x01")],
        [("w", [4, 2], 0, struct.pack("<8f", *range(8))), ("h", [32], 1, b"\x00\x3c" * 32)]))

    put("tokenizer-json", "tiny-llama3", (FIXTURES / "tokenizers/tiny-llama3-tokenizer.json").read_bytes())
    put("tokenizer-json", "tiny-gpt2", (FIXTURES / "models/tiny-gpt2/tokenizer.json").read_bytes())
    put("tokenizer-json", "minimal", json.dumps({
        "added_tokens": [{"id": 5, "content": "<s>", "special": True, "normalized": False},
                         {"id": 1, "content": "b", "special": False, "lstrip": True, "rstrip": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
        "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                                                    {"Sequence": {"id": "A", "type_id": 0}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [5]}}},
        "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3, "Ġab": 4}, "merges": ["a b", ["Ġ", "ab"]],
                  "unk_token": None}}))

    tiny = FIXTURES / "models/tiny-gpt2"
    put("unigram-json", "charsmap", (FIXTURES / "tokenizers/unigram-charsmap/tokenizer.json").read_bytes())
    put("unigram-json", "tiny-mbart", (FIXTURES / "models/tiny-mbart/tokenizer.json").read_bytes())
    put("unigram-json", "minimal", json.dumps({
        "added_tokens": [{"id": 3, "content": "</s>", "special": True, "normalized": False}],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"}, {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always"}]},
        "post_processor": {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A", "type_id": 0}},
                                                                    {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                           "special_tokens": {"</s>": {"id": "</s>", "ids": [3]}}},
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always"},
        "model": {"type": "Unigram", "unk_id": 0, "byte_fallback": True,
                  "vocab": [["<unk>", 0.0], ["\u2581a", -1.0], ["b", -2.0], ["</s>", 0.0], ["<0x61>", -5.0]]}}))
    put("vocab-merges", "tiny-gpt2", (tiny / "vocab.json").read_bytes() + b"\0" + (tiny / "merges.txt").read_bytes())
    put("vocab-merges", "minimal", json.dumps({"a": 0, "b": 1, "ab": 2, "<|endoftext|>": 3}) + "\0#version: 0.2\na b\n")

    strings = json.loads((FIXTURES / "tokenizers/strings.json").read_text())
    for index, text in enumerate(strings[:40:4]):
        put("tokenizer-encode", "s%02d" % index, text)
    put("tokenizer-encode", "special", "<|begin_of_text|>Hi [MASK] there<|eot_id|><|endoftext|>")

    output = FIXTURES / "attribution-output"
    put("inseq-json", "seqlens-built", (output / "seqlens-built.json").read_bytes())
    put("inseq-json", "steps-contrast-gz", (output / "inseq-step-attributions-contrast.json.gz").read_bytes())
    # A small granular file with json_tricks arrays in a step, one gzip-compressed ("b64.gz:").
    raw = struct.pack("<6f", 0.1, 0.2, float("nan"), 0.4, 0.5, 0.6)
    put("inseq-json", "steps-gz-array", json.dumps({
        "sequence_attributions": [],
        "step_attributions": [{"source_attributions": {"__ndarray__": "b64.gz:" + __import__("base64").b64encode(
            gzip.compress(raw, mtime=0)).decode(), "dtype": "float32", "shape": [1, 2, 3], "Corder": True},
            "step_scores": {"p": {"__ndarray__": [0.5], "dtype": "float32", "shape": [1]}},
            "target": [[{"token": "a", "id": 1}]], "prefix": [[{"token": "b", "id": 2}]]}]}, allow_nan=True))


if __name__ == "__main__":
    main()
