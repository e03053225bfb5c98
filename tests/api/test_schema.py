"""The OpenAPI schema: every API route in it and no page, and schemathesis against it.

Schemathesis loads the schema from the served app (with the API token), generates requests for
every operation under /api/ (25 examples each, derandomized, so a run is repeatable) and checks
each response: no server error, a status code, content type and body the schema documents.
"""

from __future__ import annotations

import hashlib
from typing import Any

import hypothesis
import requests
import schemathesis
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from monitor.web.app import routers as app_routers
from tests.api.conftest import AUTH, PNG, Api

PNG_SHA = hashlib.sha256(PNG).hexdigest()
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Examples per operation (half on real names and ids where the path has them): with ~20
#: operations, the run takes tens of seconds per database on a busy 2-core machine.
MAX_EXAMPLES = 20
#: Routes of the web foundation (not pages, not the API) in the schema: what monitoring tools
#: call. The login form's routes are not.
FOUNDATION = {"/healthz", "/metrics"}


def app_routes() -> dict[str, set[str]]:
    """Every route of every router of the app (path → methods), in the schema or not."""
    found: dict[str, set[str]] = {}
    for router in app_routers():
        for route in router.routes:
            if isinstance(route, APIRoute):
                found.setdefault(route.path, set()).update(m.lower() for m in route.methods)
    return found


def test_schema_holds_every_api_route_with_its_models(api: Api) -> None:
    schema = api.get("/api/openapi.json")
    paths: dict[str, dict[str, Any]] = schema["paths"]
    routes = app_routes()
    mine = {p for p in routes if p.startswith("/api/")}
    assert {p for p in paths if p.startswith("/api/")} == mine
    assert len(mine) >= 20
    for path in mine:
        assert set(paths[path]) == routes[path], path
    pages = set(routes) - mine - FOUNDATION
    assert pages and not pages & set(paths)  # no page (HTML) route is in the schema
    assert set(paths) - mine <= FOUNDATION
    models = schema["components"]["schemas"]
    for path in mine:
        for method, operation in paths[path].items():
            ok = operation["responses"]["200"]
            assert "401" in operation["responses"], (method, path)
            if "{" in path:
                assert "404" in operation["responses"], (method, path)
            content = ok["content"]
            if "application/json" in content:
                ref = content["application/json"]["schema"]
                assert ref.get("$ref") or ref.get("items", {}).get("$ref"), (method, path)
            if method == "post":
                body = operation["requestBody"]["content"]["application/json"]["schema"]
                assert body["$ref"].rsplit("/", 1)[1] in models
    day = models["DayDiff"]["properties"]
    assert "from" in day and "from_state" not in day  # the names the JSON has
    assert models["Entry"]["properties"]["path"]["description"]
    with api.client() as anonymous:
        assert anonymous.get("/api/openapi.json").status_code == 401


def test_schemathesis_finds_nothing(api: Api) -> None:
    base = api.live.url.rstrip("/")
    schema = schemathesis.openapi.from_url(f"{base}/api/openapi.json", headers=AUTH)
    schema = schema.include(path_regex=r"^/api/")
    failures: list[str] = []
    operations = 0
    session = requests.Session()  # one connection, kept alive
    real = {"name": "drop", "day": "2026-11-21", "batch_id": 2, "capture_id": 1, "sha256": PNG_SHA}
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        known = {k: v for k, v in real.items() if "{" + k + "}" in operation.path}
        cases = operation.as_strategy()
        if known:  # half the cases on data that exists (random names and ids are mostly 404)
            cases = st.one_of(cases, operation.as_strategy(path_parameters=known))

        @hypothesis.settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
        )
        @hypothesis.given(case=cases)
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=base, session=session, headers=AUTH, checks=CHECKS)

        try:
            check()
        except Exception as exc:  # every operation's failure, reported together
            failures.append(f"{operation.label}: {exc}")
    session.close()
    assert operations >= 20
    assert not failures, "\n\n".join(failures)
