"""``grpc.aio`` of the layer's stand-in for grpcio (see ``grpc/__init__.py``): the classes
qdrant-client's async client subclasses or catches at import, channels that refuse to open.

The interfaces are the synchronous module's own classes: nothing here ever has a channel, so
nothing needs to tell an asyncio interceptor from a blocking one.
"""

from __future__ import annotations

from typing import Any, NoReturn

from grpc import (
    WHY,
    Channel,
    ClientCallDetails,
    GrpcNotShipped,
    RpcError,
    StreamStreamClientInterceptor,
    StreamUnaryClientInterceptor,
    UnaryStreamClientInterceptor,
    UnaryUnaryClientInterceptor,
)

__all__ = [
    "AioRpcError",
    "Channel",
    "ClientCallDetails",
    "StreamStreamClientInterceptor",
    "StreamUnaryClientInterceptor",
    "UnaryStreamClientInterceptor",
    "UnaryUnaryClientInterceptor",
    "insecure_channel",
    "secure_channel",
]


class AioRpcError(RpcError):
    """The error an asyncio gRPC call raises (none can be made here)."""


def insecure_channel(*args: Any, **kwargs: Any) -> NoReturn:
    raise GrpcNotShipped("grpc.aio.insecure_channel")


def secure_channel(*args: Any, **kwargs: Any) -> NoReturn:
    raise GrpcNotShipped("grpc.aio.secure_channel")


def __getattr__(name: str) -> NoReturn:
    raise AttributeError(f"grpc.aio.{name} is not defined by the layer's stand-in: {WHY}")
