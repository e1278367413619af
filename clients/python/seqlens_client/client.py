"""A client for `seqlens serve`: starts the daemon, frames JSON-RPC messages, matches replies."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any, Callable, Dict, IO, List, Mapping, Optional, Sequence, Union

from .attribution import AttributionResult, attribute_params
from .internals import Ablation, Activations, HeadSweep, LogitLens, Patching
from .errors import DaemonExited, SeqLensError, error_from_reply
from .types import Encoding, Generation, ModelInfo, Progress

ProgressCallback = Callable[[Progress], None]


def find_binary() -> str:
    """The daemon binary: $SEQLENS_BIN, `seqlens` on PATH, or a build in the current repository."""
    if os.environ.get("SEQLENS_BIN"):
        return os.environ["SEQLENS_BIN"]
    found = shutil.which("seqlens")
    if found:
        return found
    for folder in [Path.cwd(), *Path.cwd().parents]:
        for build in ("release", "debug"):
            candidate = folder / ".build" / build / "seqlens"
            if candidate.is_file():
                return str(candidate)
    raise SeqLensError("no seqlens binary: set SEQLENS_BIN, put seqlens on PATH, or build it (swift build -c release)")


class PendingRequest:
    """A request sent and not yet answered: wait with `result()`, stop it with `cancel()`."""

    def __init__(self, client: "SeqLens", request_id: int, method: str):
        self.client = client
        self.id = request_id
        self.method = method
        self._done = threading.Event()
        self._reply: Optional[Dict[str, Any]] = None

    def _resolve(self, reply: Dict[str, Any]) -> None:
        self._reply = reply
        self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> None:
        """Asks the daemon to cancel; `result()` then raises RequestCancelled (unless it had finished)."""
        self.client.notify("$/cancelRequest", {"id": self.id})

    def result(self, timeout: Optional[float] = None) -> Any:
        """The result; raises the SeqLensError subclass of an error reply."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"{self.method} (request {self.id}) not answered within {timeout} s")
        reply = self._reply or {}
        if "exited" in reply:
            raise DaemonExited(reply["exited"])
        if "error" in reply:
            raise error_from_reply(reply["error"])
        return reply.get("result")


class SeqLens:
    """A running daemon. Use as a context manager, or call `close()`.

    Args:
        command: the command that starts the daemon; default `[find_binary(), "serve"]`.
        memory_budget_bytes: sent as initializationOptions.memoryBudgetBytes.
        stderr: where the daemon's log goes (default: this process's stderr).
        env: extra environment variables for the daemon.
    """

    def __init__(self, command: Optional[Sequence[str]] = None, *, memory_budget_bytes: Optional[int] = None,
                 stderr: Optional[IO] = None, env: Optional[Dict[str, str]] = None,
                 client_name: str = "seqlens-client-python"):
        self.command = list(command) if command else [find_binary(), "serve"]
        environment = dict(os.environ, **(env or {}))
        self.process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=stderr, env=environment, bufsize=0)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._pending: Dict[int, PendingRequest] = {}
        self._progress: Dict[str, ProgressCallback] = {}
        self._closed = False
        self._reader = threading.Thread(target=self._read_loop, name="seqlens-client-reader", daemon=True)
        self._reader.start()
        options = {} if memory_budget_bytes is None else {"memoryBudgetBytes": memory_budget_bytes}
        self.server_info = self.request("initialize", {"processId": os.getpid(), "clientInfo": {"name": client_name},
                                                       "initializationOptions": options})
        self.notify("initialized", {})

    # Transport.

    def _write(self, message: Dict[str, Any]) -> None:
        body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        frame = b"Content-Length: %d\r\n\r\n" % len(body) + body
        with self._write_lock:
            try:
                self.process.stdin.write(frame)
                self.process.stdin.flush()
            except (BrokenPipeError, ValueError, OSError) as error:
                raise DaemonExited(f"cannot write to the daemon: {error}") from error

    def _read_frame(self, stream: IO[bytes]) -> Optional[bytes]:
        length = None
        while True:
            line = stream.readline()
            if not line:
                return None
            if line in (b"\r\n", b"\n"):
                if length is not None:
                    break
                continue
            name, _, value = line.decode("ascii", "replace").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        body = bytearray()  # appending to bytes would copy the whole body on every read
        while len(body) < length:
            chunk = stream.read(length - len(body))
            if not chunk:
                return None
            body += chunk
        return bytes(body)

    def _read_loop(self) -> None:
        stream = self.process.stdout
        while True:
            body = self._read_frame(stream)
            if body is None:
                break
            message = json.loads(body)
            if "method" in message:
                self._dispatch_notification(message)
                continue
            request_id = message.get("id")
            with self._lock:
                pending = self._pending.pop(request_id, None) if request_id is not None else None
            if pending is not None:
                self._progress.pop(f"progress-{pending.id}", None)
                pending._resolve(message)
        with self._lock:
            pending_requests = list(self._pending.values())
            self._pending.clear()
        status = self.process.poll()
        for pending in pending_requests:
            pending._resolve({"exited": f"the daemon exited (status {status}) before answering"})

    def _dispatch_notification(self, message: Dict[str, Any]) -> None:
        if message.get("method") != "$/progress":
            return
        params = message.get("params") or {}
        callback = self._progress.get(str(params.get("token")))
        if callback is None:
            return
        value = params.get("value") or {}
        callback(Progress(kind=value.get("kind", ""), percentage=value.get("percentage"),
                          message=value.get("message"), title=value.get("title")))

    # Requests.

    def send(self, method: str, params: Optional[Dict[str, Any]] = None,
             progress: Optional[ProgressCallback] = None) -> PendingRequest:
        """Sends a request without waiting; `progress` receives $/progress updates."""
        request_id = next(self._ids)
        pending = PendingRequest(self, request_id, method)
        params = dict(params or {})
        if progress is not None:
            token = f"progress-{request_id}"
            params["workDoneToken"] = token
            self._progress[token] = progress
        with self._lock:
            self._pending[request_id] = pending
        self._write({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return pending

    def request(self, method: str, params: Optional[Dict[str, Any]] = None, *,
                progress: Optional[ProgressCallback] = None, timeout: Optional[float] = None) -> Any:
        """Sends a request and waits for its result; raises a SeqLensError subclass for an error."""
        pending = self.send(method, params, progress)
        try:
            return pending.result(timeout)
        finally:
            if progress is not None:
                self._progress.pop(f"progress-{pending.id}", None)

    def notify(self, method: str, params: Optional[Dict[str, Any]] = None) -> None:
        message: Dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self._write(message)

    def cancel(self, request: Union[PendingRequest, int]) -> None:
        """Cancels a request sent with `send`."""
        self.notify("$/cancelRequest", {"id": request.id if isinstance(request, PendingRequest) else request})

    # Methods.

    def load_model(self, path: str = "default", id: Optional[str] = None) -> ModelInfo:
        """Loads a model folder, a .gguf file or "default"; returns the resident one if already loaded."""
        params: Dict[str, Any] = {"path": path}
        if id is not None:
            params["id"] = id
        return ModelInfo.from_json(self.request("model/load", params))

    def unload_model(self, model: str) -> int:
        """Unloads a model; returns the bytes freed."""
        return self.request("model/unload", {"model": model})["freedBytes"]

    def list_models(self) -> List[ModelInfo]:
        return [ModelInfo.from_json(item) for item in self.request("model/list")["models"]]

    def status(self) -> Dict[str, Any]:
        """server/status: models, memory, queued and running requests, uptime."""
        return self.request("server/status")

    def tokenize(self, model: str, texts: Sequence[str], add_special_tokens: bool = True,
                 side: str = "source") -> List[Encoding]:
        """Token ids and strings; `side="target"` uses an encoder-decoder model's target tokenizer
        (HF's `text_target`)."""
        result = self.request("tokenize", {"model": model, "texts": list(texts), "addSpecialTokens": add_special_tokens,
                                           "side": side})
        return [Encoding(ids=item["ids"], tokens=item["tokens"]) for item in result["results"]]

    def detokenize(self, model: str, ids: Sequence[Sequence[int]], skip_special_tokens: bool = False,
                   side: str = "source") -> List[str]:
        result = self.request("detokenize", {"model": model, "ids": [list(row) for row in ids],
                                             "skipSpecialTokens": skip_special_tokens, "side": side})
        return result["texts"]

    def generate(self, model: str, inputs: Sequence[str], *, max_new_tokens: int = 20, do_sample: bool = False,
                 temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, seed: int = 0, return_top_k: int = 0,
                 stop_at_eos: bool = True, add_special_tokens: bool = True, return_prompt_tokens: bool = False,
                 interventions: Optional[Sequence[Mapping[str, Any]]] = None,
                 num_beams: Optional[int] = None, num_return_sequences: Optional[int] = None,
                 length_penalty: Optional[float] = None, early_stopping: Union[bool, str, None] = None,
                 no_repeat_ngram_size: Optional[int] = None, repetition_penalty: Optional[float] = None,
                 progress: Optional[ProgressCallback] = None, timeout: Optional[float] = None) -> List[Generation]:
        """Generates a continuation of each input (greedy unless do_sample); `interventions`
        ([{"site", "op": "add" | "scale" | "zero" | "replace", "vector"?, "factor"?, "positions"?}])
        change activations on every forward (steering). For an encoder-decoder model each input is a
        source, the checkpoint's generation config gives the defaults (Marian: 4 beams), and the
        beam-search options (None: the config's) apply; on a decoder-only model num_beams > 1 runs
        beam search from the prompt (no sampling with it). `Generation.beams` lists the beams."""
        params = self.generate_params(model, inputs, max_new_tokens=max_new_tokens, do_sample=do_sample,
                                      temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                                      return_top_k=return_top_k, stop_at_eos=stop_at_eos,
                                      add_special_tokens=add_special_tokens, return_prompt_tokens=return_prompt_tokens,
                                      interventions=interventions, num_beams=num_beams,
                                      num_return_sequences=num_return_sequences, length_penalty=length_penalty,
                                      early_stopping=early_stopping, no_repeat_ngram_size=no_repeat_ngram_size,
                                      repetition_penalty=repetition_penalty)
        result = self.request("generate", params, progress=progress, timeout=timeout)
        return [Generation.from_json(item) for item in result["results"]]

    def generate_async(self, model: str, inputs: Sequence[str], *, progress: Optional[ProgressCallback] = None,
                       **options: Any) -> PendingRequest:
        """Like `generate` but returns at once; `result()` gives the raw results, `cancel()` stops it."""
        return self.send("generate", self.generate_params(model, inputs, **options), progress)

    @staticmethod
    def generate_params(model: str, inputs: Sequence[str], *, max_new_tokens: int = 20, do_sample: bool = False,
                        temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, seed: int = 0,
                        return_top_k: int = 0, stop_at_eos: bool = True, add_special_tokens: bool = True,
                        return_prompt_tokens: bool = False,
                        interventions: Optional[Sequence[Mapping[str, Any]]] = None,
                        num_beams: Optional[int] = None, num_return_sequences: Optional[int] = None,
                        length_penalty: Optional[float] = None, early_stopping: Union[bool, str, None] = None,
                        no_repeat_ngram_size: Optional[int] = None,
                        repetition_penalty: Optional[float] = None) -> Dict[str, Any]:
        extra: Dict[str, Any] = {"interventions": [dict(entry) for entry in interventions]} if interventions is not None else {}
        search = {"numBeams": num_beams, "numReturnSequences": num_return_sequences, "lengthPenalty": length_penalty,
                  "earlyStopping": early_stopping, "noRepeatNgramSize": no_repeat_ngram_size,
                  "repetitionPenalty": repetition_penalty}
        extra.update({key: value for key, value in search.items() if value is not None})
        return {**extra, "model": model, "inputs": list(inputs), "maxNewTokens": max_new_tokens, "doSample": do_sample,
                "temperature": temperature, "topK": top_k, "topP": top_p, "seed": seed, "returnTopK": return_top_k,
                "stopAtEos": stop_at_eos, "addSpecialTokens": add_special_tokens,
                "returnPromptTokens": return_prompt_tokens}

    def attribute(self, model: str, input_texts: Union[Sequence[str], str],
                  generated_texts: Union[Sequence[str], str, None] = None, *,
                  progress: Optional[ProgressCallback] = None, timeout: Optional[float] = None,
                  **arguments: Any) -> AttributionResult:
        """Feature attribution, as Inseq's `model.attribute(input_texts, generated_texts, ...)`.

        Keyword arguments keep Inseq's names: method, attributed_fn, step_scores, attr_pos_start,
        attr_pos_end, contrast_targets, contrast_targets_alignments, include_eos_baseline,
        skip_special_tokens, generation_args (e.g. {"max_new_tokens": 10}), batch_size, the step
        function's arguments (logprob, top_k, top_p, min_tokens_to_keep, contrast_force_inputs) and
        the method's, in Inseq's snake_case (n_steps, sliding_window_shapes, similarity_metric, ...;
        the daemon refuses one the method does not take); plus aggregate (default True), granular (also
        return the raw hidden-dimension values, decoded), output_step_attributions (also each step's
        attributions, `SequenceAttribution.step_attributions`) and save_path / overwrite (write
        Inseq's JSON file). `progress` receives a report per sequence.
        """
        params = attribute_params(model, input_texts, generated_texts, **arguments)
        return AttributionResult.from_json(self.request("attribute", params, progress=progress, timeout=timeout))

    def attribute_async(self, model: str, input_texts: Union[Sequence[str], str],
                        generated_texts: Union[Sequence[str], str, None] = None, *,
                        progress: Optional[ProgressCallback] = None, **arguments: Any) -> PendingRequest:
        """Like `attribute` but returns at once; `AttributionResult.from_json(pending.result())` reads
        the answer, `cancel()` stops it after the sequence it is computing."""
        return self.send("attribute", attribute_params(model, input_texts, generated_texts, **arguments), progress)

    # Internals (inspect/*): tensors as numpy arrays when numpy is importable.

    def inspect_activations(self, model: str, input: str, sites: Union[Sequence[str], str], *,
                            positions: Optional[Sequence[int]] = None, add_special_tokens: bool = True,
                            save_path: Optional[str] = None, overwrite: bool = False,
                            timeout: Optional[float] = None) -> Activations:
        """TransformerLens's run_with_cache for `sites` (names or globs such as "blocks.*.resid_post").

        With `save_path` the daemon writes the tensors to that safetensors file and they are read
        back from it: much faster than JSON for large caches (the daemon runs on this machine)."""
        params: Dict[str, Any] = {"model": model, "input": input, "sites": [sites] if isinstance(sites, str) else list(sites),
                                  "addSpecialTokens": add_special_tokens}
        if positions is not None:
            params["positions"] = list(positions)
        if save_path is not None:
            params["savePath"] = os.path.abspath(save_path)
            params["overwrite"] = overwrite
        return Activations.from_json(self.request("inspect/activations", params, timeout=timeout))

    def logit_lens(self, model: str, input: str, sites: Union[Sequence[str], str, None] = None, *, top_k: int = 5,
                   targets: Optional[Sequence[Union[int, str]]] = None, add_special_tokens: bool = True,
                   timeout: Optional[float] = None) -> LogitLens:
        """softmax(unembed(final_norm(r))) per site and position; by default blocks.0.resid_pre and every resid_post."""
        params: Dict[str, Any] = {"model": model, "input": input, "topK": top_k, "addSpecialTokens": add_special_tokens}
        if sites is not None:
            params["sites"] = [sites] if isinstance(sites, str) else list(sites)
        if targets is not None:
            params["targets"] = list(targets)
        return LogitLens.from_json(self.request("inspect/logitLens", params, timeout=timeout))

    def patch(self, model: str, clean: str, corrupted: str, sites: Union[Sequence[str], str], *,
              target: Union[int, str], contrast: Union[int, str, None] = None,
              positions: Optional[Sequence[int]] = None, add_special_tokens: bool = True,
              progress: Optional[ProgressCallback] = None, timeout: Optional[float] = None) -> Patching:
        """Activation patching of clean into corrupted: logit(target) - logit(contrast), or log p(target)
        without a contrast, at the last position, for each site and position."""
        metric: Dict[str, Any] = ({"kind": "logit_diff", "target": target, "contrast": contrast} if contrast is not None
                                  else {"kind": "logprob", "target": target})
        params: Dict[str, Any] = {"model": model, "clean": clean, "corrupted": corrupted, "metric": metric,
                                  "sites": [sites] if isinstance(sites, str) else list(sites),
                                  "addSpecialTokens": add_special_tokens}
        if positions is not None:
            params["positions"] = list(positions)
        result = self.request("inspect/patch", params, progress=progress, timeout=timeout)
        return Patching.from_json(result, positions)

    def ablate(self, model: str, input: str, target: Union[int, str], *,
               ablations: Optional[Sequence[Mapping[str, Any]]] = None, sweep_heads: bool = False,
               add_special_tokens: bool = True, progress: Optional[ProgressCallback] = None,
               timeout: Optional[float] = None) -> Union[Ablation, HeadSweep]:
        """Zero or mean ablation (`ablations`: [{"site", "heads"?, "positions"?, "mode"?}]) of log p(target)
        at the last position, or with sweep_heads every head of every layer zeroed alone (a HeadSweep)."""
        params: Dict[str, Any] = {"model": model, "input": input, "target": target, "addSpecialTokens": add_special_tokens}
        if sweep_heads:
            params["sweep"] = "heads"
        if ablations is not None:
            params["ablations"] = [dict(entry) for entry in ablations]
        result = self.request("inspect/ablate", params, progress=progress, timeout=timeout)
        return HeadSweep.from_json(result) if sweep_heads else Ablation.from_json(result)

    # Lifecycle.

    def close(self, timeout: float = 10.0) -> int:
        """shutdown + exit; returns the daemon's exit status (0 when it shut down cleanly)."""
        if self._closed:
            return self.process.wait(timeout)
        self._closed = True
        try:
            if self.process.poll() is None:
                self.request("shutdown", timeout=timeout)
                self.notify("exit")
        except SeqLensError:
            pass
        finally:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def __enter__(self) -> "SeqLens":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
