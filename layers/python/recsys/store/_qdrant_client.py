"""qdrant-client, imported with its ~400 REST models built on first use instead of at import.

Importing qdrant-client builds a pydantic validator for every generated REST model, then
``qdrant_client/http/__init__.py`` calls ``model_rebuild()`` on each of them: together the
largest single part of a Lambda cold start (docs/BENCHMARKS.md, Lambda layer), for models a
handler mostly never touches. pydantic can build a model the first time it is validated or
serialised instead (``defer_build``; a model whose forward references were unresolved at class
creation is built that way too). Importing qdrant-client through this module turns that on for
its models and skips the eager pass; the few models a request touches build on first use, once
per process.

Both switches are on only while the package imports and are restored before anything else
runs: models defined later, ours included, build as usual. tests/unit/store/test_qdrant_import.py
checks, in a fresh interpreter, that the models were deferred, that pydantic is restored, and
that every deferred model still builds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["QdrantClient", "models"]


def _not_now(cls: type[BaseModel], *args: Any, **kwargs: Any) -> None:
    """``model_rebuild`` while qdrant-client imports: leave the model to build on first use."""
    return None


@contextlib.contextmanager
def _models_built_on_first_use() -> Iterator[None]:
    original, config = BaseModel.__dict__["model_rebuild"], BaseModel.model_config
    BaseModel.model_rebuild = classmethod(_not_now)  # type: ignore[method-assign,assignment]
    # Each model created meanwhile inherits this config (pydantic merges the bases' configs).
    BaseModel.model_config = ConfigDict(config, defer_build=True)  # type: ignore[misc]
    try:
        yield
    finally:
        BaseModel.model_rebuild = original  # type: ignore[method-assign]
        BaseModel.model_config = config


with _models_built_on_first_use():
    from qdrant_client import QdrantClient, models
