"""The API against its own OpenAPI document, with schemathesis: every operation, every phase.

An app serves the API on a loopback socket (its own thread and event loop, as in
production). Each operation gets a tenant with a real access token and real objects for
its path to name: the unit, the admin, a bot, a Cal.com integration on the sandbox's
demo user, a Google Calendar function on a sandbox account (the deleting operations get
objects of their own). Schemathesis generates requests from the document: its explicit
examples, the coverage phase's boundary and invalid values of every parameter and field,
random fuzzing, then sequences that follow the links it infers between operations. It
checks every answer:

* never a 5xx (`not_a_server_error`);
* a status, a content type, headers and a body that the document declares for it
  (`status_code_conformance`, `content_type_conformance`, `response_headers_conformance`,
  `response_schema_conformance`);
* what the document calls invalid is refused, what it calls valid is not refused as
  invalid (`negative_data_rejection`, `positive_data_acceptance`);
* no token is a 401 (`ignored_auth`, `missing_required_header`); a method the path does
  not take is a 405 that names the ones it does (`unsupported_method`);
* a deleted object is gone, a created one is there (`use_after_free`,
  `ensure_resource_availability`, in sequences).

The module ends by writing its figures (requests, answers >= 500, answers that break the
document) to the terminal. `AGENTCAL_SCHEMATHESIS_EXAMPLES` (fuzzed requests per
operation, and sequences) makes a longer run; the default, 10, keeps the module within
a minute and a half on SQLite and PostgreSQL (some 8,000 requests).

`schemathesis.pytest.from_fixture` would let the schema come from a fixture, but it sets
`Node._nodeid`, which pytest 9.2 no longer has; the document is read from an app made at
import instead (making it needs no database), and the live parts (the server's URL, the
token, the ids) reach the cases at run time.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis import Case
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentcal.app import create_app
from agentcal.crypto.keyring import Keyring
from agentcal.sandbox.calcom import DEMO_API_KEY, DEMO_USERNAME
from agentcal.settings import Settings
from tests.conftest import SandboxServer
from tests.factories import Tenant, add_member
from tests.providers.calcom.support import link_calcom
from tests.providers.google_calendar.functions_support import (
    link_google_function,
    make_bot,
)
from tests.servers import serve_in_thread

EXAMPLES = int(os.environ.get("AGENTCAL_SCHEMATHESIS_EXAMPLES", "10"))

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {
            "max-examples": EXAMPLES,
            "mode": "all",
            "deterministic": True,
            # Text is never NUL nor an unpaired surrogate, which no database stores as
            # text: a rule the document states once, in its description, not on each field.
            "allow-x00": False,
            "codec": "utf-8",
        },
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": True, "max-steps": 6},
        },
        # Every check schemathesis has (see the module's docstring for what they assert).
        "checks": {"enabled": True},
        "operations": [
            {
                # An `Idempotency-Key` keys one call: with several in the body it is a 422.
                # No JSON Schema can tie a header to the length of the body's list, so
                # that 422 is one of the two refusals of valid-looking data accepted here.
                "include-name": "POST /api/v1/bots/{botId}/tool-calls",
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "401", "404", "409", "422", "429"]
                    }
                },
            },
            {
                # The other: a voice format exports for one of the bot's channels of that
                # platform, which the bot may not have (`channelId` is a 422), and
                # `channelId` goes with the voice formats only. Neither rule ties a query
                # parameter to the database, or to another parameter, in JSON Schema.
                "include-name": "GET /api/v1/bots/{botId}/tools",
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "401", "404", "422", "429"]
                    }
                },
            },
        ],
        "output": {"sanitization": {"enabled": False}},  # the tokens are the test's own
    }
)


def _document() -> dict[str, Any]:
    """The document as the app serves it; making it touches no database."""
    return create_app(Settings(log_level="WARNING")).openapi()


SCHEMA = schemathesis.openapi.from_dict(_document(), config=CONFIG)


@dataclass
class Live:
    """What the cases need at run time: where the API is, and whose token to send."""

    url: str = ""
    token: str = ""


LIVE = Live()
# The coverage phase makes its cases when pytest collects them, before there is a token:
# they carry this one, which the test replaces with the live token before sending.
LATER = "the-live-token"


@SCHEMA.auth(refresh_interval=None)  # a new tenant, hence a new token, for each test
class _Bearer:
    def get(self, case: Case, context: schemathesis.AuthContext) -> str:
        return LIVE.token or LATER

    def set(self, case: Case, data: str, context: schemathesis.AuthContext) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def _live_token(case: Case, live: Live) -> None:
    if (case.headers or {}).get("Authorization") == f"Bearer {LATER}":
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {live.token}"}


def _channel_secret(case: Case, live: Live, objects: Objects) -> None:
    """A voice hook authenticates with its channel's secret, not an access token."""
    secret = objects.secret_for(case.operation.path)
    if secret and (case.headers or {}).get("Authorization") == f"Bearer {live.token}":
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {secret}"}


@dataclass(frozen=True)
class Objects:
    """Real ids, by the object a path parameter names."""

    unit: str
    user: str
    bot: str
    integration: str
    function: str
    # Deleted by the first DELETE that reaches them; later ones find nothing (404).
    doomed_bot: str
    doomed_integration: str
    doomed_function: str
    doomed_token: str
    # Voice channels: the hooks' paths name them, and their secrets open them.
    channel: str
    doomed_channel: str
    hooks: dict[str, tuple[str, str | None]]  # platform → (channel id, secret)

    def in_bodies(self) -> dict[str, str]:
        """The body fields that name an object → the real id they are given."""
        return {"unitId": self.unit, "unityId": self.unit, "userId": self.user, "botId": self.bot}

    def for_operation(self) -> dict[str, dict[str, str]]:
        """Each operation with a path parameter → the real id it is given."""
        by_path = {
            "/api/v1/units/{id}": {"id": self.unit},
            "/api/v1/users/{id}": {"id": self.user},
            "/api/v1/bots/{id}": {"id": self.bot},
            "/api/v1/bots/{botId}/tools": {"botId": self.bot},
            "/api/v1/bots/{botId}/tool-calls": {"botId": self.bot},
            "/api/v1/calcom/integration/unit/{unitId}": {"unitId": self.unit},
            "/api/v1/calcom/integration/{id}": {"id": self.integration},
            "/api/v1/calcom/integration/{id}/event-types": {"id": self.integration},
            "/api/v1/calcom/integration/{id}/tools": {"id": self.integration},
            "/api/v1/calcom/integration/{id}/call": {"id": self.integration},
            "/api/v1/functions/{id}": {"id": self.function},
            "/api/v1/functions/{id}/tools": {"id": self.function},
            "/api/v1/functions/{id}/call": {"id": self.function},
            "/api/v1/functions/duplicate/{id}": {"id": self.function},
            "/api/v1/bots/{botId}/channels": {"botId": self.bot},
            "/api/v1/bots/{botId}/channels/{id}": {"botId": self.bot, "id": self.channel},
            "/hooks/vapi/{channelId}": {"channelId": self.hooks["vapi"][0]},
            "/hooks/retell/{channelId}": {"channelId": self.hooks["retell"][0]},
            "/hooks/elevenlabs/{channelId}/{toolName}": {"channelId": self.hooks["elevenlabs"][0]},
        }
        ids = {f"{m} {p}": v for p, v in by_path.items() for m in ("GET", "POST", "PUT")}
        return ids | {
            "DELETE /api/v1/bots/{id}": {"id": self.doomed_bot},
            "DELETE /api/v1/calcom/integration/{id}": {"id": self.doomed_integration},
            "DELETE /api/v1/functions/{id}": {"id": self.doomed_function},
            "DELETE /api/v1/access-tokens/{id}": {"id": self.doomed_token},
            "DELETE /api/v1/bots/{botId}/channels/{id}": {
                "botId": self.bot,
                "id": self.doomed_channel,
            },
        }

    def secret_for(self, path: str) -> str | None:
        """The channel secret a hook's path takes (Retell's are signed instead)."""
        for platform, (_, secret) in self.hooks.items():
            if path.startswith(f"/hooks/{platform}/"):
                return secret
        return None


async def _google_function(tenant: Tenant, sandbox: SandboxServer, bot_id: str | None) -> str:
    _, function_id = await link_google_function(tenant, sandbox, bot_id)
    return function_id


@pytest.fixture
async def objects(tenant: Tenant, sandbox: SandboxServer) -> Objects:
    bot, integration, _ = await link_calcom(tenant, DEMO_API_KEY, DEMO_USERNAME)
    function = await _google_function(tenant, sandbox, bot)
    _, doomed_integration, _ = await link_calcom(tenant, DEMO_API_KEY, DEMO_USERNAME)
    token = await tenant.api.post("/api/v1/access-tokens", json={"name": "doomed"})
    assert token.status_code == 201, token.text
    await add_member(tenant.app, tenant, "member@acme-clinics.test")  # a second user to list
    hooks = {}
    for platform in ("vapi", "elevenlabs", "retell"):
        body = {"platform": platform, "name": platform}
        if platform == "retell":
            body["signingKey"] = "key_conformance"
        made = await tenant.api.post(f"/api/v1/bots/{bot}/channels", json=body)
        assert made.status_code == 201, made.text
        hooks[platform] = (made.json()["id"], made.json()["secret"])
    doomed_channel = await tenant.api.post(
        f"/api/v1/bots/{bot}/channels", json={"platform": "vapi", "name": "doomed"}
    )
    return Objects(
        unit=tenant.unit_id,
        user=tenant.user_id,
        bot=bot,
        integration=integration,
        function=function,
        doomed_bot=await make_bot(tenant, name="Doomed"),
        doomed_integration=doomed_integration,
        doomed_function=await _google_function(tenant, sandbox, None),
        doomed_token=str(token.json()["id"]),
        channel=hooks["vapi"][0],
        doomed_channel=doomed_channel.json()["id"],
        hooks=hooks,
    )


@dataclass
class Tally:
    """What the module sent and got: every answer of the served app, the checks' own
    requests included; the statuses of each operation's cases; what the checks refused."""

    served: Counter[int] = field(default_factory=Counter)
    answered: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    mismatches: Counter[str] = field(default_factory=Counter)

    def report(self) -> str:
        errors = sum(n for status, n in self.served.items() if status >= 500)
        unanswered = sorted(
            label
            for label, statuses in self.answered.items()
            if not any(200 <= status < 300 for status in statuses)
        )
        return "\n".join(
            [
                f"schemathesis: {self.served.total()} requests, {errors} answered >= 500, "
                f"{self.mismatches.total()} answers that break the document",
                "  by status: " + ", ".join(f"{s}: {n}" for s, n in sorted(self.served.items())),
                f"  {len(self.answered)} operations; never a 2xx: {', '.join(unanswered) or '-'}",
                *(f"  {n} x {what}" for what, n in sorted(self.mismatches.items())),
            ]
        )


TALLY = Tally()


class _Counted:
    """The served app, counting the status of every answer it sends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                TALLY.served[message["status"]] += 1
            await send(message)

        await self.app(scope, receive, counted)


@SCHEMA.hook
def after_validate(
    context: schemathesis.HookContext,
    case: Case,
    response: schemathesis.Response,
    results: list[schemathesis.CheckResult],
) -> None:
    TALLY.answered[case.operation.label][response.status_code] += 1
    for result in results:
        if result.failure is not None:
            TALLY.mismatches[f"{case.operation.label}: {result.name}"] += 1


@pytest.fixture(scope="module")
def served(settings: Settings, keyring: Keyring, pytestconfig: pytest.Config) -> Iterator[str]:
    """The app on a loopback socket; its figures go to the terminal when the module ends."""
    TALLY.served.clear()
    TALLY.answered.clear()
    TALLY.mismatches.clear()
    app = _Counted(create_app(settings, keyring=keyring))
    with serve_in_thread(app, lifespan=True) as url:
        yield url
    capture: Any = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        sys.stdout.write(f"\n{TALLY.report()}\n")


@pytest.fixture
def live(served: str, tenant: Tenant) -> Iterator[Live]:
    LIVE.url, LIVE.token = served, tenant.token
    yield LIVE
    LIVE.url, LIVE.token = "", ""


def _real(generated: object) -> bool:
    """Whether a generated value is to be replaced by a real id: a valid UUID, but one in
    eight is kept, so that unknown ids (404) are tried too. Invalid values are kept:
    they are the point of their case."""
    try:
        return uuid.UUID(str(generated)).int % 8 != 0
    except ValueError:
        return False


def _real_ids(case: Case, objects: Objects) -> None:
    """Real ids in the case's path and body, so that its request gets past the lookups."""
    path = dict(case.path_parameters or {})
    for name, real in objects.for_operation().get(case.operation.label, {}).items():
        if name in path and _real(path[name]):
            path[name] = real
    case.path_parameters = path
    if isinstance(case.body, dict):
        for name, real in objects.in_bodies().items():
            if name in case.body and _real(case.body[name]):
                case.body[name] = real


_HHMM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]|24:00")


def _ordered_working_hours(case: Case) -> None:
    """Working hours that start before they end. That rule compares two fields, which no
    JSON Schema can state; the document says it in words. Times that are not HH:MM
    are kept: they are the point of their case."""
    calendar = case.body.get("googleCalendar") if isinstance(case.body, dict) else None
    hours = calendar.get("workingHours") if isinstance(calendar, dict) else None
    for item in hours if isinstance(hours, list) else []:
        if not isinstance(item, dict):
            continue
        start, end = item.get("start"), item.get("end")
        if isinstance(start, str) and isinstance(end, str):
            if _HHMM.fullmatch(start) and _HHMM.fullmatch(end) and start >= end:
                item["start"], item["end"] = "00:00", "24:00"


@SCHEMA.parametrize()
@hypothesis.settings(deadline=None, suppress_health_check=list(hypothesis.HealthCheck))
def test_every_operation_answers_as_its_document_says(
    case: Case, live: Live, objects: Objects
) -> None:
    _live_token(case, live)
    _channel_secret(case, live, objects)
    _real_ids(case, objects)
    _ordered_working_hours(case)
    response = case.call(base_url=live.url)
    case.validate_response(response)


def test_sequences_of_operations_answer_as_the_document_says(live: Live) -> None:
    # Revoking tokens is left to the test above: a sequence could revoke the one it uses.
    machine = SCHEMA.exclude(name="DELETE /api/v1/access-tokens/{id}").as_state_machine()

    class Sequences(machine):  # type: ignore[misc,valid-type]
        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"base_url": live.url}

    refused = TALLY.mismatches.total()
    try:
        Sequences.run(
            settings=hypothesis.settings(
                max_examples=EXAMPLES,
                stateful_step_count=6,
                deadline=None,
                suppress_health_check=list(hypothesis.HealthCheck),
                derandomize=True,
                database=None,
                # No shrinking: replaying a sequence against a server whose state the
                # first run changed is not the same sequence.
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            )
        )
    except hypothesis.errors.FlakyStrategyDefinition:
        # Hypothesis replays the start of a sequence to explore on from it; against a
        # live server whose state the first run changed, the replay can take another
        # path, and Hypothesis ends the run. As schemathesis's own runner does, that
        # ends the run without failing it: what the checks refused until then still does.
        assert TALLY.mismatches.total() == refused, "a sequence broke the document"
