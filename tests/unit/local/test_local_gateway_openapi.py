"""The local stack's one OpenAPI document: each operation from its function's app, one tag each."""

from fastapi import FastAPI

from recsys.api.routes import recommend
from recsys.local.gateway import Mount, merged_openapi
from recsys.local.template import HttpRoute


def test_the_local_stacks_document_tags_each_operation_once_by_resource() -> None:
    # GIVEN one function's app mounted for one template route
    app = FastAPI()
    app.include_router(recommend.router)
    route = HttpRoute(method="GET", path="/trending", event="Trending", authorized=False)
    mount = Mount(route=route, function="RecommendFunction", app=app, pattern=route.pattern())
    # WHEN the stack merges the document
    doc = merged_openapi([mount], title="t", version="0")
    # THEN the operation has its router's one tag, and names its function apart from the tags
    op = doc["paths"]["/trending"]["get"]
    assert len(op["tags"]) == 1 and op["tags"][0] != "RecommendFunction"
    assert op["x-function"] == "RecommendFunction"
