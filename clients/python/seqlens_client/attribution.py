"""The `attribute` method: Inseq-like keyword arguments to protocol params, and typed results."""

from __future__ import annotations

import base64
import math
import sys
from array import array
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

# Keyword arguments that are not step function arguments are the method's: Inseq's and Captum's
# snake_case names become methodArgs' camelCase (n_steps -> nSteps), and the daemon checks them
# against the method (an unknown one is an error naming it). Captum calls the integration rule
# `method`, which Inseq's `attribute` already uses for the attribution method: here it is
# `integration`.
def _camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# Inseq's step function keyword arguments -> attributedFnArgs fields.
FUNCTION_ARGS = {
    "logprob": "logprob", "top_k": "topK", "top_p": "topP", "min_tokens_to_keep": "minTokensToKeep",
    "contrast_force_inputs": "contrastForceInputs", "n_mcd_steps": "nMcdSteps", "mcd_seed": "mcdSeed",
}
GENERATION_ARGS = {
    "max_new_tokens": "maxNewTokens", "do_sample": "doSample", "temperature": "temperature", "top_k": "topK",
    "top_p": "topP", "seed": "seed",
}


def _camel(values: Mapping[str, Any], names: Mapping[str, str], what: str) -> Dict[str, Any]:
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise TypeError(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(sorted(names))})")
    return {names[key]: value for key, value in values.items() if value is not None}


def attribute_params(model: str, input_texts: Sequence[str] | str, generated_texts: Sequence[str] | str | None = None,
                     *, method: Optional[str] = None, attributed_fn: Optional[str] = None,
                     step_scores: Sequence[str] = (), attr_pos_start: Optional[int] = None,
                     attr_pos_end: Optional[int] = None, contrast_targets: Sequence[str] | str | None = None,
                     contrast_targets_alignments: Optional[Sequence[Sequence[Tuple[int, int]]]] = None,
                     include_eos_baseline: bool = False, skip_special_tokens: bool = False,
                     generation_args: Optional[Mapping[str, Any]] = None, batch_size: Optional[int] = None,
                     aggregate: bool = True, granular: bool = False, save_path: Optional[str] = None,
                     overwrite: bool = False, output_step_attributions: bool = False, attribute_target: bool = False,
                     interventions: Optional[Sequence[Mapping[str, Any]]] = None,
                     **kwargs: Any) -> Dict[str, Any]:
    """The params of an `attribute` request from Inseq's `model.attribute(...)` arguments.

    `kwargs` are the step function's arguments (logprob, top_k, top_p, min_tokens_to_keep,
    contrast_force_inputs, n_mcd_steps, mcd_seed) and otherwise the method's (n_steps,
    internal_batch_size, sliding_window_shapes, similarity_metric, ...: see the daemon's
    `initialize` capabilities.attributionMethodDetails), sent as methodArgs in camelCase.
    """
    def texts(value: Sequence[str] | str) -> List[str]:
        return [value] if isinstance(value, str) else list(value)

    function_args = {key: kwargs.pop(key) for key in list(kwargs) if key in FUNCTION_ARGS}
    method_args = {_camel_case(key): (list(value) if isinstance(value, tuple) else value)
                   for key, value in kwargs.items() if value is not None}
    params: Dict[str, Any] = {"model": model, "inputs": texts(input_texts)}
    optional = {
        "generatedTexts": None if generated_texts is None else texts(generated_texts),
        "method": method, "attributedFn": attributed_fn, "stepScores": list(step_scores) or None,
        "attrPosStart": attr_pos_start, "attrPosEnd": attr_pos_end,
        "contrastTargets": None if contrast_targets is None else texts(contrast_targets),
        "contrastTargetsAlignments": None if contrast_targets_alignments is None
        else [[list(pair) for pair in pairs] for pairs in contrast_targets_alignments],
        "methodArgs": method_args or None,
        "attributedFnArgs": _camel(function_args, FUNCTION_ARGS, "step function arguments") or None,
        "generationArgs": _camel(dict(generation_args or {}), GENERATION_ARGS, "generation_args") or None,
        "batchSize": batch_size, "savePath": save_path,
        "interventions": None if interventions is None else [dict(entry) for entry in interventions],
    }
    params.update({key: value for key, value in optional.items() if value is not None})
    for key, value, default in (("includeEosBaseline", include_eos_baseline, False),
                                ("skipSpecialTokens", skip_special_tokens, False), ("aggregate", aggregate, True),
                                ("granular", granular, False), ("overwrite", overwrite, False),
                                ("outputStepAttributions", output_step_attributions, False),
                                ("attributeTarget", attribute_target, False)):
        if value != default:
            params[key] = value
    return params


@dataclass(frozen=True)
class TokenWithId:
    """A token as Inseq keeps it; id -1 for merged (contrastive) tokens."""
    token: str
    id: int


@dataclass(frozen=True)
class PackedTensor:
    """A float32 tensor sent as base64 little-endian values: `values` is flat, row-major."""
    shape: Tuple[int, ...]
    values: array

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> "PackedTensor":
        values = array("f")
        values.frombytes(base64.b64decode(value["data"]))
        if sys.byteorder == "big":
            values.byteswap()
        return cls(shape=tuple(value["shape"]), values=values)

    def __getitem__(self, index: Tuple[int, ...]) -> float:
        flat = 0
        for axis, position in enumerate(index):
            flat = flat * self.shape[axis] + position
        return self.values[flat]

    def tolist(self) -> Any:
        """Nested lists following the shape (NaN kept)."""
        def level(axis: int, offset: int) -> Any:
            if axis == len(self.shape):
                return self.values[offset]
            stride = math.prod(self.shape[axis + 1:])
            return [level(axis + 1, offset + index * stride) for index in range(self.shape[axis])]
        return level(0, 0)


@dataclass(frozen=True)
class StepAttribution:
    """One attribution step, as Inseq's FeatureAttributionStepOutput (output_step_attributions).

    `attributions[prefix_position]` (or `[prefix_position][hidden]` without aggregation): what each
    of the `position` tokens before `target` contributed to predicting it.
    """
    position: int
    target: TokenWithId
    attributions: Optional[List[Any]]
    step_scores: Dict[str, Optional[float]]
    granular_attributions: Optional[PackedTensor] = None

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> "StepAttribution":
        granular = value.get("granularAttributions")
        return cls(position=value["position"], target=TokenWithId(**value["target"]),
                   attributions=value["attributions"], step_scores=dict(value["stepScores"]),
                   granular_attributions=None if granular is None else PackedTensor.from_json(granular))


@dataclass(frozen=True)
class SequenceAttribution:
    """One input's attribution, as Inseq's FeatureAttributionSequenceOutput.

    `target_attributions[position][step]`: how much target position `position` contributed to step
    `step`, which predicts `target[attr_pos_start + step]`; None where Inseq has NaN.
    """
    source: List[TokenWithId]
    target: List[TokenWithId]
    attr_pos_start: int
    attr_pos_end: int
    target_attributions: Optional[List[Any]]
    step_scores: Dict[str, List[Optional[float]]]
    granular_target_attributions: Optional[PackedTensor] = None
    step_attributions: Optional[List[StepAttribution]] = None
    #: Encoder-decoder models: `source_attributions[source_position][step]` (and the raw values
    #: with granular); `target_attributions` is None unless attribute_target=True.
    source_attributions: Optional[List[Any]] = None
    granular_source_attributions: Optional[PackedTensor] = None

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> "SequenceAttribution":
        granular = value.get("granularTargetAttributions")
        granular_source = value.get("granularSourceAttributions")
        steps = value.get("steps")
        return cls(source=[TokenWithId(**token) for token in value["source"]],
                   target=[TokenWithId(**token) for token in value["target"]],
                   attr_pos_start=value["attrPosStart"], attr_pos_end=value["attrPosEnd"],
                   target_attributions=value["targetAttributions"], step_scores=dict(value["stepScores"]),
                   granular_target_attributions=None if granular is None else PackedTensor.from_json(granular),
                   step_attributions=None if steps is None else [StepAttribution.from_json(step) for step in steps],
                   source_attributions=value.get("sourceAttributions"),
                   granular_source_attributions=None if granular_source is None else PackedTensor.from_json(granular_source))

    @property
    def generated_tokens(self) -> List[TokenWithId]:
        """The attributed tokens, one per step."""
        return self.target[self.attr_pos_start:self.attr_pos_end]


@dataclass(frozen=True)
class AttributionResult:
    """The answer to `attribute`: one SequenceAttribution per input (iterable, indexable)."""
    sequence_attributions: List[SequenceAttribution]
    saved_to: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> "AttributionResult":
        return cls(sequence_attributions=[SequenceAttribution.from_json(item) for item in value["results"]],
                   saved_to=value.get("savedTo"), raw=dict(value))

    def __len__(self) -> int:
        return len(self.sequence_attributions)

    def __getitem__(self, index: int) -> SequenceAttribution:
        return self.sequence_attributions[index]

    def __iter__(self) -> Iterator[SequenceAttribution]:
        return iter(self.sequence_attributions)
