"""Watch for 5xx answers: the API must never answer a request with a server error.

The observability middleware counts every response by status, including the 500 that
an unhandled exception becomes, so the counter sees what a test's assertions might not.
Test modules opt in with::

    _no_server_errors = pytest.fixture(autouse=True)(watch_server_errors)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentcal.observability import REQUESTS

# Every watched test's node id → how many 5xx answers were sent while it ran.
WATCHED: dict[str, int] = {}


def server_errors() -> int:
    """How many 5xx answers this process has sent so far."""
    total = 0.0
    for metric in REQUESTS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.labels["status"].startswith("5"):
                total += sample.value
    return int(total)


def watch_server_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    before = server_errors()
    yield
    produced = server_errors() - before
    WATCHED[request.node.nodeid] = produced
    assert produced == 0, f"{produced} request(s) of this test were answered with a 5xx"
