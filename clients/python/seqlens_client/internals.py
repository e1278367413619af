"""Results of the inspect/* methods: tensors as numpy arrays when numpy is importable (nested lists
otherwise); the logit lens, patching grids and head sweeps render as HTML tables in a notebook
(`_repr_html_`), coloured as the attribution heatmaps are (Inseq's red/blue scale around zero)."""

import base64
import html
import json
import sys
from array import array
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

from .attribution import PackedTensor, TokenWithId

try:  # optional
    import numpy
except ImportError:  # pragma: no cover - exercised by the no-numpy test
    numpy = None


def tensor(value: Mapping[str, Any], use_numpy: Optional[bool] = None) -> Any:
    """A `{shape, dtype: "float32", data}` tensor: a numpy array, or nested lists without numpy."""
    if (numpy is not None) if use_numpy is None else use_numpy:
        return numpy.frombuffer(base64.b64decode(value["data"]), dtype="<f4").reshape(value["shape"])
    return PackedTensor.from_json(value).tolist()


def read_safetensors(path: str, use_numpy: Optional[bool] = None) -> Dict[str, Any]:
    """The F32 tensors of a safetensors file (as inspect/activations writes with savePath): numpy
    arrays sharing one buffer read from the file, or nested lists without numpy."""
    with open(path, "rb") as f:
        data = f.read()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    start = 8 + length
    out: Dict[str, Any] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] != "F32":
            raise ValueError(f"{name}: dtype {entry['dtype']}, expected F32")
        begin, end = entry["data_offsets"]
        if (numpy is not None) if use_numpy is None else use_numpy:
            out[name] = numpy.frombuffer(data, dtype="<f4", count=(end - begin) // 4, offset=start + begin).reshape(entry["shape"])
        else:
            values = array("f")
            values.frombytes(data[start + begin:start + end])
            if sys.byteorder == "big":
                values.byteswap()
            out[name] = PackedTensor(shape=tuple(entry["shape"]), values=values).tolist()
    return out


def grid(rows: Sequence[Sequence[float]]) -> Any:
    """A [rows][columns] grid of numbers: a numpy array, or the lists themselves without numpy."""
    return numpy.array(rows, dtype=float) if numpy is not None else [list(row) for row in rows]


def _tokens(values: Sequence[Mapping[str, Any]]) -> List[TokenWithId]:
    return [TokenWithId(token=item["token"], id=item["id"]) for item in values]


# Inseq's diverging scale (the same colours as the terminal and HTML heatmaps).
_BLUE, _BEIGE, _RED = (33, 102, 172), (247, 252, 253), (178, 24, 43)


def _color(value: float, minimum: float, maximum: float) -> Optional[str]:
    if value != value:  # NaN
        return None
    span = maximum - minimum
    t = (value - minimum) / span if span > 0 else 0.5
    t = min(1.0, max(0.0, t))
    start, end, f = (_BLUE, _BEIGE, t * 2) if t < 0.5 else (_BEIGE, _RED, (t - 0.5) * 2)
    return "rgb(%d,%d,%d)" % tuple(round(a + (b - a) * f) for a, b in zip(start, end))


def html_grid(title: str, columns: Sequence[str], rows: Sequence[str], cells: Sequence[Sequence[str]],
              values: Sequence[Sequence[float]], minimum: float, maximum: float) -> str:
    """A self-contained HTML table: header row of columns, one row per label, coloured cells."""
    style = "border-collapse:collapse;font-family:monospace;font-size:12px"
    cell = "padding:2px 6px;border:1px solid #ddd;text-align:center;white-space:pre"
    out = [f'<div class="seqlens-grid"><b>{html.escape(title)}</b><table style="{style}"><tr><th></th>']
    out += [f'<th style="{cell}">{html.escape(c)}</th>' for c in columns]
    out.append("</tr>")
    for label, texts, numbers in zip(rows, cells, values):
        out.append(f'<tr><th style="{cell};text-align:right">{html.escape(label)}</th>')
        for text, number in zip(texts, numbers):
            color = _color(number, minimum, maximum)
            background = f";background:{color}" if color else ""
            out.append(f'<td style="{cell}{background}" title="{number:.6g}">{html.escape(text)}</td>')
        out.append("</tr>")
    out.append("</table></div>")
    return "".join(out)


def _plain(rows: Sequence[Sequence[float]]) -> List[List[float]]:
    return [[float(x) for x in row] for row in rows]


@dataclass(frozen=True)
class Activations:
    """inspect/activations: `activations[site]` in its per-sequence shape ([positions, hidden],
    attn.z [positions, heads, head_dim], attn.pattern [heads, queries, keys])."""
    tokens: List[TokenWithId]
    activations: Dict[str, Any]

    def __getitem__(self, site: str) -> Any:
        return self.activations[site]

    def __iter__(self):
        return iter(self.activations)

    def __len__(self) -> int:
        return len(self.activations)

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> "Activations":
        if "savedTo" in value:  # the tensors are in the file
            return cls(tokens=_tokens(value["tokens"]), activations=read_safetensors(value["savedTo"]))
        return cls(tokens=_tokens(value["tokens"]),
                   activations={site: tensor(packed) for site, packed in value["activations"].items()})


@dataclass(frozen=True)
class LensToken:
    id: int
    prob: float
    logit: float
    token: Optional[str] = None


@dataclass(frozen=True)
class LogitLens:
    """inspect/logitLens: `top[site_index][position]` the top-k next tokens; `target_probs` the
    [site][position][target] probabilities of the requested targets."""
    tokens: List[TokenWithId]
    sites: List[str]
    top: List[List[List[LensToken]]]
    target_probs: Any = None

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> "LogitLens":
        sites, top, targets = [], [], []
        for layer in value["layers"]:
            sites.append(layer["site"])
            top.append([[LensToken(id=t["id"], prob=t["prob"], logit=t["logit"], token=t.get("token")) for t in p["top"]]
                        for p in layer["positions"]])
            if layer["positions"] and "targets" in layer["positions"][0]:
                targets.append([[t["prob"] for t in p["targets"]] for p in layer["positions"]])
        probs = None
        if targets:
            probs = numpy.array(targets, dtype=float) if numpy is not None else targets
        return cls(tokens=_tokens(value["tokens"]), sites=sites, top=top, target_probs=probs)

    def top_tokens(self) -> List[List[str]]:
        """[site][position]: the most likely next token's text."""
        return [[(p[0].token or str(p[0].id)) if p else "" for p in site] for site in self.top]

    def top_probs(self) -> Any:
        """[site][position]: the most likely next token's probability."""
        return grid([[p[0].prob if p else float("nan") for p in site] for site in self.top])

    def _repr_html_(self) -> str:
        return html_grid("Logit lens: top next token (coloured by its probability)", [t.token for t in self.tokens],
                         self.sites, self.top_tokens(), _plain(self.top_probs()), -1.0, 1.0)


@dataclass(frozen=True)
class Patching:
    """inspect/patch: `values[site_index][i]` the metric with that site patched at `positions[i]`."""
    tokens: List[TokenWithId]
    corrupted_tokens: List[TokenWithId]
    clean_metric: float
    corrupted_metric: float
    sites: List[str]
    values: Any
    positions: List[int] = field(default_factory=list)

    @classmethod
    def from_json(cls, value: Mapping[str, Any], positions: Optional[Sequence[int]] = None) -> "Patching":
        rows = [row["values"] for row in value["results"]]
        tokens = _tokens(value["tokens"])
        return cls(tokens=tokens, corrupted_tokens=_tokens(value.get("corruptedTokens", value["tokens"])),
                   clean_metric=value["cleanMetric"], corrupted_metric=value["corruptedMetric"],
                   sites=[row["site"] for row in value["results"]], values=grid(rows),
                   positions=list(positions) if positions is not None else list(range(len(tokens))))

    def normalized(self) -> Any:
        """(patched - corrupted) / (clean - corrupted): 1 where a patch restores the clean metric."""
        span = self.clean_metric - self.corrupted_metric
        rows = [[(x - self.corrupted_metric) / span if span else float("nan") for x in row] for row in _plain(self.values)]
        return grid(rows)

    def _repr_html_(self) -> str:
        labels = []
        for p in self.positions:
            clean, corrupted = self.tokens[p].token, self.corrupted_tokens[p].token
            labels.append(clean if clean == corrupted else f"{corrupted}→{clean}")
        rows = _plain(self.values)
        largest = max((abs(x) for row in rows for x in row if x == x), default=0.0)
        title = f"Activation patching (clean {self.clean_metric:.3f}, corrupted {self.corrupted_metric:.3f})"
        return html_grid(title, labels, self.sites, [[f"{x:.2f}" for x in row] for row in rows], rows, -largest, largest)


@dataclass(frozen=True)
class Ablation:
    """inspect/ablate: log p(target) at the last position before and after the ablations."""
    tokens: List[TokenWithId]
    baseline: float
    ablated: float

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> "Ablation":
        return cls(tokens=_tokens(value["tokens"]), baseline=value["baseline"]["logprob"],
                   ablated=value["ablated"]["logprob"])


@dataclass(frozen=True)
class HeadSweep:
    """inspect/ablate with sweep="heads": `grid[layer][head]`, ablated - baseline log p(target)."""
    tokens: List[TokenWithId]
    baseline: float
    grid: Any

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> "HeadSweep":
        return cls(tokens=_tokens(value["tokens"]), baseline=value["baseline"]["logprob"], grid=grid(value["grid"]))

    def _repr_html_(self) -> str:
        rows = _plain(self.grid)
        largest = max((abs(x) for row in rows for x in row if x == x), default=0.0)
        heads = len(rows[0]) if rows else 0
        return html_grid(f"Head sweep: change in log p(target) (baseline {self.baseline:.3f})",
                         [f"head {h}" for h in range(heads)], [f"layer {l}" for l in range(len(rows))],
                         [[f"{x:.2f}" for x in row] for row in rows], rows, -largest, largest)
