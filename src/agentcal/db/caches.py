"""Short-lived in-process caches of database reads on the tool-call path.

Every tool call would otherwise read the caller's token, then the bot and all of its
functions, before doing anything: several queries for data that changes a few times a
day. A `TtlCache` keeps such reads for `ttl` seconds at most, and is emptied the moment
*this* process commits a change to one of the tables it reads from (the listeners at
the end watch every ORM session). A change committed by *another* process — a second
replica, a CLI command — is seen within `ttl` (`AGENTCAL_CACHE_SECONDS`, default 5;
0 turns the caches off), and on PostgreSQL at once: the transaction also notifies the
other replicas (`agentcal.db.cache_sync`). `docs/runtime.md` says what that means.

Values read while a change commits could be stale: a reader takes the cache's
`generation` before it reads and `put`s with it, and a put from before the last
invalidation is dropped.
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable, Iterable
from itertools import chain
from typing import Any, Generic, TypeVar

from cachetools import TTLCache
from sqlalchemy import event, text
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_TOUCHED = "agentcal.touched_tables"
_NOTIFIED = "agentcal.notified_tables"
CHANNEL = "agentcal_caches"  # see agentcal.db.cache_sync
_NOTIFY = text("SELECT pg_notify(:channel, :tables)")
_caches: weakref.WeakSet[TtlCache[Any, Any]] = weakref.WeakSet()


class TtlCache(Generic[K, V]):
    """A TTL cache invalidated by this process's commits to `tables`."""

    def __init__(self, tables: Iterable[str], *, ttl: float, maxsize: int = 10_000) -> None:
        self.tables = frozenset(tables)
        self.enabled = ttl > 0
        self._cache: TTLCache[K, V] = TTLCache(maxsize=maxsize, ttl=max(ttl, 1e-9))
        self.generation = 0
        _caches.add(self)

    def get(self, key: K) -> V | None:
        return self._cache.get(key) if self.enabled else None

    def put(self, key: K, value: V, generation: int) -> None:
        """Keep `value`, read after `generation` was taken, unless a change committed since."""
        if self.enabled and generation == self.generation:
            self._cache[key] = value

    def discard(self, key: K) -> None:
        self._cache.pop(key, None)

    def invalidate(self) -> None:
        self.generation += 1
        self._cache.clear()


def _touched(session: Session) -> set[str]:
    touched: set[str] = session.info.setdefault(_TOUCHED, set())
    return touched


def _touch(session: Session, tables: set[str]) -> None:
    """Note `tables` as changed by the session's transaction; on PostgreSQL, tell the
    other replicas too (`agentcal.db.cache_sync`): a NOTIFY sent in the transaction is
    delivered when it commits, and dropped if it rolls back."""
    _touched(session).update(tables)
    if session.get_bind().dialect.name != "postgresql":
        return
    # Every table, not only those this process's caches read: a CLI command has none,
    # and its changes must still reach the servers' caches.
    notified: set[str] = session.info.setdefault(_NOTIFIED, set())
    news = tables - notified
    if news:
        notified.update(news)
        session.connection().execute(
            _NOTIFY, {"channel": CHANNEL, "tables": ",".join(sorted(news))}
        )


def invalidate_tables(tables: set[str] | None) -> None:
    """Empty the caches that read from `tables` (all of them for None)."""
    for cache in list(_caches):
        if tables is None or cache.tables & tables:
            cache.invalidate()


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    tables = set()
    for obj in chain(session.new, session.dirty, session.deleted):
        table = getattr(obj, "__tablename__", None)
        if table is not None:
            tables.add(table)
    if tables:
        _touch(session, tables)


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    # Bulk UPDATE / DELETE / INSERT statements bypass the flush.
    if state.is_update or state.is_delete or state.is_insert:
        table = getattr(state.statement, "table", None)
        name = getattr(table, "name", None)
        if name is not None:
            _touch(state.session, {name})


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    session.info.pop(_NOTIFIED, None)
    touched = session.info.pop(_TOUCHED, None)
    if touched:
        invalidate_tables(touched)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous: Any) -> None:
    # The notifications sent since are dropped with what is rolled back: send again.
    session.info.pop(_NOTIFIED, None)
    # The outermost transaction rolled back: those changes never happened. (A savepoint
    # rolled back undoes only part: what was touched around it still commits.)
    if previous.parent is None:
        session.info.pop(_TOUCHED, None)
