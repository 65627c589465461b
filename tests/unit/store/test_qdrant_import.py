"""qdrant-client is imported with its REST models built on first use, and nothing is lost by it.

Runs in a fresh interpreter: in this one qdrant_client may already have been imported the
ordinary way by another test, which would leave nothing to defer.
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = r"""
import json
from pydantic import BaseModel

original = BaseModel.__dict__["model_rebuild"]
config = BaseModel.model_config
import recsys.store.qdrant  # noqa: F401  (imports qdrant-client through the deferral)
from qdrant_client.http.models import models

classes = [
    c for c in vars(models).values()
    if isinstance(c, type) and issubclass(c, BaseModel) and c.__module__ == models.__name__
]
deferred = [c.__name__ for c in classes if not c.__pydantic_complete__]
restored = BaseModel.__dict__["model_rebuild"] is original and BaseModel.model_config is config


class Later(BaseModel):  # a model defined after the import builds at once, as usual
    a: int


# A request validates the models it touches: this must build them on first use, as the
# eager pass would have at import.
point = models.PointStruct(id=1, vector=[0.1, 0.2], payload={"in_stock": 1})
query = models.QueryRequest(
    query=[0.1, 0.2],
    filter=models.Filter(must=[models.FieldCondition(key="c", match=models.MatchValue(value="a"))]),
    limit=3,
)
body = query.model_dump(mode="json", exclude_none=True)
failed = []
for cls in classes:
    try:
        cls.model_rebuild()
        if not cls.__pydantic_complete__:
            failed.append(f"{cls.__name__}: still incomplete")
    except Exception as exc:
        failed.append(f"{cls.__name__}: {exc}")
print(json.dumps({"classes": len(classes), "deferred": deferred, "restored": restored,
                  "later_built": Later.__pydantic_complete__,
                  "point_id": point.id, "body": body, "failed": failed}))
"""


def test_qdrant_client_models_build_on_first_use() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120, check=True
    )
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["classes"] > 300
    # The models were not built at import ...
    assert len(out["deferred"]) > 300, out["deferred"]
    # ... pydantic is itself again for everything after the import ...
    assert out["restored"] is True
    assert out["later_built"] is True
    # ... the models a request uses validate and serialise on first use ...
    assert out["point_id"] == 1
    assert out["body"]["filter"]["must"][0] == {"key": "c", "match": {"value": "a"}}
    assert out["body"]["limit"] == 3
    # ... and every deferred model still builds.
    assert out["failed"] == []
