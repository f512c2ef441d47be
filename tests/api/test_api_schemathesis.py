"""Schemathesis (v4, in-process ASGI) over the whole OpenAPI document: no 5xx, every response conforms
to the schema (status, content type, body), and every route that declares auth enforces it.

It runs against a copy of the session's store so that generated writes (reviews, ingests) cannot
disturb other tests; the MLflow registry is shared read-only.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from helpers.service import app_over, copy_store

pytestmark = pytest.mark.slow  # hundreds of generated requests: about 11 s

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    ignored_auth,
]


@pytest.fixture(scope="module")
def fuzz_app(shared_service, tmp_path_factory):
    """A second app over a copy of the session store (same models), with an admin key."""
    url = copy_store(shared_service, tmp_path_factory.mktemp("fuzz") / "perfml.db")
    with app_over(shared_service, url) as (app, _):
        assert app.state.ctx.models.ready, app.state.ctx.models.status()
        yield app


MAX_EXAMPLES = 8  # per operation and generation mode: well under a minute for the whole document here


def test_openapi_contract(fuzz_app, service):
    """Every operation, positive and negative inputs: no 5xx, documented status, content type and body, auth enforced.

    (Operations are driven one by one through `as_strategy`: schemathesis' lazy pytest fixture
    loader does not work with pytest 9.)
    """
    document = fuzz_app.openapi()
    for path, operations in document["paths"].items():  # what `ignored_auth` relies on
        for op in operations.values():
            assert bool(op.get("security")) == path.startswith("/v1/"), path
    assert document["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    headers = service.h("admin")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def check(case):
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                check()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to make invalid (no parameters, no body)
            except Exception as exc:  # collect every operation's failure, then report them all
                failures.append(f"{operation.label} [{mode.value}]: {type(exc).__name__}: {str(exc)[:1500]}")
    assert operations >= 15
    assert not failures, "\n\n".join(failures)
