"""The README's walk-through runs as pasted, on any day.

Every ```sh block of the sections in `SECTIONS` runs, in the README's order, in one
`bash` process (`set -euo pipefail`), against `agentcal serve --sandbox` started here on
free ports with a fresh data dir. A block right after `<!-- readme-test: skip (reason)
-->` is left out (starting the server, say): the marker must give its reason. The only
edits made to the blocks: the README's addresses (the API on 127.0.0.1:8000, the
sandboxes on 127.0.0.1:8900) become the test's ports, and `.venv/bin/` the bin directory
of the Python running the tests, so `agentcal` and `python` are the project's own.

Then the outcomes the walk-through teaches are checked, in the blocks' own output and in
what the sandboxes hold: the bookings made, the repeat replayed without booking again,
the same slot refused, a failed call's id replaying its failure.

The walk-through is for the embedded default, so the server always runs on SQLite in
its temporary data dir, also when AGENTCAL_TEST_DATABASE_URL asks for PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from markdown_it import MarkdownIt

from tests.support import free_port, wait_until

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SECTIONS = (
    "Walk-through",
    "Wire an agent: tools and tool calls",
    "Voice agents: Vapi, Retell, ElevenLabs",
    "The CLI",
    "Try the providers with no account: the sandboxes",
    "Notifications: watch a booking arrive",
)
VOICE = "Voice agents: Vapi, Retell, ElevenLabs"
# What the README names that the test replaces: the API, the sandboxes, the venv's bin.
README_API, README_SANDBOX = "http://127.0.0.1:8000", "http://127.0.0.1:8900"
README_VENV = ".venv/bin/"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s*\((?P<reason>[^)]*\S[^)]*)\)\s*-->")
MARK = "@@readme-block"  # printed before each block's output, to split the output up
SAO_PAULO = ZoneInfo("America/Sao_Paulo")  # the sandboxes' demo accounts' timezone
# The shell variables of the walk-through the checks need, printed after the last block.
STATE = """jq -n --arg mon "$MON" --arg booking "$BOOKING" '{$mon, $booking}'"""


@dataclass(frozen=True)
class Block:
    section: str
    line: int  # where its ``` fence is in the README
    source: str
    skip: str | None  # why it does not run, if it does not

    def __str__(self) -> str:
        return f"README.md:{self.line} ({self.section})\n{self.source}"


def shell_blocks(markdown: str) -> list[Block]:
    """The ```sh blocks of `SECTIONS`, in order, each with its skip reason if marked."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    section = ""
    blocks = []
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h2":
            section = tokens[i + 1].content
        elif token.type == "fence" and token.info.strip() == "sh" and section in SECTIONS:
            before = tokens[i - 1] if i else None
            marked = SKIP.search(before.content) if before and before.type == "html_block" else None
            assert token.map is not None
            blocks.append(
                Block(section, token.map[0] + 1, token.content, marked and marked["reason"])
            )
    return blocks


@dataclass(frozen=True)
class Run:
    """What running the blocks gave: each block's output, and the walk-through's state."""

    blocks: list[Block]
    outputs: list[str]
    state: dict[str, str]
    sandbox: str

    def output_of(self, fragment: str) -> str:
        """The output of the one block whose source holds `fragment`."""
        found = [i for i, block in enumerate(self.blocks) if fragment in block.source]
        assert len(found) == 1, f"{len(found)} README blocks hold {fragment!r}; update the test"
        return self.outputs[found[0]]


def script(blocks: list[Block], api: str, sandbox: str, bin_dir: Path) -> str:
    """One bash script: every block, each announced by a mark, then the state."""
    lines = ["set -euo pipefail"]
    for n, block in enumerate(blocks):
        source = block.source.replace(README_API, api).replace(README_SANDBOX, sandbox)
        lines += [f"printf '\\n{MARK} {n}\\n'", source.replace(README_VENV, f"{bin_dir}/")]
    lines += [f"printf '\\n{MARK} state\\n'", STATE]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
async def walk_through(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Run]:
    """Serve `agentcal serve --sandbox`, run the README's blocks against it, and keep the
    server up while the tests look at what the sandboxes hold."""
    for tool in ("bash", "curl", "jq"):
        assert shutil.which(tool), f"the README's walk-through needs {tool}: install it"
    assert sys.prefix != sys.base_prefix, "run the tests with the project's venv (make test)"
    bin_dir = Path(sys.executable).parent
    blocks = [b for b in shell_blocks(README.read_text()) if b.skip is None]

    home = tmp_path_factory.mktemp("readme")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCAL_")}
    env |= {"AGENTCAL_DATA_DIR": str(home / "data"), "PATH": f"{bin_dir}:{env['PATH']}"}
    port, sandbox_port = free_port(), free_port()
    api, sandbox = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}"
    log = (home / "server.log").open("wb")
    server = await asyncio.create_subprocess_exec(
        *[str(bin_dir / "agentcal"), "serve", "--port", str(port)],
        *["--sandbox", "--sandbox-port", str(sandbox_port)],
        cwd=home,
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        async with httpx.AsyncClient(timeout=2) as http:

            async def ready() -> bool:
                assert server.returncode is None, (home / "server.log").read_text()
                try:
                    return (await http.get(f"{api}/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(ready, timeout=30, interval=0.05)
        shell = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            script(blocks, api, sandbox, bin_dir),
            cwd=ROOT,  # where the README's reader is: examples/ is there
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(shell.communicate(), timeout=60)
        except TimeoutError:
            shell.kill()
            await shell.wait()
            raise
        parts = re.split(rf"^{MARK} (\d+|state)$", out.decode(), flags=re.MULTILINE)
        if shell.returncode != 0:
            ran = [p for p in parts[1::2] if p != "state"]
            failed = blocks[int(ran[-1])] if ran else "before the first block"
            pytest.fail(
                f"this README block failed (exit {shell.returncode}):\n{failed}\n"
                f"its output:\n{parts[-1]}\nstderr:\n{err.decode()}"
            )
        assert parts[1::2] == [*map(str, range(len(blocks))), "state"]
        outputs = [p.strip() for p in parts[2::2]]
        yield Run(blocks, outputs[:-1], json.loads(outputs[-1]), sandbox)
    finally:
        server.terminate()
        await server.wait()
        log.close()


def test_the_walk_through_sections_have_blocks_and_every_skip_says_why() -> None:
    blocks = shell_blocks(README.read_text())
    running = {b.section for b in blocks if b.skip is None}
    assert running == set(SECTIONS), "a walk-through section lost its shell blocks"
    skipped = [b for b in blocks if b.skip is not None]
    # Starting the server is the only block the test does itself; the others left out
    # import tools into a voice platform, which takes the platform's account.
    assert [b.source.split()[0:2] for b in skipped if b.section != VOICE] == [["make", "run"]]
    imports = [b for b in skipped if b.section == VOICE]
    assert len(imports) == 3
    assert all("account" in (b.skip or "") for b in imports)


def local(day: str, hour: int) -> datetime:
    """`hour`:00 of `day` in São Paulo, as an aware datetime."""
    return datetime.combine(date.fromisoformat(day), time(hour), SAO_PAULO)


def utc_text(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


async def sandbox_get(run: Run, path: str, **params: str) -> Any:
    async with httpx.AsyncClient(base_url=run.sandbox, timeout=5) as http:
        answer = await http.get(path, params=params)
    assert answer.status_code == 200
    return answer.json()


async def test_the_calcom_bookings_are_those_the_walk_through_made_once_each(
    walk_through: Run,
) -> None:
    """The repeat of call_2 and the MCP client's repeat booked nothing; call_3 and its
    repeat booked nothing; the direct sandbox booking of a taken slot was refused."""
    mon = walk_through.state["mon"]
    bookings = (await sandbox_get(walk_through, "/sandbox/calcom/bookings"))["bookings"]
    made = sorted((utc_text(b["start"]), b["attendees"][0]["name"], b["status"]) for b in bookings)
    assert made == [
        (local(mon, 9), "Pedro Lima", "accepted"),  # the MCP client, booked once
        (local(mon, 10), "Joana Lima", "cancelled"),  # call_5, then cancelled
        (local(mon, 10), "Maria Silva", "cancelled"),  # call_2, moved to 11:00
        (local(mon, 11), "Maria Silva", "accepted"),
        (local(mon, 15), "Maria Silva", "accepted"),  # straight to the sandbox, once
        (local(mon, 16), "Ana Costa", "cancelled"),  # by phone, through the Vapi channel
    ]
    first = next(b for b in bookings if b["uid"] == walk_through.state["booking"])
    assert utc_text(first["start"]) == local(mon, 10)
    assert first["rescheduledToUid"]


async def test_the_google_booking_is_an_event_in_the_demo_calendar(walk_through: Run) -> None:
    mon = walk_through.state["mon"]
    answer = await sandbox_get(
        walk_through, "/sandbox/google/events", calendarId="demo@example.com"
    )
    events = sorted((utc_text(e["start"]["dateTime"]), e["summary"]) for e in answer["items"])
    assert events == [
        (local(mon, 10), "Clinic calendar with Maria Silva"),
        (local(mon, 15), "Consultation with Maria"),
        (local(mon, 16), "Check-up"),  # the notifications section's booking
    ]


def test_a_repeated_call_replays_its_booking(walk_through: Run) -> None:
    content, count = walk_through.output_of('-d "$CALL_2" \\\n').splitlines()
    assert content.startswith("Booked 30 min meeting with Maria Silva")
    assert content.endswith(f"Booking id: {walk_through.state['booking']}.")
    assert count == "1"


def test_a_caller_books_finds_and_cancels_in_portuguese_by_their_number(
    walk_through: Run,
) -> None:
    lines = walk_through.output_of("vapi call_pt_1").splitlines()
    assert lines[0] == "pt-BR"
    booked, found, cancelled = lines[1:4]
    assert booked.startswith("Agendado: 30 min meeting com Ana Costa, segunda-feira")
    assert "das 16h às 16h30" in booked
    assert found.startswith("Próximos agendamentos de +5511987654321:")
    assert cancelled.startswith("Agendamento cancelado: segunda-feira")
    assert all("UTC" not in line for line in (booked, found, cancelled))
    assert lines[4] == "en"


def test_the_same_id_with_other_arguments_is_a_409(walk_through: Run) -> None:
    problem = json.loads(walk_through.output_of('"id": "call_2", "name": "create_booking_dr_ana"'))
    assert problem["status"] == 409
    assert "already used with different arguments" in problem["detail"]


def test_booking_a_taken_slot_answers_slot_unavailable_with_alternatives(
    walk_through: Run,
) -> None:
    result = json.loads(walk_through.output_of("CALL_3='"))
    assert result["ok"] is False
    assert result["error"]["code"] == "slot_unavailable"
    starts = [utc_text(a["start"]) for a in result["data"]["alternatives"]]
    assert starts
    assert local(walk_through.state["mon"], 10) not in starts


def test_a_failed_call_replays_its_failure_and_a_new_id_books(walk_through: Run) -> None:
    replayed, retried = walk_through.output_of("${CALL_3/call_3/call_5}").splitlines()
    assert replayed == "slot_unavailable"
    assert retried.startswith("Booked 30 min meeting with Joana Lima")


def test_the_mcp_example_lists_books_and_replays(walk_through: Run) -> None:
    lines = walk_through.output_of("examples/mcp_client.py").splitlines()
    assert lines[0].startswith("tools: check_availability_dr_ana, create_booking_dr_ana")
    assert lines[2].startswith("create_booking_dr_ana: Booked 30 min meeting with Pedro Lima")
    assert lines[3] == "create_booking_dr_ana again, same key: the same answer, replayed"


def test_the_management_steps_answer_as_the_readme_says(walk_through: Run) -> None:
    assert walk_through.output_of("-X DELETE") == "204"
    assert 'rel="next"' in walk_through.output_of("limit=1")
    duplicate = json.loads(walk_through.output_of("/functions/duplicate/"))
    assert duplicate["isActivated"] is False
    problem = json.loads(walk_through.output_of('"unityId": "\'$UNIT\'", "apiKey": "cal_live_x"'))
    assert problem["status"] == 422
    fields = {e["field"] for e in problem["errors"]}
    assert fields == {"unitId", "timezone", "checkAvailabilityEnabled", "unityId"}


def test_the_booking_s_webhook_arrived_signed(walk_through: Run) -> None:
    """The in-process worker of `serve` delivered the notification to the sandbox's sink,
    and the secret shown once verifies its signature."""
    delivery = json.loads(walk_through.output_of("for _ in $(seq 50); do"))
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 1
    received = json.loads(walk_through.output_of('startswith("webhook-")'))
    assert received["headers"]["webhook-id"] == delivery["webhookId"]
    data = received["body"]["data"]
    assert data["content"].startswith("João Lima booked Check-up: Monday ")
    assert data["content"].endswith(", 16:00 (America/Sao_Paulo)")
    assert walk_through.output_of("from standardwebhooks import Webhook").strip() == (
        "verified: booking.created"
    )


def test_a_vapi_channel_exports_its_tools_and_answers_vapi_s_tool_calls(walk_through: Run) -> None:
    """The channel's URL is in the exported tools, with a slot for its secret; the hook
    answers the `tool-calls` message in Vapi's shape: one single-line result per call."""
    channel = json.loads(walk_through.output_of('"platform": "vapi", "name": "Front desk phone"'))
    assert channel["platform"] == "vapi"
    assert channel["url"].endswith(f"/hooks/vapi/{channel['id']}")
    assert channel["secret"].startswith("agch_")
    tool = json.loads(walk_through.output_of("name: .function.name"))
    assert tool == {
        "type": "function",
        "name": "check_availability_dr_ana",
        "server": {
            "url": channel["url"],
            "timeoutSeconds": 20,
            "headers": {"X-Vapi-Secret": "<CHANNEL_SECRET>"},
        },
    }
    answer = json.loads(walk_through.output_of('-d "$VAPI_CALL"'))
    [result] = answer["results"]
    assert set(result) == {"name", "toolCallId", "result"}
    assert result["name"] == "check_availability_dr_ana"
    assert result["toolCallId"] == "call_Q9OmH6CEgazy0kvNJk3xhvfh"
    assert result["result"].strip()
    assert "\n" not in result["result"]
