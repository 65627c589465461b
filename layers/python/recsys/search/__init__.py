"""Product search: dense meaning, keyword evidence, their fusion and the no-match decision."""

from recsys.search.fusion import (
    DENSE_THRESHOLDS,
    Evidence,
    FusedHit,
    Hit,
    SearchTuning,
    fuse,
    tuning_for,
)
from recsys.search.keywords import KEYWORDS, keyword_vector
from recsys.search.service import ProductSearch, SearchResult

__all__ = [
    "DENSE_THRESHOLDS",
    "KEYWORDS",
    "Evidence",
    "FusedHit",
    "Hit",
    "ProductSearch",
    "SearchResult",
    "SearchTuning",
    "fuse",
    "keyword_vector",
    "tuning_for",
]
