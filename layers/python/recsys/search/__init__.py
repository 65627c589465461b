"""Product search: dense meaning, keyword evidence, their fusion and the no-match decision."""

from recsys.search.fusion import (
    DENSE_THRESHOLDS,
    DenseList,
    Evidence,
    FusedHit,
    Hit,
    SearchTuning,
    fuse,
    fuse_lists,
    pair_tuning,
    tuning_for,
)
from recsys.search.keywords import KEYWORDS, keyword_vector
from recsys.search.service import (
    FALLBACK,
    NO_MATCH,
    DenseSource,
    ProductSearch,
    SearchResult,
    is_multilingual,
    second_vector_name,
)

__all__ = [
    "DENSE_THRESHOLDS",
    "FALLBACK",
    "KEYWORDS",
    "NO_MATCH",
    "DenseList",
    "DenseSource",
    "Evidence",
    "FusedHit",
    "Hit",
    "ProductSearch",
    "SearchResult",
    "SearchTuning",
    "fuse",
    "fuse_lists",
    "is_multilingual",
    "keyword_vector",
    "pair_tuning",
    "second_vector_name",
    "tuning_for",
]
