"""Stand-in for grpcio in the Lambda layer: the names qdrant-client imports, and no transport.

qdrant-client imports ``grpc`` when the package is imported, REST client or not: its connection
module subclasses gRPC's interceptor classes, its remote clients take ``grpc.Compression`` in
their signatures and its generated ``*_pb2_grpc`` stubs import the module. The store reaches
Qdrant over REST only (``recsys.store.qdrant`` never passes ``prefer_grpc``), so the layer ships
this module in place of grpcio, whose native core is 17 MiB of the layer's 150 MiB target
(layers/README.md). Anything that would open a gRPC channel or server raises
:class:`GrpcNotShipped` instead of failing somewhere later; an attribute this stand-in does
not define raises AttributeError naming it.
"""

from __future__ import annotations

import abc
import enum
from typing import Any, NoReturn

__all__ = [
    "Channel",
    "ClientCallDetails",
    "Compression",
    "GrpcNotShipped",
    "RpcError",
    "StatusCode",
    "StreamStreamClientInterceptor",
    "StreamUnaryClientInterceptor",
    "UnaryStreamClientInterceptor",
    "UnaryUnaryClientInterceptor",
    "aio",
]

WHY = (
    "gRPC is not in the Lambda layer (layers/build.sh ships a stand-in for grpcio): "
    "reach Qdrant over REST, without prefer_grpc"
)


class GrpcNotShipped(RuntimeError):
    """A gRPC channel, server or call was asked for where grpcio is not installed."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what}: {WHY}")


def _not_shipped(what: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise GrpcNotShipped(what)

    refuse.__name__ = refuse.__qualname__ = what.rsplit(".", 1)[-1]
    return refuse


class StatusCode(enum.Enum):
    """gRPC status codes (same members and values as grpcio's)."""

    OK = (0, "ok")
    CANCELLED = (1, "cancelled")
    UNKNOWN = (2, "unknown")
    INVALID_ARGUMENT = (3, "invalid argument")
    DEADLINE_EXCEEDED = (4, "deadline exceeded")
    NOT_FOUND = (5, "not found")
    ALREADY_EXISTS = (6, "already exists")
    PERMISSION_DENIED = (7, "permission denied")
    RESOURCE_EXHAUSTED = (8, "resource exhausted")
    FAILED_PRECONDITION = (9, "failed precondition")
    ABORTED = (10, "aborted")
    OUT_OF_RANGE = (11, "out of range")
    UNIMPLEMENTED = (12, "unimplemented")
    INTERNAL = (13, "internal")
    UNAVAILABLE = (14, "unavailable")
    DATA_LOSS = (15, "data loss")
    UNAUTHENTICATED = (16, "unauthenticated")


class Compression(enum.IntEnum):
    """Channel compression algorithms (same members and values as grpcio's)."""

    NoCompression = 0
    Deflate = 1
    Gzip = 2


class RpcError(Exception):
    """Base of the errors a gRPC call raises (none can be made here)."""


class ClientCallDetails(abc.ABC):  # noqa: B024 - an interface without methods, as in grpcio
    """What an interceptor sees of a call."""


class UnaryUnaryClientInterceptor(abc.ABC):  # noqa: B024
    """Base of unary-unary client interceptors."""


class UnaryStreamClientInterceptor(abc.ABC):  # noqa: B024
    """Base of unary-stream client interceptors."""


class StreamUnaryClientInterceptor(abc.ABC):  # noqa: B024
    """Base of stream-unary client interceptors."""


class StreamStreamClientInterceptor(abc.ABC):  # noqa: B024
    """Base of stream-stream client interceptors."""


class Channel(abc.ABC):  # noqa: B024
    """A gRPC channel (none can be opened here)."""


insecure_channel = _not_shipped("grpc.insecure_channel")
secure_channel = _not_shipped("grpc.secure_channel")
intercept_channel = _not_shipped("grpc.intercept_channel")
ssl_channel_credentials = _not_shipped("grpc.ssl_channel_credentials")
unary_unary_rpc_method_handler = _not_shipped("grpc.unary_unary_rpc_method_handler")
method_handlers_generic_handler = _not_shipped("grpc.method_handlers_generic_handler")


class experimental:
    """``grpc.experimental``'s one-off calls, as the generated service classes use them."""

    unary_unary = staticmethod(_not_shipped("grpc.experimental.unary_unary"))
    unary_stream = staticmethod(_not_shipped("grpc.experimental.unary_stream"))
    stream_unary = staticmethod(_not_shipped("grpc.experimental.stream_unary"))
    stream_stream = staticmethod(_not_shipped("grpc.experimental.stream_stream"))


def __getattr__(name: str) -> NoReturn:
    raise AttributeError(f"grpc.{name} is not defined by the layer's stand-in: {WHY}")


# Last: grpc.aio takes WHY and GrpcNotShipped from here.
from grpc import aio  # noqa: E402
