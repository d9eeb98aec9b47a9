"""`sqlite+agentcal://`: SQLite for asyncio that runs statements on the event loop's thread.

Why not aiosqlite: it sends every operation (cursor, execute, fetch, close, commit) to
a worker thread and waits for the answer, and each of those hops costs 0.1–0.5 ms on a
busy 2-core machine. A tool call makes some forty of them, which alone broke the
tool-call overhead bar many times over. The statements themselves take microseconds,
so this driver runs them inline, on the loop's own thread.

What must never happen on the loop is *waiting* for SQLite's locks, so that waiting is
done here, asynchronously, instead of in SQLite's busy handler (`busy_timeout` is 0):
* **writers** take an asyncio lock per database file, then `BEGIN IMMEDIATE`; the
  transaction holds both until it commits or rolls back. Writers in this process queue
  on the lock (FIFO, no polling); a writer of another process (a second worker, a CLI
  command) makes `BEGIN IMMEDIATE` fail with `SQLITE_BUSY` at once, and it is tried
  again after an `asyncio.sleep` backoff until the connection's `timeout`;
* **readers** never wait in WAL mode, except in the rare moments another connection
  recovers the WAL; a `SQLITE_BUSY` read is tried again the same way;
* **checkpoints** — copying the WAL back into the database file, with an fsync — run
  in a worker thread once the WAL passes `CHECKPOINT_BYTES`, not inside a commit. When
  SQLite reuses a checkpointed WAL it cuts it back to that size (`journal_size_limit`):
  otherwise the WAL would stay past it for good, and every commit would start another
  checkpoint.

The classes below give SQLAlchemy's aiosqlite adapter the aiosqlite interface it
expects, so the dialect is SQLAlchemy's own `sqlite+aiosqlite` with another connect.
`sqlite+aiosqlite://` URLs keep the threaded driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.util.concurrency import await_

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0  # seconds a statement may wait for another process's lock
CHECKPOINT_BYTES = 4 * 1024 * 1024  # SQLite's own default: 1000 pages of 4 KiB
_BACKOFF_FIRST, _BACKOFF_MAX = 0.001, 0.05
# Statements that only read (or, for PRAGMA, set up the connection outside a
# transaction). Anything else takes the write lock first.
_READS = ("SELECT", "PRAGMA", "EXPLAIN")

_write_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _write_lock(path: str) -> asyncio.Lock:
    """The lock this loop's writers of `path` queue on (asyncio locks belong to a loop)."""
    locks = _write_locks.setdefault(asyncio.get_running_loop(), {})
    lock = locks.get(path)
    if lock is None:
        lock = locks[path] = asyncio.Lock()
    return lock


def _is_busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return bool(code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED))
    return "locked" in str(error)  # pragma: no cover - Python < 3.11 has no error codes


def _writes(sql: str) -> bool:
    return not sql.lstrip()[:7].upper().startswith(_READS)


class _Checkpointer:
    """Checkpoints one database's WAL in a worker thread, one at a time."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.wal = path + "-wal"
        self._running = threading.Lock()

    def maybe_start(self) -> None:
        try:
            size = os.stat(self.wal).st_size
        except OSError:
            return
        if size > CHECKPOINT_BYTES and self._running.acquire(blocking=False):
            try:
                asyncio.get_running_loop().run_in_executor(None, self._checkpoint)
            except RuntimeError:  # the executor is shut down (the loop is closing)
                self._running.release()

    def _checkpoint(self) -> None:
        try:
            connection = sqlite3.connect(self.path, timeout=DEFAULT_TIMEOUT)
            try:
                # PASSIVE: copies what it can without waiting for, or blocking, anyone.
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                connection.close()
        except sqlite3.Error:
            pass  # the next commit past the threshold tries again
        finally:
            self._running.release()


_checkpointers: dict[str, _Checkpointer] = {}


class Cursor:
    """An aiosqlite-like cursor whose coroutines finish without ever suspending,
    except while waiting for a lock."""

    __slots__ = ("_connection", "_cursor")

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._cursor = connection.raw.cursor()

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        await self._connection.run(sql, self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Cursor:
        await self._connection.run(sql, self._cursor.executemany, sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class Connection:
    """An aiosqlite-like connection over a `sqlite3.Connection` used on the loop's thread."""

    def __init__(self, raw: sqlite3.Connection, path: str, timeout: float) -> None:
        self.raw = raw
        self.path = path
        self.timeout = timeout
        self._closed = False
        self._holding: asyncio.Lock | None = None  # the write lock, while in a write
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop that lock belongs to
        self._checkpointer = _checkpointers.setdefault(path, _Checkpointer(path))

    # What SQLAlchemy's aiosqlite adapter reads.
    @property
    def _connection(self) -> sqlite3.Connection | None:
        return None if self._closed else self.raw

    @property
    def isolation_level(self) -> str | None:
        return self.raw.isolation_level

    def cursor(self) -> Cursor:
        return Cursor(self)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self.raw.create_function(*args, **kwargs)

    async def run(self, sql: str, statement: Callable[..., T], *args: Any) -> T:
        """Run one statement, taking the write lock first if it writes."""
        # In autocommit mode (isolation_level None) a write is its own transaction:
        # it takes the lock for itself alone, and may meet another process's lock.
        alone = False
        if self._holding is None and _writes(sql):
            alone = self.raw.isolation_level is None and not self.raw.in_transaction
            await self._begin_write(begin=not alone)
        try:
            if self._holding is not None and not alone:
                return statement(*args)  # in our write transaction, nothing can be busy
            return await self._patiently(statement, *args)
        finally:
            if self._holding is not None and not self.raw.in_transaction:
                self._release()  # e.g. a statement that ended the transaction itself

    async def commit(self) -> None:
        try:
            if self.raw.in_transaction:
                # A busy COMMIT leaves the transaction open and may be tried again.
                await self._patiently(self.raw.commit)
        finally:
            if not self.raw.in_transaction:
                self._release()
        self._checkpointer.maybe_start()

    async def rollback(self) -> None:
        try:
            self.raw.rollback()
        finally:
            if not self.raw.in_transaction:
                self._release()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Close at once (also SQLAlchemy's terminate); SQLite rolls back what is open."""
        if not self._closed:
            self._closed = True
            try:
                self.raw.close()
            finally:
                self._release()

    async def _begin_write(self, *, begin: bool = True) -> None:
        lock = _write_lock(self.path)
        try:
            async with asyncio.timeout(self.timeout):
                await lock.acquire()
        except TimeoutError:
            raise sqlite3.OperationalError(
                "database is locked (waited for another writer of this process)"
            ) from None
        self._holding, self._loop = lock, asyncio.get_running_loop()
        try:
            if begin and not self.raw.in_transaction:
                await self._patiently(self.raw.execute, "BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise

    async def _patiently(self, call: Callable[..., T], *args: Any) -> T:
        """`call(*args)`, tried again after a pause while another process holds a lock."""
        deadline = time.monotonic() + self.timeout
        pause = _BACKOFF_FIRST
        while True:
            try:
                return call(*args)
            except sqlite3.OperationalError as error:
                if not _is_busy(error) or time.monotonic() + pause > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, _BACKOFF_MAX)

    def _release(self) -> None:
        lock, self._holding = self._holding, None
        if lock is None:
            return
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False
        if on_loop or self._loop is None or self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # a waiter of a loop already closed
                lock.release()
        else:  # closed by the garbage collector or a pool disposed of from another thread
            self._loop.call_soon_threadsafe(lock.release)


def _create_private(database: str) -> None:
    """Create a new database file readable by its owner alone (0600): it holds sealed
    secrets and attendees' bookings. SQLite gives its WAL and shared-memory files the
    database file's mode."""
    if database == ":memory:" or database.startswith("file:"):
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(database, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


async def connect(database: str, *, timeout: float = DEFAULT_TIMEOUT, **kwargs: Any) -> Connection:
    """Open `database` for use on the running loop's thread."""
    kwargs.pop("check_same_thread", None)
    _create_private(database)
    # Checked out and used on the loop's thread; closed from another one only when a
    # test's loop or the garbage collector disposes of the pool.
    raw = sqlite3.connect(database, timeout=0, check_same_thread=False, **kwargs)
    raw.execute("PRAGMA wal_autocheckpoint=0")  # `_Checkpointer` does it off the loop
    # A checkpointed WAL is reused from its start and keeps its size: cut back to the
    # threshold when reused, it passes the threshold again only once that much more has
    # been written. (Cut to less, every reuse would pay for truncating and growing the
    # file again: that showed as a 7 ms stall every ~70 tool calls.)
    raw.execute(f"PRAGMA journal_size_limit={CHECKPOINT_BYTES}")
    return Connection(raw, os.path.abspath(database), timeout)


class _Module:
    """What SQLAlchemy's adapter takes for the `aiosqlite` module."""

    connect = staticmethod(connect)
    Connection = Connection
    __version__ = "1"
    Error = sqlite3.Error
    DatabaseError = sqlite3.DatabaseError
    IntegrityError = sqlite3.IntegrityError
    NotSupportedError = sqlite3.NotSupportedError
    OperationalError = sqlite3.OperationalError
    ProgrammingError = sqlite3.ProgrammingError
    sqlite_version = sqlite3.sqlite_version
    sqlite_version_info = sqlite3.sqlite_version_info


class _AdaptedConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    @property
    def isolation_level(self) -> str | None:
        return self._connection.raw.isolation_level  # type: ignore[no-any-return]

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        # aiosqlite's setter goes through its worker thread's queue; here there is none.
        self._connection.raw.isolation_level = value


class _DBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *args: Any, **kwargs: Any) -> AsyncAdapt_aiosqlite_connection:
        connection = await_(connect(*args, **kwargs))
        return _AdaptedConnection(self, connection)  # type: ignore[arg-type]


class SQLiteDialect_agentcal(SQLiteDialect_aiosqlite):  # noqa: N801 - SQLAlchemy's naming
    driver = "agentcal"
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> AsyncAdapt_aiosqlite_dbapi:
        return _DBAPI(_Module, sqlite3)  # type: ignore[arg-type]


registry.register("sqlite.agentcal", __name__, "SQLiteDialect_agentcal")
