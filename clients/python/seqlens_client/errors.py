"""Exceptions raised for the daemon's JSON-RPC errors, one class per documented code."""

from __future__ import annotations

from typing import Any, Dict, Optional, Type


class SeqLensError(Exception):
    """An error reply from the daemon, or a failure to talk to it."""

    code: Optional[int] = None

    def __init__(self, message: str, code: Optional[int] = None, data: Any = None):
        super().__init__(message if code is None else f"{message} (code {code})")
        self.message = message
        if code is not None:
            self.code = code
        self.data = data


class ParseError(SeqLensError):
    code = -32700


class InvalidRequest(SeqLensError):
    code = -32600


class MethodNotFound(SeqLensError):
    code = -32601


class InvalidParams(SeqLensError):
    code = -32602


class InternalError(SeqLensError):
    code = -32603


class ServerNotInitialized(SeqLensError):
    code = -32002


class RequestCancelled(SeqLensError):
    code = -32800


class ModelNotFound(SeqLensError):
    code = -32010


class ModelLoadFailed(SeqLensError):
    code = -32011


class MemoryBudgetExceeded(SeqLensError):
    code = -32012


class InputTooLong(SeqLensError):
    code = -32013


class ComputationFailed(SeqLensError):
    code = -32014


class DaemonExited(SeqLensError):
    """The daemon process ended (or its output closed) before answering."""


ERROR_CLASSES: Dict[int, Type[SeqLensError]] = {
    cls.code: cls
    for cls in (
        ParseError, InvalidRequest, MethodNotFound, InvalidParams, InternalError, ServerNotInitialized,
        RequestCancelled, ModelNotFound, ModelLoadFailed, MemoryBudgetExceeded, InputTooLong, ComputationFailed,
    )
}


def error_from_reply(error: Dict[str, Any]) -> SeqLensError:
    """The exception for a JSON-RPC error object."""
    code = error.get("code")
    cls = ERROR_CLASSES.get(code, SeqLensError)
    return cls(str(error.get("message", "")), code=code, data=error.get("data"))
