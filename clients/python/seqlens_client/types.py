"""Typed views of the daemon's results (see protocol/seqlens.openrpc.json)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass(frozen=True)
class ModelInfo:
    id: str
    architecture: str
    layers: int
    heads: int
    kv_heads: int
    hidden_size: int
    vocab_size: int
    max_positions: int
    special_tokens: Dict[str, int]
    memory_bytes: int
    source: str
    load_milliseconds: float = 0.0
    already_resident: bool = False
    evicted: List[str] = field(default_factory=list)
    is_encoder_decoder: bool = False
    #: Encoder-decoder models only (layers is the decoder's).
    encoder_layers: Optional[int] = None

    @classmethod
    def from_json(cls, value: Dict[str, Any]) -> "ModelInfo":
        return cls(
            id=value["id"], architecture=value["architecture"], layers=value["layers"], heads=value["heads"],
            kv_heads=value["kvHeads"], hidden_size=value["hiddenSize"], vocab_size=value["vocabSize"],
            max_positions=value["maxPositions"], special_tokens=dict(value["specialTokens"]),
            memory_bytes=value["memoryBytes"], source=value["source"],
            load_milliseconds=value.get("loadMilliseconds", 0.0),
            already_resident=value.get("alreadyResident", False), evicted=list(value.get("evicted", [])),
            is_encoder_decoder=value.get("isEncoderDecoder", False), encoder_layers=value.get("encoderLayers"))


@dataclass(frozen=True)
class Encoding:
    ids: List[int]
    tokens: List[str]


@dataclass(frozen=True)
class TokenProbability:
    id: int
    token: str
    prob: float

    @classmethod
    def from_json(cls, value: Dict[str, Any]) -> "TokenProbability":
        return cls(id=value["id"], token=value["token"], prob=value["prob"])


@dataclass(frozen=True)
class GeneratedToken:
    id: int
    token: str
    prob: float
    top: List[TokenProbability]

    @classmethod
    def from_json(cls, value: Dict[str, Any]) -> "GeneratedToken":
        return cls(id=value["id"], token=value["token"], prob=value["prob"],
                   top=[TokenProbability.from_json(item) for item in value.get("top", [])])


@dataclass(frozen=True)
class Beam:
    """One beam of a beam search: the generated ids (an encoder-decoder model's decoder start token
    and a decoder-only model's prompt excluded), transformers' sequence score and each id's
    processed log-probability."""
    text: str
    ids: List[int]
    sequence_score: float
    transition_scores: List[float]

    @classmethod
    def from_json(cls, value: Dict[str, Any]) -> "Beam":
        return cls(text=value["text"], ids=value["ids"], sequence_score=value["sequenceScore"],
                   transition_scores=value["transitionScores"])


@dataclass(frozen=True)
class Generation:
    text: str
    tokens: List[GeneratedToken]
    stop_reason: str
    prompt_tokens: Optional[List[Dict[str, Any]]] = None
    #: Beam search only (num_beams > 1): the returned beams, best first.
    beams: Optional[List[Beam]] = None

    @classmethod
    def from_json(cls, value: Dict[str, Any]) -> "Generation":
        beams = [Beam.from_json(item) for item in value["beams"]] if "beams" in value else None
        return cls(text=value["text"], tokens=[GeneratedToken.from_json(item) for item in value["tokens"]],
                   stop_reason=value["stopReason"], prompt_tokens=value.get("promptTokens"), beams=beams)


@dataclass(frozen=True)
class Progress:
    """One $/progress notification: kind is begin, report or end."""
    kind: str
    percentage: Optional[int] = None
    message: Optional[str] = None
    title: Optional[str] = None
