"""Python client for the SeqLens daemon (`seqlens serve`), standard library only.

    with SeqLens() as lens:
        model = lens.load_model("default")
        print(lens.generate(model.id, ["Hello"], max_new_tokens=5)[0].text)
        out = lens.attribute(model.id, "Hello", method="integrated_gradients", n_steps=10,
                             step_scores=["probability"], generation_args={"max_new_tokens": 5})
        print(out[0].generated_tokens, out[0].step_scores["probability"])
        lens.logit_lens(model.id, "The capital of France is", targets=[" Paris"])  # a grid in a notebook
        cache = lens.inspect_activations(model.id, "Hello", "blocks.*.resid_post")   # numpy arrays
"""

from .attribution import (
    AttributionResult, PackedTensor, SequenceAttribution, StepAttribution, TokenWithId, attribute_params,
)
from .client import PendingRequest, SeqLens, find_binary
from .errors import (
    ComputationFailed, DaemonExited, InputTooLong, InternalError, InvalidParams, InvalidRequest,
    MemoryBudgetExceeded, MethodNotFound, ModelLoadFailed, ModelNotFound, ParseError, RequestCancelled,
    SeqLensError, ServerNotInitialized,
)
from .internals import Ablation, Activations, HeadSweep, LensToken, LogitLens, Patching
from .types import Beam, Encoding, GeneratedToken, Generation, ModelInfo, Progress, TokenProbability

__all__ = [
    "SeqLens", "PendingRequest", "find_binary", "SeqLensError", "ParseError", "InvalidRequest", "MethodNotFound",
    "InvalidParams", "InternalError", "ServerNotInitialized", "RequestCancelled", "ModelNotFound", "ModelLoadFailed",
    "MemoryBudgetExceeded", "InputTooLong", "ComputationFailed", "DaemonExited", "Encoding", "GeneratedToken",
    "Beam", "Generation", "ModelInfo", "Progress", "TokenProbability", "AttributionResult", "SequenceAttribution",
    "StepAttribution", "PackedTensor", "TokenWithId", "attribute_params", "Activations", "LogitLens", "LensToken",
    "Patching", "Ablation", "HeadSweep",
]
