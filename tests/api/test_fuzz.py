"""Property-based fuzzing of the OpenAPI schema with Schemathesis: no 5xx, schema-valid answers.

The schema is generated from an app built with small limits (so generated bodies stay
small and fast); requests go through a started TestClient app with the same limits on the
small test model.  Examples are bounded (30 per operation, no deadline).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from complaint_triage.api import create_app
from complaint_triage.settings import Settings

from .conftest import API_KEY, sha256

LIMITS = {"max_text_chars": 2000, "max_batch_items": 16, "max_body_bytes": 64 * 1024}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]

# Raw e-mail bodies are bytes: send them as Schemathesis sends application/octet-stream.
schemathesis.serializer.alias("message/rfc822", "application/octet-stream")

# Building the schema needs no model (the model is loaded only when the app starts).
schema = schemathesis.openapi.from_dict(
    create_app(Settings(model_path=None, api_keys_sha256=[sha256(API_KEY)], **LIMITS)).openapi()
)


@pytest.fixture(scope="module")
def fuzz_client(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(**LIMITS)), raise_server_exceptions=False) as c:
        yield c


@schema.parametrize()
@settings(max_examples=30, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
def test_no_server_errors_and_schema_valid_responses(case: schemathesis.Case, fuzz_client: TestClient) -> None:
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers={"Authorization": f"Bearer {API_KEY}"})
    kwargs.pop("timeout", None)
    kwargs.pop("cookies", None)
    if "data" in kwargs:
        kwargs["content"] = kwargs.pop("data")
    response = fuzz_client.request(**kwargs)
    case.validate_response(response, checks=CHECKS)
