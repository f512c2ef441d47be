"""The audit log: who did what, when, with which model or plan version, under which request id.

Every prediction served, review, key creation, plan evaluation and model change is written to
the store's `audit_log` table (`perfml.store.tables`). Rows older than the retention setting
(`PERFML_AUDIT_RETENTION_DAYS`, default 180) are purged by `purge`; the service purges at
start-up and once a day.

- `write(conn, ...)`   - one row inside the caller's transaction (reviews and key creation are
                         audited atomically with the change they record);
- `AuditBuffer`        - write-behind for the hot path: `record(...)` queues a row and a
                         background thread inserts queued rows in one transaction every
                         `interval` seconds (and on `flush()` / `close()`), so a prediction does
                         not wait for a disk commit. A process killed hard can lose at most the
                         last `interval` of entries; a clean shutdown loses none. The same
                         thread purges expired rows once a day;
- `read(...)`          - filtered, newest first, paginated;
- `purge(...)`         - delete rows older than the retention.

Entries are plain dicts with keys `principal, action, target, version, request_id, details, at`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from perfml.store import audit_log as table
from perfml.store import create_all, engine_for, utcnow

log = logging.getLogger(__name__)
DETAILS_MAX_ITEMS = 100  # long id lists are cut (with a count) so one entry stays small


def _bounded(details: Any) -> Any:
    """Lists longer than `DETAILS_MAX_ITEMS` cut to that many (the full count is kept next to them)."""
    if isinstance(details, dict):
        out: dict[str, Any] = {}
        for k, v in details.items():
            if isinstance(v, (list, tuple)) and len(v) > DETAILS_MAX_ITEMS:
                out[k] = list(v[:DETAILS_MAX_ITEMS])
                out[f"{k}_count"] = len(v)
            else:
                out[k] = _bounded(v)
        return out
    return details


def entry(
    *,
    principal: str,
    action: str,
    target: str | None = None,
    version: str | None = None,
    request_id: str | None = None,
    details: dict | None = None,
    at: datetime | None = None,
) -> dict:
    """One row of `audit_log` as column values."""
    return {
        "at": at or utcnow(),
        "principal": principal,
        "action": action,
        "target": target,
        "model_or_plan_version": version,
        "request_id": request_id,
        "details": _bounded(details),
    }


def write(conn: Connection | Session, **kwargs) -> None:
    """Insert one entry inside the caller's transaction (keyword arguments as `entry`)."""
    c = conn.connection() if isinstance(conn, Session) else conn
    c.execute(sa.insert(table), [entry(**kwargs)])


_ready: set[str] = set()


def write_many(engine: Engine | str, entries: list[dict]) -> None:
    """Insert prepared entries (from `entry`) in one transaction."""
    if not entries:
        return
    eng = engine_for(engine)
    if str(eng.url) not in _ready:  # tables are created once per store, not per batch
        create_all(eng)
        _ready.add(str(eng.url))
    with eng.begin() as conn:
        conn.execute(sa.insert(table), entries)


class AuditBuffer:
    """Write-behind audit entries: `record` is cheap; a daemon thread commits batches."""

    def __init__(
        self,
        engine: Engine | str,
        *,
        interval: float = 0.25,
        max_batch: int = 1000,
        retention_days: int | None = None,
        purge_every: float | None = 86_400.0,
    ):
        self.engine = engine_for(engine)
        self.interval = interval
        self.max_batch = max_batch
        self.retention_days = retention_days
        self.purge_every = purge_every
        self._last_purge: float | None = None
        self._queue: queue.SimpleQueue[dict] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one writer at a time (thread and explicit flushes)
        self._thread: threading.Thread | None = None

    def start(self) -> AuditBuffer:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="perfml-audit", daemon=True)
            self._thread.start()
        return self

    def record(self, **kwargs) -> None:
        """Queue one entry (keyword arguments as `entry`); written within `interval` seconds."""
        self._queue.put(entry(**kwargs))

    def flush(self) -> int:
        """Write everything queued now; return how many entries were written."""
        written = 0
        with self._lock:
            while True:
                batch: list[dict] = []
                while len(batch) < self.max_batch:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if not batch:
                    return written
                try:
                    write_many(self.engine, batch)
                except Exception:  # the store is down: keep the entries for the next attempt
                    log.exception("audit log write failed; %d entries kept for retry", len(batch))
                    for item in batch:
                        self._queue.put(item)
                    return written
                written += len(batch)

    @property
    def backlog(self) -> int:
        """Entries queued and not yet written."""
        return self._queue.qsize()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()
            if (
                self.retention_days is not None
                and self.purge_every
                and (self._last_purge is None or time.monotonic() - self._last_purge > self.purge_every)
            ):
                self._last_purge = time.monotonic()
                try:
                    purge(self.engine, retention_days=self.retention_days)
                except Exception:
                    log.exception("audit log purge failed")

    def close(self) -> None:
        """Stop the thread and write what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()


@contextmanager
def reading(source: Engine | str | Connection | Session) -> Iterator[Connection]:
    """A connection to read from: the caller's session/connection as is, or a new one from an engine/URL."""
    if isinstance(source, Session):
        yield source.connection()
    elif isinstance(source, Connection):
        yield source
    else:
        eng = engine_for(source)
        create_all(eng)
        with eng.connect() as conn:
            yield conn


@dataclass
class Page:
    """A page of audit entries, newest first, and how many match in total."""

    items: list[dict]
    total: int


def read(
    engine: Engine | str | Connection | Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    principal: str | None = None,
    action: str | None = None,
    target: str | None = None,
    request_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Entries matching every given filter (`action` matches a prefix, e.g. "score"), newest first."""
    where = []
    if since is not None:
        where.append(table.c.at >= since)
    if until is not None:
        where.append(table.c.at < until)
    if principal:
        where.append(table.c.principal == principal)
    if action:
        where.append(sa.or_(table.c.action == action, table.c.action.startswith(f"{action}.", autoescape=True)))
    if target:
        where.append(table.c.target == target)
    if request_id:
        where.append(table.c.request_id == request_id)
    with reading(engine) as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
        rows = conn.execute(
            sa.select(table).where(*where).order_by(table.c.at.desc(), table.c.id.desc()).limit(limit).offset(offset)
        ).all()
    return Page([dict(r._mapping) for r in rows], int(total))


def purge(engine: Engine | str, *, retention_days: int, now: datetime | None = None) -> int:
    """Delete entries older than `retention_days` (a home's `audit_retention_days`); return how many."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    eng = engine_for(engine)
    create_all(eng)
    with eng.begin() as conn:
        return int(conn.execute(sa.delete(table).where(table.c.at < cutoff)).rowcount or 0)


__all__ = ["AuditBuffer", "Page", "entry", "purge", "read", "reading", "write", "write_many"]
