"""Fuzz the API with schemathesis from its own OpenAPI document: no 5xx, and every 4xx in Lago's error format.

In-process (WSGI) on the test database, with the test organization's key, on a bounded budget: each
operation gets TALLY_FUZZ_EXAMPLES cases that fit the document and as many that do not, generated
deterministically (derandomized) so that a run in CI is the run here. The figures of the run are
printed (`pytest -s`): operations, cases, answers by status.
"""

from __future__ import annotations

import os
from collections import Counter

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

EXAMPLES = int(os.environ.get("TALLY_FUZZ_EXAMPLES", "12"))


@schemathesis.check
def lago_error_format(ctx, response, case) -> None:
    """A 4xx answers `{"status": <its code>, "error": "..."}`, with `code` (and `error_details`) where Lago has them."""
    if not 400 <= response.status_code < 500:
        return
    assert response.headers.get("content-type", [""])[0].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict) and body.get("status") == response.status_code, body
    assert isinstance(body.get("error"), str) and body["error"], body
    if response.status_code in (404, 405, 422):
        assert isinstance(body.get("code"), str) and body["code"], body
    if body.get("code") == "validation_errors":
        details = body.get("error_details")
        assert isinstance(details, dict) and details, body
        assert all(isinstance(reasons, list | dict) for reasons in details.values()), body


def _fuzz(schema, headers: dict[str, str]) -> tuple[Counter, list[str], int]:
    statuses: Counter = Counter()
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def send(case) -> None:
                # The key is always the test organization's (a negative case may have made up another).
                case.headers = {**(case.headers or {}), **headers}
                response = case.call()
                statuses[response.status_code] += 1
                try:
                    case.validate_response(response, checks=[not_a_server_error, lago_error_format])
                except (AssertionError, BaseExceptionGroup) as failed:  # gathered: the run goes on
                    body = response.content[:300] if response.content else b""
                    failures.append(f"{operation.label} ({mode.value}) -> {response.status_code} {body!r}: "
                                    f"{failed}"[:300])

            send()
    return statuses, failures, operations


def test_fuzz_the_api_from_its_openapi_document(app, org):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    statuses, failures, operations = _fuzz(schema, {"Authorization": f"Bearer {org.api_key}"})
    cases = sum(statuses.values())
    print(f"\nfuzz: {operations} operations, {cases} cases, answers {dict(sorted(statuses.items()))}, "
          f"{sum(n for status, n in statuses.items() if status >= 500)} server errors")
    assert operations >= 77 and cases >= operations * 2  # all but the document's own (schemathesis skips it)
    assert failures == [], "\n".join(failures[:40])
