"""pytest plugin: a test fails when a request it made broke the providers' specs.

Registered from tests/conftest.py (`pytest_plugins`). The sandbox fixture wraps its app in
`ContractRecorder`, which validates every exchange as it happens; this plugin hands each test
the exchanges made while it ran, fails it for any violation, and prints per-operation counts
at the end of the run. A test that sends malformed requests on purpose says so with
`@pytest.mark.spec_violation_expected` (and then must produce at least one violation).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from tests.contract.recorder import CONTRACT_LOG, Exchange

MARKER = "spec_violation_expected"
_late: list[Exchange] = []  # violations no test could be failed for (session teardown)


def _violating(item: pytest.Item | None, exchanges: list[Exchange]) -> list[Exchange]:
    """The exchanges that count against `item`; those a marked test expected are excused."""
    bad = [e for e in exchanges if e.violations]
    if item is not None and item.get_closest_marker(MARKER):
        for exchange in bad:
            exchange.expected = True
        return []
    return bad


def _report(bad: list[Exchange]) -> str:
    return (
        f"{len(bad)} request(s) to the provider sandboxes broke the official specs "
        "(specs/; mark deliberate ones with @pytest.mark.spec_violation_expected):\n"
        + "\n".join(e.describe() for e in bad)
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Judge the test body's exchanges in the call phase, so a violation is a FAILED test."""
    try:
        result = yield
    except BaseException:
        # The test failed on its own; its exchanges must not be blamed on the next test, but
        # their violations may explain the failure, so they go into its report.
        bad = _violating(item, CONTRACT_LOG.take_unchecked())
        if bad:
            item.add_report_section("call", "provider contract", _report(bad))
        raise
    exchanges = CONTRACT_LOG.take_unchecked()
    marked = item.get_closest_marker(MARKER) is not None
    if marked and not any(e.violations for e in exchanges):
        pytest.fail(
            f"marked {MARKER}, but all {len(exchanges)} provider request(s) met the specs",
            pytrace=False,
        )
    bad = _violating(item, exchanges)
    if bad:
        pytest.fail(_report(bad), pytrace=False)
    return result


@pytest.fixture(autouse=True)
def _provider_contract(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails the test for violations by requests sent while its fixtures set up or tore down.

    (The test body's own requests are judged by `pytest_runtest_call` above.) Being autouse,
    this fixture is torn down after the test's other function-scoped fixtures, so requests
    made in their teardown are in the log by then.
    """
    yield
    bad = _violating(request.node, CONTRACT_LOG.take_unchecked())
    if bad:
        pytest.fail(_report(bad), pytrace=False)


def pytest_sessionfinish(session: pytest.Session) -> None:
    # Requests sent after the last test (session fixtures' teardown) have no test to fail.
    _late.extend(_violating(None, CONTRACT_LOG.take_unchecked()))
    if _late and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    write = terminalreporter.write_line
    table = CONTRACT_LOG.counts()
    if not table and not CONTRACT_LOG.skipped:
        return  # no test talked to a provider sandbox
    terminalreporter.section("provider requests validated against specs/")
    width = max([len(op) for _, op in table] + [len("operation")])
    write(f"{'provider':<12}  {'operation':<{width}}  requests  responses  violations")
    for provider, operation in sorted(table):
        row = table[provider, operation]
        note = str(row["violations"]) + (
            f" (+{row['expected']} expected)" if row["expected"] else ""
        )
        write(
            f"{provider:<12}  {operation:<{width}}  {row['requests']:>8}  {row['responses']:>9}"
            f"  {note:>10}"
        )
    total = sum(row["requests"] for row in table.values())
    write(f"{total} request(s) validated; {CONTRACT_LOG.skipped} carrying X-Sandbox-Fault skipped")
    if _late:
        terminalreporter.write_line(_report(_late), red=True)
