"""Shapes shared across the package: the vector type and the Protocols every layer relies on.

Each Protocol is defined here once; concrete classes elsewhere satisfy them structurally.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["Encoder", "Vector"]

#: A dense float32 vector (an embedding, a profile).
Vector = npt.NDArray[np.float32]


class Encoder(Protocol):
    """A text encoder: ``(len(texts), dim)`` unit-length float32 rows
    (:class:`recsys.encoder.TextEncoder` and :class:`recsys.encoder.LazyEncoder` fit)."""

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...
