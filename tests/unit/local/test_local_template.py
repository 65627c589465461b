"""The local runtime's reading of template.yaml: functions, handler files, event sources."""

from pathlib import Path

import pytest

from recsys.core.errors import TemplateError
from recsys.local.template import read_template

ROOT = Path(__file__).resolve().parents[3]
FIXTURE = ROOT / "tests" / "fixtures" / "handlers" / "template.yaml"


def test_every_function_of_the_real_template_points_at_its_handler_file() -> None:
    # GIVEN the project's template
    # WHEN the local runtime reads it
    tpl = read_template(ROOT / "template.yaml")
    # THEN the six functions map to functions/<name>/app.py, handler `handler`
    files = {k: f.module_file.relative_to(ROOT).as_posix() for k, f in tpl.functions.items()}
    assert files == {
        "IngestFunction": "functions/ingest/app.py",
        "EmbedFunction": "functions/embed/app.py",
        "LogEventFunction": "functions/log_event/app.py",
        "UpdateProfileFunction": "functions/update_profile/app.py",
        "RecommendFunction": "functions/recommend/app.py",
    }
    assert {f.function_name for f in tpl.functions.values()} == {"handler"}


def test_real_template_routes_sources_and_schedule() -> None:
    # GIVEN the project's template
    tpl = read_template(ROOT / "template.yaml")
    # WHEN its routes and event sources are listed
    routes = {(r.method, r.path): f.logical_id for r, f in tpl.routes()}
    # THEN every route of the architecture is served by exactly one function
    assert routes == {
        ("POST", "/products"): "IngestFunction",
        ("DELETE", "/products/{product_id}"): "IngestFunction",
        ("POST", "/events"): "LogEventFunction",
        ("DELETE", "/users/{user_id}"): "LogEventFunction",
        ("GET", "/users/{user_id}/recommendations"): "RecommendFunction",
        ("GET", "/users/{user_id}/buy-again"): "RecommendFunction",
        ("GET", "/products/{product_id}/similar"): "RecommendFunction",
        ("GET", "/products/{product_id}/bought-together"): "RecommendFunction",
        ("POST", "/recommendations/cart"): "RecommendFunction",
        ("GET", "/trending"): "RecommendFunction",
        ("GET", "/search"): "RecommendFunction",
        ("GET", "/categories"): "RecommendFunction",
        ("GET", "/health"): "RecommendFunction",
        ("GET", "/stats"): "RecommendFunction",
    }
    # AND writes and the operators' stats are authorized, shoppers' reads are open
    authorized = {(r.method, r.path) for r, _ in tpl.routes() if r.authorized}
    assert authorized == {
        ("POST", "/products"),
        ("DELETE", "/products/{product_id}"),
        ("POST", "/events"),
        ("DELETE", "/users/{user_id}"),
        ("GET", "/stats"),
    }
    # AND the queues feed embed and update-profile with partial batch failures
    embed = tpl.function_for_queue("EmbedQueue")
    profile = tpl.function_for_queue("ProfileQueue")
    assert embed is not None and embed.logical_id == "EmbedFunction"
    assert profile is not None and profile.logical_id == "UpdateProfileFunction"
    assert all(s.report_failures for s in (*embed.sqs, *profile.sqs))
    # AND catalog uploads reach ingest only under catalog/, the schedule reaches update-profile
    (upload,) = tpl.functions["IngestFunction"].s3
    assert upload.bucket == "CatalogBucket"
    assert upload.matches("catalog/shop.jsonl")
    assert not upload.matches("aggregates/latest.json.gz")
    (nightly,) = profile.schedules
    assert nightly.expression.startswith("cron(")


def test_globals_fill_in_handler_and_timeout() -> None:
    # GIVEN the fixture template, whose Handler comes from Globals except for one function
    tpl = read_template(FIXTURE)
    # THEN each function gets the right file and entry point
    assert tpl.functions["WebFunction"].handler == "app.handler"
    assert tpl.functions["UploadsFunction"].function_name == "on_event"
    assert tpl.functions["WorkerFunction"].timeout_s == 5
    (work,) = tpl.functions["WorkerFunction"].sqs
    assert (work.queue, work.batch_size, work.window_s) == ("WorkQueue", 3, 0.0)


def test_route_patterns_match_like_api_gateway() -> None:
    # GIVEN the fixture's routes
    tpl = read_template(FIXTURE)
    by_path = {r.path: r for r, _ in tpl.routes()}
    item = by_path["/items/{item_id}"].pattern()
    # THEN a path variable takes exactly one segment
    match = item.match("/items/abc-1")
    assert match is not None and match["item_id"] == "abc-1"
    assert item.match("/items/abc/more") is None
    assert by_path["/items"].pattern().match("/items/") is not None
    # AND literal routes are tried before parameterised ones
    assert [r.path for r, _ in tpl.routes()][-1] == "/items/{item_id}"


def test_a_route_declared_twice_is_refused(tmp_path: Path) -> None:
    # GIVEN a template where two functions claim GET /health
    text = FIXTURE.read_text().replace("Path: /items }", "Path: /health }")
    bad = tmp_path / "template.yaml"
    bad.write_text(text.replace("Method: POST, Path: /health", "Method: GET, Path: /health"))
    # WHEN it is read THEN the error names the route and both functions
    with pytest.raises(TemplateError, match=r"GET /health .*WebFunction"):
        read_template(bad)


def test_an_event_type_the_runtime_cannot_run_is_named(tmp_path: Path) -> None:
    # GIVEN a function with a Kinesis source
    text = FIXTURE.read_text().replace("Type: SQS", "Type: Kinesis")
    bad = tmp_path / "template.yaml"
    bad.write_text(text)
    # WHEN read THEN the error says which function and event
    with pytest.raises(TemplateError, match=r"WorkerFunction\.Events\.Work: .*Kinesis"):
        read_template(bad)
