"""Property-based robustness: no request, however malformed, may produce a 500.

Every create and update endpoint gets, with Hypothesis:

* arbitrary JSON values (huge integers, NUL, lone surrogates sent as `\\uXXXX` escapes,
  emoji, nested lists and objects);
* valid seed bodies with fields (nested `googleCalendar`, `googleUser`, `workingHours`
  included) replaced, tweaked, nulled or removed, and unknown keys added;
* raw bytes: invalid UTF-8, truncated JSON, `NaN`/`1e400` literals, odd content types;
* valid bodies that reference random UUIDs, or ids of another institution.

The list endpoints get random query strings, and two endpoints random `Authorization`
headers. Every answer must be below 500, and every 4xx must be problem+json whose `status`
is the HTTP status. After every successful write, what was stored must fit its `String(n)`
column and hold no NUL: SQLite takes both where PostgreSQL refuses the row, so this finds
on SQLite the 500s that only PostgreSQL would give.

`AGENTCAL_FUZZ_EXAMPLES=2000` runs a long hunt; the default keeps the file fast.
"""

from __future__ import annotations

import copy
import json
import os
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import LargeBinary, String, cast, false, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from agentcal.db.engine import Base
from tests.factories import (
    GOOGLE_REFRESH_TOKEN,
    Tenant,
    calcom_body,
    calcom_update_body,
    google_function_body,
)
from tests.server_errors import watch_server_errors

_no_server_errors = pytest.fixture(autouse=True)(watch_server_errors)

EXAMPLES = int(os.environ.get("AGENTCAL_FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
JSON_TYPE = "application/json"


# --- how bodies are written ------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A JSON token written as it is: `NaN`, `1e400`, a 5000-digit number, …"""

    text: str


def dump(value: Any) -> str:
    """JSON text of `value`; strings escape non-ASCII, so lone surrogates go as `\\udXXX`."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{dump(str(k))}:{dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(value)


@dataclass(frozen=True)
class Body:
    content: bytes
    content_type: str | None = JSON_TYPE

    def __repr__(self) -> str:  # what a failing example shows
        return f"Body({self.content[:2000]!r}, {self.content_type!r})"


def json_body(value: Any) -> Body:
    return Body(dump(value).encode())


async def send(world: World, method: str, url: str, body: Body | None) -> None:
    headers = {}
    if body is not None and body.content_type is not None:
        headers["content-type"] = body.content_type
    response = await world.tenant.api.request(
        method, url, content=None if body is None else body.content, headers=headers
    )
    event(f"{method} {response.status_code}")
    check(response)
    if method != "GET" and response.is_success:
        await assert_storable(world.tenant.app.state.engine)


async def assert_storable(engine: AsyncEngine) -> None:
    """What SQLite stored, PostgreSQL would have stored too: text fits its `String(n)`
    column and holds no NUL. SQLite checks neither where PostgreSQL refuses the row (a
    500), so on SQLite this is the only way to see such a bug."""
    if engine.dialect.name != "sqlite":
        return  # PostgreSQL checks for itself
    problems = []
    async with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if not isinstance(column.type, String):
                    continue
                width = column.type.length if type(column.type) is String else None
                too_long = func.length(column) > width if width else false()
                has_nul = func.instr(cast(column, LargeBinary), literal(b"\x00")) > 0
                for what, bad in ((f"is longer than {width}", too_long), ("holds NUL", has_nul)):
                    ids = list(await conn.scalars(select(table.c.id).where(bad)))
                    if not ids:
                        continue
                    problems.append(f"{table.name}.{column.name} {what}")
                    # Overwrite it, so that only the example that stored it fails.
                    await conn.execute(
                        update(table)
                        .where(table.c.id.in_(ids))
                        .values({column.name: func.substr(func.hex(table.c.id), 1, 16)})
                    )
    assert not problems, f"stored what PostgreSQL would refuse: {problems}"


def check(response: httpx.Response) -> None:
    request = response.request
    where = f"{request.method} {request.url}"
    assert response.status_code < 500, f"{where} → {response.status_code}: {response.text[:2000]}"
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json"), where
        assert response.json()["status"] == response.status_code, where
    elif 200 <= response.status_code < 300 and response.status_code != 204:
        response.json()


# --- strategies -----------------------------------------------------------------------

ANY_CHAR = st.characters(codec=None, categories=None, exclude_categories=())
SPECIAL_STRINGS = [
    "",
    " ",
    "\t\n ",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff",
    "x\udc80y",
    "\U0001f600\U0001f4c5",
    "\u200b",
    "\ufeff",
    "İstanbul",
    "ß",
    "null",
    "true",
    "0",
    "-1",
    "1e400",
    "NaN",
    "'; DROP TABLE bots; --",
    "%s%n",
    "{{attendeeName}}",
    "../../etc/passwd",
    "UTC",
    "utc",
    "America/Sao_Paulo ",
    "Etc/GMT+14",
    "localtime",
    "posixrules",
    "24:00",
    "23:60",
    "00:00",
    "9:00",
    "ya29.",
    "ya29.\x00",
    "1//",
    "1// x",
    "cal_",
    "https://",
    "http://\x00",
    "https://discord.com/api/webhooks/1/x",
    "123456:AAAAAAAAAAAAAAAAAAAAAAAA:-100123",
    "google-calendar",
    "Google-Calendar",
    "webhook",
    "json",
    "mon",
    "a@b.c",
    "İ" * 130 + "@a.b",
    "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "{3fa85f64-5717-4562-b3fc-2c963f66afa6}",
    "urn:uuid:3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "3fa85f6457174562b3fc2c963f66afa6",
    "00000000-0000-0000-0000-000000000000",
]
LENGTHS = [32, 33, 64, 65, 100, 101, 119, 120, 121, 254, 255, 256, 2048, 2049, 4096, 4097, 20001]
BOUNDARY_INTS = [
    0,
    -1,
    1,
    4,
    5,
    480,
    481,
    2**31 - 1,
    2**31,
    -(2**31) - 1,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63) - 1,
    10**100,
    -(10**100),
]
RAW_TOKENS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "1e-400",
    "-0",
    "1.0",
    "1E2",
    "9" * 5000,
    "[" * 3000 + "]" * 3000,
    '"\\ud800"',
    '"\\udc00\\ud800"',
    '"\\u0000"',
]

texts = st.one_of(
    st.text(ANY_CHAR, max_size=40),
    st.sampled_from(SPECIAL_STRINGS),
    st.builds(
        lambda c, n: c * n, st.sampled_from(["x", "İ", "\U0001f600", " "]), st.sampled_from(LENGTHS)
    ),
)
short_texts = st.text(ANY_CHAR, max_size=20) | st.sampled_from(SPECIAL_STRINGS)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(BOUNDARY_INTS),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=12,
)

# Field names of every request schema, their snake_case twins, and near misses.
KNOWN_KEYS = [
    "title",
    "unitId",
    "unityId",
    "apiKey",
    "calcomUsername",
    "timezone",
    "prompt",
    "checkAvailabilityEnabled",
    "createBookingEnabled",
    "botId",
    "isActive",
    "defaultEventTypeId",
    "defaultEventTypeSlug",
    "name",
    "description",
    "iconFileId",
    "outputs",
    "googleCalendar",
    "type",
    "userId",
    "color",
    "isActivated",
    "googleId",
    "calendarId",
    "googleUser",
    "googleToken",
    "googleRefreshToken",
    "notificationType",
    "notificationContentType",
    "notificationContent",
    "notificationDelayMs",
    "notificationWaitForSpeech",
    "notificationTarget",
    "workingHours",
    "slotMinutes",
    "minNoticeMinutes",
    "bufferMinutes",
    "horizonDays",
    "createMeetLink",
    "busyCalendarIds",
    "days",
    "start",
    "end",
    "id",
    "email",
    "verified_email",
    "verifiedEmail",
    "given_name",
    "givenName",
    "family_name",
    "picture",
    "hd",
    "role",
    "expiresInDays",
    "unit_id",
    "api_key",
    "user_id",
    "unity_id",
    "google_calendar",
    "google_user",
    "expires_in_days",
    "__proto__",
    "",
]
extra_keys = st.sampled_from(KNOWN_KEYS) | texts


def near(value: Any) -> st.SearchStrategy[Any]:
    """Values close to a valid `value`: the kind of mistake a real client makes."""
    options: list[st.SearchStrategy[Any]] = [
        st.just(None),
        st.builds(Raw, st.sampled_from(RAW_TOKENS)),
    ]
    if isinstance(value, bool):
        options += [st.sampled_from([0, 1, "true", "false", "yes", [True], {"value": True}])]
    elif isinstance(value, int):
        options += [
            st.sampled_from(BOUNDARY_INTS),
            st.just(str(value)),
            st.just(float(value)),
            st.just(value + 0.5),
            st.just(True),
        ]
    elif isinstance(value, str):
        options += [
            texts,
            st.builds(lambda t: value + t, texts),
            st.builds(lambda t: t + value, texts),
            st.builds(lambda t, i: value[:i] + t + value[i:], texts, st.integers(0, len(value))),
            st.builds(lambda n: value[: n % (len(value) + 1)], st.integers(0, 100)),
            st.just(f"  {value}  "),
            st.just(value.upper()),
            st.just([value]),
            st.builds(lambda n: (value or "x") * n, st.sampled_from([2, 10, 100, 1000])),
        ]
    elif isinstance(value, list):
        options += [st.just([]), st.just(value * 30), st.just({"0": value})]
    elif isinstance(value, dict):
        options += [st.just({}), st.just([value]), st.just(dump(value))]
    return st.one_of(*options)


# Fields that take any text: a benign variant may put any printable Unicode in them.
FREE_TEXT = {"title", "prompt", "name", "description", "notificationContent", "family_name"}
printable = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1
)


def benign(value: Any, key: Any) -> st.SearchStrategy[Any]:
    """Values a valid `value` could be replaced with and, most of the time, stay valid."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(max(1, value // 2), max(1, value * 2))
    if isinstance(value, str):
        padded = st.sampled_from([value, f" {value}", f"{value}\t\n", value.upper()])
        # 'İ' lowercases to two characters: a value that fits may not fit once normalised.
        padded |= st.sampled_from([1, 60, 130]).map(lambda n: "İ" * n + value)
        if key in FREE_TEXT:
            return padded | printable | printable.map(lambda t: value + t)
        return padded
    if isinstance(value, list) and value:
        return st.lists(st.sampled_from(value), min_size=1, max_size=len(value), unique_by=id)
    return st.just(value)


Path = tuple[Any, ...]


def node_paths(value: Any, prefix: Path = ()) -> list[Path]:
    """Every node below the root, as a path of keys and indexes."""
    children: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    paths: list[Path] = []
    for key, child in children:
        paths.append((*prefix, key))
        paths.extend(node_paths(child, (*prefix, key)))
    return paths


def container_paths(value: Any) -> list[Path]:
    return [()] + [p for p in node_paths(value) if isinstance(lookup(value, p), dict | list)]


def lookup(value: Any, path: Path) -> Any:
    for key in path:
        value = value[key]
    return value


@st.composite
def mutated(draw: st.DrawFn, seed: dict[str, Any]) -> Body:
    """`seed` with one to four fields replaced, tweaked, removed, or keys added."""
    body = copy.deepcopy(seed)
    # Mostly one change, so that the rest of the body stays valid and reaches the database.
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 2, 3, 4]))):
        op = draw(st.sampled_from(["near", "near", "replace", "delete", "add"]))
        if op == "add":
            path = draw(st.sampled_from(container_paths(body)))
            parent = lookup(body, path)
            if isinstance(parent, dict):
                parent[draw(extra_keys)] = draw(json_values)
            else:
                parent.append(draw(json_values))
            continue
        paths = node_paths(body)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = lookup(body, path[:-1]), path[-1]
        if op == "delete":
            del parent[key]
        elif op == "near":
            parent[key] = draw(near(parent[key]))
        else:
            parent[key] = draw(json_values)
    return json_body(body)


@st.composite
def benign_variant(draw: st.DrawFn, seed: dict[str, Any]) -> Body:
    """`seed` with some leaves changed in ways that usually stay valid: reaches the database."""
    body = copy.deepcopy(seed)
    paths = node_paths(body)
    if not paths:
        return json_body(body)
    for path in draw(st.lists(st.sampled_from(paths), unique=True, max_size=len(paths))):
        try:
            parent, key = lookup(body, path[:-1]), path[-1]
            parent[key] = draw(benign(parent[key], key))
        except (KeyError, IndexError, TypeError):
            continue  # an ancestor was replaced already
    return json_body(body)


@st.composite
def raw_bodies(draw: st.DrawFn, seed: dict[str, Any]) -> Body:
    """Bytes that are not (quite) JSON, or JSON under a content type that says otherwise."""
    text = dump(seed)
    encoded = text.encode()
    kind = draw(st.sampled_from(["binary", "truncated", "bad-utf8", "encoding", "token", "type"]))
    if kind == "binary":
        content = draw(st.binary(max_size=200))
    elif kind == "truncated":
        content = encoded[: draw(st.integers(0, len(encoded) - 1))]
    elif kind == "bad-utf8":
        at = draw(st.integers(0, len(encoded)))
        junk = draw(
            st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00"])
        )
        content = encoded[:at] + junk + encoded[at:]
    elif kind == "encoding":
        codec = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32", "utf-8-sig", "latin-1"]))
        content = text.replace("Ana", "Anã").encode(codec)
    elif kind == "token":
        content = draw(st.sampled_from(RAW_TOKENS)).encode()
    else:
        content = encoded
    content_type = draw(
        st.sampled_from(
            [
                JSON_TYPE,
                JSON_TYPE,
                None,
                "application/json; charset=latin-1",
                "application/problem+json",
                "text/plain",
                "application/x-www-form-urlencoded",
                "multipart/form-data",
                "application/json; boundary",
                ";;;",
            ]
        )
    )
    return Body(content, content_type)


def bodies(seeds: list[dict[str, Any]], ref_fields: dict[str, st.SearchStrategy[str]]) -> Any:
    """The four body families, around `seeds`; `ref_fields` are the id fields to vary."""
    seed = st.sampled_from(seeds)
    return st.one_of(
        json_values.map(json_body),
        seed.flatmap(mutated),
        seed.flatmap(mutated),
        seed.flatmap(raw_bodies),
        seed.flatmap(benign_variant),
        seed.flatmap(lambda s: referencing(s, ref_fields)),
    )


@st.composite
def referencing(
    draw: st.DrawFn, seed: dict[str, Any], ref_fields: dict[str, st.SearchStrategy[str]]
) -> Body:
    """A valid body whose id fields point at random UUIDs or at another tenant's objects."""
    body = copy.deepcopy(seed)
    for name in draw(st.lists(st.sampled_from(sorted(ref_fields)), min_size=1, unique=True)):
        body[name] = draw(ref_fields[name])
    return json_body(body)


# --- the world the fuzzer runs against ----------------------------------------------


@dataclass
class World:
    tenant: Tenant
    unit: str
    unit2: str
    bot: str
    bot2: str
    integration: str
    function: str
    other_unit: str
    other_user: str
    other_bot: str
    other_integration: str
    other_function: str

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text("World(...)")  # Hypothesis prints fixtures of a failing example

    def ids(self) -> st.SearchStrategy[str]:
        """Ids to put in a reference: ours, the other tenant's, random, malformed."""
        known = [
            self.unit,
            self.unit2,
            self.tenant.user_id,
            self.bot,
            self.bot2,
            self.integration,
            self.function,
            self.other_unit,
            self.other_user,
            self.other_bot,
            self.other_integration,
            self.other_function,
        ]
        return st.one_of(
            st.sampled_from(known),
            st.sampled_from(known).map(str.upper),
            st.sampled_from(known).map(lambda i: uuid.UUID(i).hex),
            st.uuids().map(str),
            st.sampled_from(SPECIAL_STRINGS[-5:]),
        )

    def path_ids(self, own: str, other: str) -> st.SearchStrategy[str]:
        """A path segment for `{id}`: mostly our object, so the body is what is tested."""
        return st.one_of(
            *[st.just(own)] * 5,
            st.just(other),
            st.uuids().map(str),
            short_texts.filter(bool).map(
                lambda t: urllib.parse.quote(t.encode("utf-8", "surrogatepass"), safe="")
            ),
        )


def rich_function(world: World, **overrides: Any) -> dict[str, Any]:
    """The seed body with every extension set, so every nested field can be mutated."""
    calendar = {
        "googleRefreshToken": GOOGLE_REFRESH_TOKEN,
        "notificationType": "webhook",
        "notificationContentType": "json",
        "notificationTarget": "https://hooks.example.com/agentcal",
        "notificationDelayMs": 1000,
        "notificationWaitForSpeech": 500,
        "workingHours": [
            {"days": ["mon", "tue", "wed"], "start": "09:00", "end": "12:00"},
            {"days": ["thu"], "start": "13:30", "end": "24:00"},
        ],
        "slotMinutes": 45,
        "minNoticeMinutes": 120,
        "bufferMinutes": 10,
        "horizonDays": 30,
        "checkAvailabilityEnabled": True,
        "createBookingEnabled": True,
        "createMeetLink": False,
        "busyCalendarIds": ["team@group.calendar.google.com"],
        **overrides.pop("googleCalendar", {}),
    }
    return google_function_body(
        world.tenant.user_id,
        world.unit,
        googleCalendar=calendar,
        botId=world.bot,
        color="#1a73e8",
        isActivated=True,
        outputs=[{"name": "slots", "type": "list"}, "text"],
        **overrides,
    )


def function_seeds(world: World) -> list[dict[str, Any]]:
    plain = google_function_body(world.tenant.user_id, world.unit)
    update = rich_function(world)
    del update["googleCalendar"]["googleToken"]
    for kept in ("id", "verified_email"):
        del update["googleCalendar"]["googleUser"][kept]
    return [plain, rich_function(world), update]


def calcom_seeds(world: World, update: bool) -> list[dict[str, Any]]:
    extensions = {
        "botId": world.bot,
        "defaultEventTypeId": 123456,
        "defaultEventTypeSlug": "consulta-30min",
    }
    if not update:
        return [calcom_body(world.unit), calcom_body(world.unit, **extensions)]
    return [
        calcom_update_body(world.unit),
        calcom_update_body(world.unit, **extensions, isActive=False, apiKey="cal_live_rotated1"),
    ]


async def created(api: httpx.AsyncClient, url: str, body: dict[str, Any]) -> str:
    response = await api.post(url, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def populate(tenant: Tenant, unit2_name: str) -> tuple[str, str, str, str, str]:
    """A second unit, a bot in each unit, an integration and a function."""
    api = tenant.api
    unit2 = await created(api, "/api/v1/units", {"name": unit2_name})
    bot = await created(api, "/api/v1/bots", {"name": "Reception", "unitId": tenant.unit_id})
    bot2 = await created(api, "/api/v1/bots", {"name": "Helpdesk", "unitId": unit2})
    integration = await created(
        api, "/api/v1/calcom/integration", calcom_body(tenant.unit_id, botId=bot)
    )
    function = await created(
        api,
        "/api/v1/functions/",
        google_function_body(tenant.user_id, tenant.unit_id, botId=bot),
    )
    # Second ones, so that `?limit=1` has a next page and answers with a `Link` header.
    await created(api, "/api/v1/calcom/integration", calcom_body(tenant.unit_id))
    await created(api, "/api/v1/functions/", google_function_body(tenant.user_id, unit2))
    return unit2, bot, bot2, integration, function


@pytest.fixture
async def world(tenant: Tenant, other_tenant: Tenant) -> World:
    unit2, bot, bot2, integration, function = await populate(tenant, "Second unit")
    _, other_bot, _, other_integration, other_function = await populate(other_tenant, "Other")
    return World(
        tenant=tenant,
        unit=tenant.unit_id,
        unit2=unit2,
        bot=bot,
        bot2=bot2,
        integration=integration,
        function=function,
        other_unit=other_tenant.unit_id,
        other_user=other_tenant.user_id,
        other_bot=other_bot,
        other_integration=other_integration,
        other_function=other_function,
    )


# --- the properties -------------------------------------------------------------------


@FUZZ
@given(data=st.data())
async def test_calcom_create_never_500s(world: World, data: st.DataObject) -> None:
    refs = {"unitId": world.ids(), "botId": world.ids()}
    body = data.draw(bodies(calcom_seeds(world, update=False), refs), label="body")
    await send(world, "POST", "/api/v1/calcom/integration", body)


@FUZZ
@given(data=st.data())
async def test_calcom_update_never_500s(world: World, data: st.DataObject) -> None:
    refs = {"unitId": world.ids(), "botId": world.ids()}
    target = data.draw(world.path_ids(world.integration, world.other_integration), label="id")
    body = data.draw(bodies(calcom_seeds(world, update=True), refs), label="body")
    await send(world, "PUT", f"/api/v1/calcom/integration/{target}", body)


@FUZZ
@given(data=st.data())
async def test_function_create_never_500s(world: World, data: st.DataObject) -> None:
    ids = world.ids()
    refs = {"unityId": ids, "userId": ids, "botId": ids, "iconFileId": ids}
    url = data.draw(st.sampled_from(["/api/v1/functions/", "/api/v1/functions"]), label="url")
    body = data.draw(bodies(function_seeds(world), refs), label="body")
    await send(world, "POST", url, body)


@FUZZ
@given(data=st.data())
async def test_function_update_never_500s(world: World, data: st.DataObject) -> None:
    ids = world.ids()
    refs = {"unityId": ids, "userId": ids, "botId": ids, "iconFileId": ids}
    target = data.draw(world.path_ids(world.function, world.other_function), label="id")
    body = data.draw(bodies(function_seeds(world), refs), label="body")
    await send(world, "PUT", f"/api/v1/functions/{target}", body)


@settings(FUZZ, max_examples=max(1, EXAMPLES // 2))
@given(data=st.data())
async def test_function_duplicate_never_500s(world: World, data: st.DataObject) -> None:
    target = data.draw(world.path_ids(world.function, world.other_function), label="id")
    body = data.draw(st.none() | json_values.map(json_body) | raw_bodies({}), label="body")
    await send(world, "POST", f"/api/v1/functions/duplicate/{target}", body)


@FUZZ
@given(data=st.data())
async def test_bot_create_and_update_never_500(world: World, data: st.DataObject) -> None:
    refs = {"unitId": world.ids()}
    seeds = [
        {"name": "Front desk", "unitId": world.unit},
        {"name": "Night shift", "unitId": world.unit2, "description": "Answers after hours."},
    ]
    body = data.draw(bodies(seeds, refs), label="body")
    if data.draw(st.booleans(), label="update"):
        target = data.draw(
            world.path_ids(data.draw(st.sampled_from([world.bot, world.bot2])), world.other_bot),
            label="id",
        )
        await send(world, "PUT", f"/api/v1/bots/{target}", body)
    else:
        await send(world, "POST", "/api/v1/bots", body)


@FUZZ
@given(data=st.data())
async def test_tenancy_creates_never_500(world: World, data: st.DataObject) -> None:
    ids = world.ids()
    endpoint = data.draw(st.sampled_from(["units", "users", "access-tokens"]), label="endpoint")
    seeds: list[dict[str, Any]] = {
        "units": [{"name": "Billing"}],
        "users": [
            {"email": "new.person@acme.test"},
            {"email": "Ops.Lead@Acme.test", "name": "Ops Lead", "role": "admin"},
        ],
        "access-tokens": [
            {},
            {"name": "ci", "expiresInDays": 30},
            {"name": "for someone", "expiresInDays": 3650, "userId": world.tenant.user_id},
        ],
    }[endpoint]
    body = data.draw(bodies(seeds, {"userId": ids}), label="body")
    await send(world, "POST", f"/api/v1/{endpoint}", body)


def query_values(world: World) -> st.SearchStrategy[str]:
    """Percent-encoded query values, including bytes that are not UTF-8."""
    plain = st.one_of(
        st.sampled_from(BOUNDARY_INTS).map(str),
        st.integers().map(str),
        st.sampled_from(["", "1", "200", "201", "0", "1.5", "1e3", "google-calendar", " 1 "]),
        world.ids(),
        short_texts,
    ).map(lambda t: urllib.parse.quote(t.encode("utf-8", "surrogatepass"), safe=""))
    raw = st.binary(max_size=12).map(lambda b: urllib.parse.quote_from_bytes(b, safe=""))
    return plain | raw | st.sampled_from(["%", "%zz", "%ff%fe", "+", "%00", "a=b"])


@FUZZ
@given(data=st.data())
async def test_list_queries_never_500(world: World, data: st.DataObject) -> None:
    path = data.draw(
        st.sampled_from(
            [
                "/api/v1/functions/",
                "/api/v1/functions",
                f"/api/v1/calcom/integration/unit/{world.unit}",
                f"/api/v1/calcom/integration/unit/{world.other_unit}",
                "/api/v1/bots",
            ]
        ),
        label="path",
    )
    keys = st.sampled_from(["page", "limit", "unityId", "unitId", "type"]) | st.text(max_size=5)
    pairs = data.draw(st.lists(st.tuples(keys, query_values(world)), max_size=5), label="query")
    query = "&".join(f"{urllib.parse.quote(k, safe='')}={v}" for k, v in pairs)
    await send(world, "GET", f"{path}?{query}", None)


authorization_values = st.one_of(
    st.binary(max_size=80),
    st.binary(max_size=80).map(lambda b: b"Bearer " + b),
    short_texts.map(lambda t: b"Bearer " + t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"Bearer", b"Bearer ", b"bearer  x y", b"Basic dXNlcjpwYXNz", b"Bearer \xff"]),
)


@settings(FUZZ, max_examples=max(1, EXAMPLES // 2))
@given(data=st.data())
async def test_authorization_header_never_500s(world: World, data: st.DataObject) -> None:
    header = data.draw(authorization_values, label="authorization")
    token = world.tenant.token.encode()
    api = world.tenant.api
    for method, url in (("GET", "/api/v1/users/me"), ("POST", "/api/v1/bots")):
        response = await api.request(method, url, headers={"authorization": header}, json={})
        event(f"{method} {response.status_code}")
        check(response)
        if token not in header:
            assert response.status_code == 401, response.text


# --- regressions found by the fuzzer --------------------------------------------------


async def test_an_email_lowercasing_lengthens_past_its_column_is_a_422(tenant: Tenant) -> None:
    # 'İ'.lower() is two characters: 134 sent, 264 to store in the String(254) column,
    # which PostgreSQL refuses (a 500) and SQLite silently accepts.
    response = await tenant.api.post("/api/v1/users", json={"email": "İ" * 130 + "@a.b"})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "email"
    check(response)
