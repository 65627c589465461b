"""All configuration, read once from the environment (prefix ``RECSYS_``) or a ``.env`` file.

No other module reads ``os.environ``: they take a :class:`Settings` (usually ``get_settings()``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

#: Where the repository keeps the shipped int8 encoders (used when running from a checkout).
_REPO_MODELS = Path(__file__).resolve().parents[4] / "models_onnx"
#: Where the Lambda layer puts them (layer contents are mounted under /opt).
_LAYER_MODELS = Path("/opt/models_onnx")
#: The encoder used when none is configured.
DEFAULT_ENCODER_MODEL = "all-MiniLM-L6-v2-int8"
#: Short names RECSYS_ENCODER_MODEL accepts besides a folder name under models_onnx/.
ENCODER_ALIASES = {"multilingual": "use-multilingual-v3-int8", "minilm": DEFAULT_ENCODER_MODEL}
#: The UCI Online Retail table in the project workspace's shared/data, beside the checkout.
_WORKSPACE = Path(__file__).resolve().parents[5]
_ONLINE_RETAIL = _WORKSPACE / "shared" / "data" / "online_retail" / "online_retail.csv.gz"


def models_root() -> Path:
    """The folder holding the encoder folders: the checkout's models_onnx/, else the layer's."""
    return _REPO_MODELS if _REPO_MODELS.is_dir() else _LAYER_MODELS


def resolve_model_dir(name: str) -> Path:
    """The folder of encoder ``name``: an alias of ENCODER_ALIASES or a folder under
    :func:`models_root` (e.g. ``use-multilingual-v3-int8``)."""
    key = name.strip()
    folder = ENCODER_ALIASES.get(key.lower(), key)
    if not folder or Path(folder).name != folder or folder in {".", ".."}:
        raise ValueError(f"encoder model must be a folder name under models_onnx/, got {name!r}")
    return models_root() / folder


def default_model_dir() -> Path:
    """The default encoder's folder (checkout copy, else the Lambda layer's)."""
    return resolve_model_dir(DEFAULT_ENCODER_MODEL)


def model_dimension(model_dir: Path) -> int | None:
    """Vector length from the model folder's config.json (``embedding_dim``, else BERT's
    ``hidden_size``); None when the folder has no readable config."""
    try:
        config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    dim = config.get("embedding_dim", config.get("hidden_size"))
    return dim if isinstance(dim, int) and dim > 0 else None


#: Prefix of the ranking settings' names (``ranking_w_content`` …, ``RECSYS_RANKING_…``).
RANKING_PREFIX = "ranking_"


class RankingSettings(BaseModel):
    """The ranking settings a store may change, each by its name without ``ranking_``
    (``RECSYS_RANKING_W_CONTENT`` is ``w_content`` here). Their defaults live here only;
    :meth:`recsys.ranking.config.RankingConfig.from_settings` builds the ranking from them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    w_content: float = Field(default=0.5, ge=0)
    w_collaborative: float = Field(default=0.7, ge=0)
    w_similar_users: float = Field(default=0.5, ge=0)
    w_popularity: float = Field(default=0.4, ge=0)
    w_trending: float = Field(default=0.05, ge=0)
    w_freshness: float = Field(default=0.0, ge=0)
    w_repeat: float = Field(default=3.0, ge=0)
    buy_again: bool = Field(
        default=False,
        description='"For you" may offer past purchases again (a wholesaler\'s re-stocking list); '
        'false leaves them to "buy again" (GET /users/{id}/buy-again).',
    )
    exclude_seen: bool = Field(
        default=False, description="Leave out recently viewed or carted products."
    )
    max_per_category: int = Field(default=0, ge=0, description="0: no cap per category.")
    diversity: float = Field(default=0.0, ge=0, le=1, description="Default MMR weight.")


def lift_ranking(values: dict[str, Any]) -> dict[str, Any]:
    """``ranking_<name>`` keys moved into ``values["ranking"]`` (an unknown name fails there)."""
    flat = {k: v for k, v in values.items() if k.lower().startswith(RANKING_PREFIX)}
    if not flat:
        return values
    out = {k: v for k, v in values.items() if k not in flat}
    nested = out.get("ranking") or {}
    if isinstance(nested, BaseModel):
        nested = nested.model_dump(exclude_unset=True)
    out["ranking"] = {
        **nested,
        **{k.lower().removeprefix(RANKING_PREFIX): v for k, v in flat.items()},
    }
    return out


def ranking_setting_names() -> list[str]:
    """The ranking settings by their names without ``RECSYS_`` (``ranking_w_content`` …)."""
    return sorted(f"{RANKING_PREFIX}{name}" for name in RankingSettings.model_fields)


class _FlatRankingEnv(EnvSettingsSource):
    """``RECSYS_RANKING_<NAME>`` variables, which the nested ``ranking`` field would not see."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        prefix = f"{self.env_prefix}{RANKING_PREFIX}".lower()
        return {
            key[len(self.env_prefix) :]: value
            for key, value in self.env_vars.items()
            if key.lower().startswith(prefix) and value is not None
        }


class Settings(BaseSettings):
    """Every knob of the system, with defaults that run embedded on one machine."""

    model_config = SettingsConfigDict(env_prefix="RECSYS_", env_file=".env", extra="ignore")

    # --- local state -------------------------------------------------------------------------
    data_dir: Path = Field(default=Path(".recsys-data"), description="Embedded stores live here.")

    # --- encoder -----------------------------------------------------------------------------
    encoder_model: str = Field(
        default=DEFAULT_ENCODER_MODEL,
        description="Encoder folder under models_onnx/, or 'multilingual' (the shipped one).",
    )
    model_dir: Path = Field(
        default_factory=default_model_dir,
        description="The encoder's folder itself; by default models_onnx/<encoder_model>.",
    )
    second_encoder: str = Field(
        default="auto",
        description="A second encoder whose vectors products carry as text__<model> for search "
        "(recsys.store.spaces.second_model_for): 'auto' the other shipped one when its folder "
        "is installed, 'none' off, or a folder name / alias.",
    )
    encoder_threads: int = Field(default=1, ge=1, le=64, description="ONNX intra-op threads.")
    encoder_max_tokens: int = Field(default=256, ge=8, le=512)
    encoder_batch_size: int = Field(default=32, ge=1, le=1024)

    # --- vector store --------------------------------------------------------------------------
    vector_backend: Literal["edge", "qdrant"] = Field(
        default="edge",
        description="edge: in-process qdrant-edge; qdrant: qdrant-client at qdrant_url.",
    )
    qdrant_url: str | None = Field(
        default=None, description="http(s) URL of a Qdrant server, ':memory:', or a local path."
    )
    qdrant_api_key: str | None = None
    qdrant_api_key_secret_arn: str | None = Field(
        default=None, description="Secrets Manager ARN holding the Qdrant API key (on Lambda)."
    )
    products_collection: str = "products"
    users_collection: str = "users"
    vector_size: int = Field(
        default=384, ge=1, description="By default the encoder's, from its config.json."
    )
    # A Qdrant server or cluster lays out new collections with these (docs/SCALE.md); None
    # keeps the server's default. Local mode and qdrant-edge are one node and ignore them.
    qdrant_shard_number: int | None = Field(default=None, ge=1, le=1024)
    qdrant_replication_factor: int | None = Field(default=None, ge=1, le=16)
    qdrant_write_consistency_factor: int | None = Field(default=None, ge=1, le=16)
    qdrant_on_disk_vectors: bool = Field(
        default=False, description="Full vectors memory-mapped from disk; int8 copies in RAM."
    )
    qdrant_on_disk_payload: bool = False
    hnsw_m: int = Field(default=16, ge=4, le=128)
    hnsw_ef_construct: int = Field(default=100, ge=4, le=1000)
    hnsw_ef: int = Field(default=128, ge=1, le=4096, description="Search-time HNSW ef.")
    edge_indexing_threads: int = Field(
        default=2, ge=0, le=64, description="Threads optimize() uses to build HNSW (0 = all)."
    )
    edge_indexing_threshold_kb: int = Field(
        default=10_000, ge=1, description="optimize() indexes segments holding more KB of vectors."
    )
    edge_full_scan_threshold_kb: int = Field(
        default=10_000, ge=1, description="Filtered searches below this many KB scan exactly."
    )
    edge_search_threads: int | None = Field(
        default=None, ge=1, le=64, description="qdrant-edge search pool size (None = per CPU)."
    )

    # --- AWS (endpoint_url points boto3 at moto / LocalStack; None means real AWS) --------------
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    embed_queue_url: str | None = None
    profile_queue_url: str | None = None
    events_table: str = "recsys-events"
    catalog_bucket: str = "recsys-catalog"
    aggregates_backend: Literal["file", "s3"] = Field(
        default="file",
        description="file: <data_dir>/aggregates/ (embedded); s3: the catalog bucket (AWS).",
    )

    # --- catalog ingest ------------------------------------------------------------------------
    ingest_chunk_size: int = Field(
        default=256, ge=1, le=10_000, description="Rows validated and looked up per store call."
    )
    embed_message_products: int = Field(
        default=25, ge=1, le=500, description="Products per embed-queue message (≤ 256 KB)."
    )
    max_post_products: int = Field(
        default=500, ge=1, le=10_000, description="Most products in one POST /products."
    )
    catalog_upload_prefix: str = Field(
        default="catalog/", description="Only S3 uploads under this prefix are ingested."
    )

    # --- cache ---------------------------------------------------------------------------------
    redis_url: str | None = Field(default=None, description="Without it, an in-process TTL cache.")
    cache_prefix: str = Field(default="recsys:v1", description="Namespace of every cache key.")
    cache_ttl_recommend_s: int = Field(default=300, ge=0, description="Per-user lists (0: off).")
    cache_ttl_similar_s: int = Field(default=3600, ge=0, description="Similar / bought-together.")
    cache_ttl_trending_s: int = Field(default=300, ge=0)
    cache_ttl_search_s: int = Field(default=120, ge=0)
    cache_max_entries: int = Field(default=10_000, ge=1, description="In-process cache size.")
    cache_timeout_s: float = Field(
        default=0.05, gt=0, description="Redis socket timeout; slower means 'no cache'."
    )

    # --- ranking (tuned offline: docs/EVALUATION.md) ------------------------------------------
    ranking: RankingSettings = Field(
        default_factory=lambda: RankingSettings(),
        description="RECSYS_RANKING_<NAME> each (e.g. RECSYS_RANKING_W_CONTENT); unknown: error.",
    )

    # --- events and profiles -------------------------------------------------------------------
    events_retention_days: int = Field(default=400, ge=1, description="TTL of logged events.")
    events_max_batch: int = Field(default=500, ge=1, description="Events per request (413 above).")
    events_max_body_bytes: int = Field(default=1_000_000, ge=1024)
    events_write_threads: int = Field(default=16, ge=1, le=64)
    profile_tau_long_days: float = Field(default=30.0, gt=0)
    profile_tau_short_s: float = Field(default=3600.0, gt=0)
    profile_short_events: int = Field(default=20, ge=1, description="Last N events, short vector.")
    profile_rebuild_after_days: float = Field(
        default=7.0, gt=0, description="Profiles older than this are rebuilt from the event log."
    )
    profile_recent_items: int = Field(default=50, ge=0)
    profile_rebuild_max_events: int = Field(default=2000, ge=10)
    weight_overrides: dict[str, float] = Field(
        default_factory=dict, description='Event weights over the defaults, e.g. {"view": 0.5}.'
    )
    refresh_active_days: float = Field(default=2.0, gt=0, description="Refresh users active since.")
    aggregates_ttl_s: float = Field(default=300.0, ge=0)
    profile_center_items: bool = Field(
        default=False,
        description="Subtract the catalog's mean item vector before summing profiles (de-hubs).",
    )

    # --- attribution, experiments, stats (docs/EXPERIMENTS.md) ----------------------------------
    experiment: str | None = Field(
        default=None,
        description='A/B test: {"name": ..., "variants": {"a": {"share": 0.5}, "b": {...}}}.',
    )
    stats_table: str | None = Field(
        default=None, description="DynamoDB table of served lists and counters (None: no stats)."
    )
    stats_backend: Literal["sqlite", "dynamodb"] = Field(
        default="sqlite",
        description="sqlite: one file under data_dir (embedded); dynamodb: stats_table.",
    )
    stats_sqlite_path: Path | None = Field(
        default=None, description="The embedded stats file; default <data_dir>/stats/stats.sqlite3."
    )
    attribution_window_s: float = Field(
        default=86_400.0, gt=0, description="A purchase this long after a click counts for it."
    )
    tuner_min_clicks: int = Field(
        default=500,
        ge=1,
        description="Attributed clicks the log must hold before the tuner trains on them.",
    )
    stats_list_retention_days: float = Field(
        default=7.0, gt=0, description="How long a served list can still be named by events."
    )
    stats_retention_days: float = Field(default=400.0, gt=0, description="TTL of daily counters.")
    stats_shards: int = Field(
        default=8, ge=1, le=256, description="Items each daily set is split over (≤ 400 KB each)."
    )
    stats_max_days: int = Field(default=90, ge=1, le=400, description="Longest /stats window.")

    # --- nightly aggregates and the event archive (docs/SCALE.md) ------------------------------
    aggregates_engine: Literal["python", "duckdb", "athena"] = Field(
        default="python",
        description="python: read the log, compute in memory; duckdb/athena: SQL on the archive.",
    )
    archive_dir: Path | None = Field(
        default=None, description="Local event archive (Parquet); default <data_dir>/archive."
    )
    archive_stream: str | None = Field(
        default=None, description="Firehose stream the archive function writes to (AWS)."
    )
    athena_workgroup: str = "primary"
    athena_database: str = Field(default="recsys", description="Glue database of the archive.")
    athena_output: str | None = Field(
        default=None, description="s3:// prefix for Athena results (else the workgroup's)."
    )
    athena_timeout_s: float = Field(default=600.0, gt=0)
    duckdb_memory_limit: str | None = Field(
        default=None, description='DuckDB memory cap for the aggregates, e.g. "2GB".'
    )

    # --- local stack (recsys up) --------------------------------------------------------------
    local_refresh_interval_s: float = Field(
        default=86_400.0, ge=0, description="Nightly job period locally (0: only on demand)."
    )
    local_s3_poll_s: float = Field(
        default=1.0, gt=0, description="How often the local stack lists the catalog bucket."
    )
    demo_data: Path = Field(
        default=_ONLINE_RETAIL, description="Online Retail table loaded by `recsys up --demo`."
    )
    demo_history_days: float = Field(
        default=7.0, gt=0, description="`--demo` replays this many last days of events."
    )

    # --- reliability and security (docs/RELIABILITY.md) ---------------------------------------
    events_backend: Literal["sqlite", "dynamodb"] = Field(
        default="sqlite",
        description="sqlite: one durable file under data_dir (embedded); dynamodb: events_table.",
    )
    events_sqlite_path: Path | None = Field(
        default=None,
        description="The embedded event log; default <data_dir>/events/events.sqlite3.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="When set, writes, erasure and admin routes need the header X-Api-Key.",
    )
    cors_allow_origins: list[str] = Field(
        default_factory=list,
        description='Origins browsers may call the local API from, e.g. ["https://shop.example"].',
    )
    products_max_body_bytes: int = Field(
        default=4_000_000, ge=1024, le=6_000_000, description="POST /products body cap (413)."
    )
    api_max_body_bytes: int = Field(
        default=65_536, ge=1024, description="Body cap of every other route (413)."
    )
    product_max_row_bytes: int = Field(
        default=100_000,
        ge=1024,
        le=240_000,
        description="Largest catalog row as JSON: one must fit an embed message (256 KB).",
    )
    local_containers: int = Field(
        default=16,
        ge=1,
        le=64,
        description="Concurrent invocations per function locally (requests waiting on I/O).",
    )
    local_foreground_wait_ms: float = Field(
        default=2000.0,
        ge=0,
        le=10_000,
        description="Locally, the longest a queue poller's batch waits for API requests in "
        "flight to finish (they share one interpreter here; 0: no wait).",
    )
    local_background_share: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="Locally, while API requests keep arriving, the share of time a queue "
        "poller's batches may take (each waits in proportion to the last one's run).",
    )
    local_drain_s: float = Field(
        default=5.0, ge=0, le=120, description="At Ctrl-C, wait this long for the queues."
    )

    def with_ranking(self, overrides: Mapping[str, Any]) -> Settings:
        """A copy with ranking settings changed by name (``{"ranking_w_content": 0.6}``),
        validated as the environment would be; an unknown name or a bad value: ConfigError."""
        from recsys.core.errors import ConfigError

        update: dict[str, Any] = {}
        for name, value in overrides.items():
            key = name.lower()
            if not key.startswith(RANKING_PREFIX):
                raise ConfigError(f"{name!r} is not a ranking setting (ranking_<name>)")
            update[key.removeprefix(RANKING_PREFIX)] = value
        try:
            ranking = RankingSettings.model_validate({**self.ranking.model_dump(), **update})
        except PydanticValidationError as exc:
            err = exc.errors(include_url=False)[0]
            loc = ".".join(str(x) for x in err["loc"])
            raise ConfigError(f"ranking setting {RANKING_PREFIX}{loc}: {err['msg']}") from None
        return self.model_copy(update={"ranking": ranking})

    @model_validator(mode="before")
    @classmethod
    def _nest_ranking(cls, data: Any) -> Any:
        return lift_ranking(data) if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _resolve_encoder(self) -> Settings:
        chosen = set(self.model_fields_set)
        if "encoder_model" in chosen:
            folder = resolve_model_dir(self.encoder_model)
            if "model_dir" in chosen and Path(self.model_dir).resolve() != folder.resolve():
                raise ValueError(
                    f"RECSYS_MODEL_DIR ({self.model_dir}) and RECSYS_ENCODER_MODEL "
                    f"({self.encoder_model}) name different encoders: set only one"
                )
            self.model_dir = folder
        if "vector_size" not in chosen:
            self.vector_size = model_dimension(self.model_dir) or self.vector_size
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        flat = _FlatRankingEnv(settings_cls)
        return init_settings, env_settings, flat, dotenv_settings, file_secret_settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings singleton (tests call ``get_settings.cache_clear()``)."""
    return Settings()
