"""`agentcal`: serve the API, migrate, bootstrap tenants and manage access tokens."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy import select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

import agentcal.models  # noqa: F401 - every model mapped, for key rotation
from agentcal import __version__, log
from agentcal.crypto import rotation
from agentcal.crypto.keyring import Keyring, SecretKeyError, generate_key, load_keyring
from agentcal.db import migrate
from agentcal.db.engine import (
    create_engine,
    create_sessionmaker,
    session_scope,
    sqlite_file,
    utcnow,
)
from agentcal.kit.timestamps import iso_millis
from agentcal.kit.validation import storable
from agentcal.settings import Settings
from agentcal.tenancy import service
from agentcal.tenancy.models import AccessToken, Institution, User

T = TypeVar("T")

app = typer.Typer(
    help="agentcal: scheduling functions (Cal.com, Google Calendar) for AI agents.",
    no_args_is_help=True,
    add_completion=False,
)
admin_app = typer.Typer(help="Operator commands: bootstrap a tenant, manage encryption keys.")
tokens_app = typer.Typer(help="Create, list and revoke access tokens.")
app.add_typer(admin_app, name="admin")
app.add_typer(tokens_app, name="tokens")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agentcal {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """agentcal: scheduling functions (Cal.com, Google Calendar) for AI agents."""


def _say(message: str) -> None:
    typer.echo(message, err=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _keyring(settings: Settings, *, create: bool = False) -> Keyring:
    """The configured keys; only `serve` may create the key file (`create`): any other
    command would make a key that opens nothing the server stored."""
    fresh = not (settings.secret_keys or "").strip() and not settings.key_file.exists()
    if fresh and not create:
        raise _fail(
            f"no encryption key: AGENTCAL_SECRET_KEYS is not set and there is no "
            f"{settings.key_file.resolve()} ({_data_dir_origin(settings)}).\n"
            "Run the command in the directory where `agentcal serve` runs, or give it the "
            "AGENTCAL_DATA_DIR or AGENTCAL_SECRET_KEYS that `agentcal serve` runs with."
        )
    try:
        keyring = load_keyring(settings.secret_keys, settings.key_file)
    except SecretKeyError as exc:
        raise _fail(f"{exc} (AGENTCAL_SECRET_KEYS)") from exc
    if fresh:
        _say(f"generated an encryption key in {settings.key_file} (keep it: it opens the secrets)")
    return keyring


_POINT_AT_THE_SERVER = (
    "Run the command in the directory where `agentcal serve` runs, or give it the "
    "AGENTCAL_DATA_DIR or AGENTCAL_DATABASE_URL that `agentcal serve` runs with"
)


def _data_dir_origin(settings: Settings) -> str:
    if "data_dir" in settings.model_fields_set:
        return "the data dir, from AGENTCAL_DATA_DIR"
    return "the data dir: AGENTCAL_DATA_DIR is not set, so .agentcal in the current directory"


def _database_origin(settings: Settings) -> str:
    """Where the database was looked for, and which setting says so."""
    url = make_url(settings.resolved_database_url)
    path = sqlite_file(url)
    where = str(path) if path else url.render_as_string(hide_password=True)
    if settings.database_url:
        return f"{where} (from AGENTCAL_DATABASE_URL)"
    return f"{where} (the SQLite file in {_data_dir_origin(settings)})"


def _createdb(url: URL) -> str:
    """The shell command that creates the PostgreSQL database `url` names."""
    words = ["createdb"]
    for option, value in (("-h", url.host), ("-p", url.port), ("-U", url.username)):
        if value:
            words += [option, str(value)]
    return shlex.join([*words, url.database or ""])


def _no_database(settings: Settings, missing: migrate.DatabaseNotFound) -> typer.Exit:
    if sqlite_file(missing.url) is not None:
        found, create = "no agentcal database", "`agentcal migrate`"
    else:
        found = f"no database {missing.url.database!r} on this PostgreSQL server"
        create = f"`{_createdb(missing.url)}`, then `agentcal migrate`"
    return _fail(
        f"{found} at {_database_origin(settings)}.\n{_POINT_AT_THE_SERVER}.\n"
        f"To create a new database there instead: {create}."
    )


async def _apply_migrations(engine: AsyncEngine) -> None:
    before = await migrate.current_revision(engine)
    if before != migrate.head_revision():
        _say(f"applying migrations ({before or 'empty database'} → {migrate.head_revision()})")
        await migrate.upgrade(engine)


async def _migrate(settings: Settings) -> None:
    """Create the database if needed (`serve`, `migrate`) and bring it to the latest
    migration. A PostgreSQL database must exist: creating one is its administrator's."""
    path = sqlite_file(settings.resolved_database_url)
    if path is not None:
        # Only the owner may list it: it holds the database and the key file.
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    engine = create_engine(settings.resolved_database_url)
    try:
        if not await migrate.is_current(engine):
            await _apply_migrations(engine)
    except migrate.DatabaseNotFound as exc:
        raise _fail(
            f"no database {exc.url.database!r} on the PostgreSQL server of "
            f"{_database_origin(settings)}; create it with `{_createdb(exc.url)}`"
        ) from None
    finally:
        await engine.dispose()


async def _bring_up_to_date(settings: Settings, engine: AsyncEngine) -> None:
    try:
        revisions = await migrate.existing_revisions(engine)
    except migrate.DatabaseNotFound as exc:
        raise _no_database(settings, exc) from None
    if not revisions:
        raise _fail(
            f"the database at {_database_origin(settings)} holds no agentcal schema.\n"
            f"{_POINT_AT_THE_SERVER}.\nTo create the schema there instead: `agentcal migrate`."
        )
    if revisions != [migrate.packaged_head()]:
        await _apply_migrations(engine)


async def _open_existing(settings: Settings, **engine_options: Any) -> AsyncEngine:
    """An engine on the existing agentcal database, brought to the latest migration.

    Every command but `serve` and `migrate` uses it: run from the wrong directory, they
    would otherwise create an empty database there and answer from it.
    """
    engine = create_engine(settings.resolved_database_url, **engine_options)
    try:
        await _bring_up_to_date(settings, engine)
    except BaseException:
        await engine.dispose()
        raise
    return engine


def _with_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one committed session on the existing database (never creating one)."""

    async def run() -> T:
        engine = await _open_existing(settings)
        try:
            async with session_scope(create_sessionmaker(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except OSError as exc:
        raise _fail(f"cannot reach the database at {_database_origin(settings)}: {exc}") from exc


SANDBOX_PORT = 8900


def _sandbox_environment(host: str, port: int) -> dict[str, str]:
    """Provider settings that point agentcal at the sandboxes."""
    base = f"http://{host}:{port}"
    return {
        "AGENTCAL_CALCOM_API_URL": f"{base}/calcom",
        "AGENTCAL_GOOGLE_API_URL": f"{base}/google/calendar/v3",
        "AGENTCAL_GOOGLE_TOKEN_URL": f"{base}/google/token",
        "AGENTCAL_GOOGLE_CLIENT_ID": "sandbox-client",
        "AGENTCAL_GOOGLE_CLIENT_SECRET": "sandbox-secret",
        "AGENTCAL_DISCORD_API_URL": f"{base}/discord/api",
        "AGENTCAL_TELEGRAM_API_URL": f"{base}/telegram",
        # The webhook sink is on this machine's loopback: a lab, as the sandbox is.
        "AGENTCAL_NOTIFICATIONS_ALLOW_PRIVATE": "true",
    }


def _start_sandbox_thread(host: str, port: int) -> None:
    """Serve the sandboxes from a daemon thread of this process (it ends with it)."""
    import threading

    import uvicorn

    from agentcal.sandbox.app import create_sandbox_app

    config = uvicorn.Config(create_sandbox_app(), host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, name="sandbox", daemon=True).start()
    for _ in range(500):  # up to 5 s
        if server.started:
            return
        time.sleep(0.01)
    raise _fail(f"the sandbox could not listen on {host}:{port} (is the port taken?)")


@app.command()
def sandbox(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = SANDBOX_PORT,
) -> None:
    """Run the Cal.com and Google sandboxes (no account, no network needed)."""
    import uvicorn

    from agentcal.sandbox.app import create_sandbox_app

    _say(f"sandboxes on http://{host}:{port}: Cal.com at /calcom, Google at /google/calendar/v3")
    _say("demo accounts: Cal.com user 'demo' (API key cal_sandbox_demo), Google demo@example.com")
    uvicorn.run(create_sandbox_app(), host=host, port=port, log_level="warning")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    with_sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox",
            help=f"Also run the provider sandboxes on port {SANDBOX_PORT} and use them.",
        ),
    ] = False,
    sandbox_port: Annotated[int, typer.Option(help="Port of the sandboxes.")] = SANDBOX_PORT,
) -> None:
    """Run the API server (applies migrations and creates the key on first start)."""
    import uvicorn

    if with_sandbox:
        _start_sandbox_thread("127.0.0.1", sandbox_port)
        # Set before the settings are read, and inherited by worker processes.
        os.environ.update(_sandbox_environment("127.0.0.1", sandbox_port))
        _say(
            f"providers and notification channels point at the sandboxes on "
            f"http://127.0.0.1:{sandbox_port}; webhooks may reach private addresses"
        )
    settings = Settings()
    _keyring(settings, create=True)
    asyncio.run(_migrate(settings))
    _say(f"agentcal listening on http://{host}:{port} (docs at /docs)")
    uvicorn.run(
        "agentcal.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level=settings.log_level.lower(),
    )


@app.command()
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1, max=256, help="Notifications sent at once (AGENTCAL_NOTIFICATION_CONCURRENCY)."
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics."),
    ] = None,
) -> None:
    """Deliver queued notifications until stopped.

    `agentcal serve` already runs one; run more, on PostgreSQL, to deliver faster (and
    set AGENTCAL_NOTIFICATIONS_WORKER=false on the servers to leave it to these). Ctrl-C
    or SIGTERM stops it gracefully: what is being sent finishes, the rest is released.
    """
    import signal

    from agentcal.runtime import deliveries

    settings = Settings()
    if concurrency is not None:
        settings = settings.model_copy(update={"notification_concurrency": concurrency})
    log.configure(settings.log_level, settings.log_format)
    if metrics_port is not None:
        import prometheus_client

        prometheus_client.start_http_server(metrics_port, addr="127.0.0.1")

    async def run() -> None:
        options: dict[str, Any] = {}
        if sqlite_file(settings.resolved_database_url) is None:
            # A connection for each send's lookup and record, kept open: connections
            # opened and closed per delivery cost more than the delivery's own work.
            options = {"pool_size": settings.notification_concurrency + 2, "max_overflow": 4}
        engine = await _open_existing(settings, **options)
        keyring = _keyring(settings)
        delivering = deliveries.worker(settings, engine, create_sessionmaker(engine), keyring)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, stop.set)
        delivering.start()
        _say(
            f"delivering notifications from {_database_origin(settings)} "
            f"({settings.notification_concurrency} at once); Ctrl-C stops"
        )
        try:
            await stop.wait()
            _say("stopping: finishing what is being sent")
        finally:
            await delivering.stop()
            await engine.dispose()

    asyncio.run(run())


@app.command("migrate")
def migrate_command() -> None:
    """Apply database migrations and exit."""
    settings = Settings()
    asyncio.run(_migrate(settings))
    _say("database is at the latest migration")


@admin_app.command()
def bootstrap(
    institution: Annotated[str, typer.Option(help="Institution (tenant) name.")],
    unit: Annotated[str, typer.Option(help="Organizational unit name.")],
    user: Annotated[str, typer.Option(help="E-mail of the admin user.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create an institution, a unit, an admin user and an access token.

    Running it again for the same institution reuses it and only issues a new token.
    """
    # Lowercased before measuring: lowercasing can lengthen a string ('İ' → 'i̇').
    names = {"institution": institution.strip(), "unit": unit.strip(), "user": user.strip().lower()}
    for option, value in names.items():
        limit = 254 if option == "user" else 120
        if not value or len(value) > limit:
            raise _fail(f"--{option} must be 1-{limit} characters", 2)
        try:
            storable(value)  # argv may carry undecodable bytes, as lone surrogates
        except ValueError as exc:
            raise _fail(f"--{option} {exc}", 2) from None
    if "@" not in names["user"]:
        raise _fail("--user must be an e-mail address", 2)
    result = _with_session(
        Settings(),
        lambda s: service.bootstrap(s, names["institution"], names["unit"], names["user"]),
    )
    out = {
        "institutionId": str(result.institution.id),
        "unitId": str(result.unit.id),
        "userId": str(result.user.id),
        "token": result.token.token,
    }
    if as_json:
        typer.echo(json.dumps(out))
        return
    typer.echo(f"institution  {out['institutionId']}  {result.institution.name}")
    typer.echo(f"unit         {out['unitId']}  {result.unit.name}")
    typer.echo(f"admin user   {out['userId']}  {result.user.email}")
    typer.echo(f"token        {out['token']}")
    _say("the token is shown only now; send it as 'Authorization: Bearer <token>'")


@admin_app.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every stored secret with the current (first) key."""
    settings = Settings()

    async def work(session: AsyncSession) -> tuple[Keyring, rotation.RotationReport]:
        # Read once the database is known to exist: it says first where to run from.
        keyring = _keyring(settings)
        return keyring, await rotation.rotate(session, keyring, progress=_say)

    try:
        keyring, report = _with_session(settings, work)
    except SecretKeyError as exc:
        raise _fail(str(exc)) from exc
    _say(
        f"re-encrypted {report.resealed} secret(s) with key {keyring.current_id}; "
        f"{report.current} already used it"
    )


@admin_app.command("generate-key")
def generate_key_command() -> None:
    """Print a new encryption key for AGENTCAL_SECRET_KEYS."""
    typer.echo(generate_key())


async def _user_by_email(session: AsyncSession, email: str, institution: str | None) -> User:
    query = select(User).where(User.email == email.strip().lower())
    if institution:
        query = query.join(Institution, Institution.id == User.institution_id).where(
            Institution.name == institution
        )
    users = list(await session.scalars(query))
    if not users:
        raise _fail(f"no user with e-mail {email!r}; create one with `agentcal admin bootstrap`")
    if len(users) > 1:
        raise _fail(f"{email!r} is a user of several institutions; add --institution NAME")
    return users[0]


@tokens_app.command("create")
def tokens_create(
    user: Annotated[str, typer.Option(help="E-mail of the token's user.")],
    name: Annotated[str, typer.Option(help="A label to recognise the token by.")] = "cli",
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, max=3650, help="Expire after this many days.")
    ] = None,
    institution: Annotated[
        str | None, typer.Option(help="Institution name, if the e-mail is in several.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Issue an access token for a user (shown once)."""
    label = name.strip()
    if not 1 <= len(label) <= 120:
        raise _fail("--name must be 1-120 characters", 2)

    async def work(session: AsyncSession) -> service.IssuedToken:
        owner = await _user_by_email(session, user, institution)
        expires = timedelta(days=expires_in_days) if expires_in_days else None
        return await service.issue_token(session, owner, label, expires)

    issued = _with_session(Settings(), work)
    if as_json:
        typer.echo(
            json.dumps({**_token_json(issued.record, user.strip().lower()), "token": issued.token})
        )
    else:
        typer.echo(issued.token)
        _say(f"token {issued.record.id} created; it is shown only now")


def _token_json(token: AccessToken, email: str) -> dict[str, Any]:
    return {
        "id": str(token.id),
        "userId": str(token.user_id),
        "user": email,
        "name": token.name,
        "prefix": token.prefix,
        "createdAt": iso_millis(token.created_at),
        "expiresAt": iso_millis(token.expires_at) if token.expires_at else None,
        "revokedAt": iso_millis(token.revoked_at) if token.revoked_at else None,
        "state": service.token_state(token, utcnow()),
    }


@tokens_app.command("list")
def tokens_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """List every access token (never the tokens themselves)."""

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        rows = await session.execute(
            select(AccessToken, User.email)
            .join(User, User.id == AccessToken.user_id)
            .order_by(AccessToken.created_at)
        )
        return [_token_json(token, email) for token, email in rows]

    tokens = _with_session(Settings(), work)
    if as_json:
        typer.echo(json.dumps(tokens))
        return
    if not tokens:
        _say(
            "no tokens yet; create one with `agentcal admin bootstrap` or `agentcal tokens create`"
        )
        return
    typer.echo(f"{'ID':36}  {'STATE':7}  {'PREFIX':10}  {'USER':30}  NAME")
    for t in tokens:
        typer.echo(f"{t['id']:36}  {t['state']:7}  {t['prefix']:10}  {t['user']:30}  {t['name']}")


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[str, typer.Argument(metavar="ID", help="Token id.")]) -> None:
    """Revoke a token; requests with it then get 401."""
    try:
        ident = uuid.UUID(token_id)
    except ValueError:
        raise _fail(f"{token_id!r} is not a token id (see `agentcal tokens list`)", 2) from None

    async def work(session: AsyncSession) -> AccessToken | None:
        token = await session.get(AccessToken, ident)
        if token is not None:
            await service.revoke_token(session, token)
        return token

    if _with_session(Settings(), work) is None:
        raise _fail(f"no token {ident} (see `agentcal tokens list`)")
    _say(f"token {ident} revoked")


def main() -> None:
    app()
