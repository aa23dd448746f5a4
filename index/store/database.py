"""The store's connection to its database: the engine, transactions, migrations, and the
database's errors turned into facepair's.

`FACEPAIR_HOME/gallery.sqlite3` (SQLite, the embedded default) is opened with:
- WAL journal and `synchronous=FULL`: a call that returned has reached the disk, so an
  acknowledged write survives kill -9 and power loss;
- `secure_delete=ON` and a WAL checkpoint after deletes (`compact`): a deleted person's rows
  are overwritten in the file, not left in free pages;
- writes that take `BEGIN IMMEDIATE`, so concurrent writers queue (30 s) instead of failing.

PostgreSQL (`FACEPAIR_STORE=postgresql://…`, through psycopg) needs none of that: its own
transactions and row locks settle concurrent writers, and its migrations queue behind an
advisory lock. A server that cannot be reached (stopped, restarting, a connection cut) is
`StoreUnavailable`, never a driver's error; the pool tests each connection before handing it
out (a dead one is replaced), so the process goes on by itself once the server is back.

A transaction belongs to the thread that opened it: a repository's method called inside
`Database.transaction()` joins it, and one called outside runs on its own. Nothing outside the
store package sees a connection.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import resource
import sqlite3
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    URL,
    Connection,
    Engine,
    Table,
    create_engine,
    event,
    inspect,
    make_url,
    pool,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError, OperationalError

from index.errors import StorageFull, StoreBusy, StoreUnavailable
from index.store import legacy
from index.store.schema import changes

log = logging.getLogger("facepair.store")
MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_SECONDS = 30.0
MIGRATION_LOCK = 0x66616365  # PostgreSQL advisory lock of the store's migrations
FEED_LOCK = 0x66656564  # PostgreSQL advisory lock held while a write's changes are appended
NOTIFY_CHANNEL = "facepair_changes"  # PostgreSQL's notification of new changes
# tables whose rows have an integer id the database gives; SQLite never gives one twice only
# in its AUTOINCREMENT tables
ID_TABLES = ("people", "photos", "faces", "exclusions", "api_keys", "album_jobs",
             "album_problems", "album_photos", "album_faces", "album_face_times", "changes",
             "roots")
AUTOINCREMENT = ("people", "photos", "faces", "changes")
CONNECT_SECONDS = 5  # how long a PostgreSQL connection may take to open
# PostgreSQL's codes for a connection that failed or a server that shut down or is starting
# (class 08, and admin_shutdown, crash_shutdown, cannot_connect_now)
CONNECTION_CODES = ("57P01", "57P02", "57P03")
MIGRATING = threading.Lock()  # one migration at a time in a process (stores of collections)


def _full(exc: BaseException, path: Path) -> bool:
    """An error that says the disk, or the file size this process may write, is full. SQLite
    says "disk I/O error" where a write hit the file size limit (EFBIG): that one counts when
    the gallery's files reach the limit or the disk has under 1 MB left."""
    if isinstance(exc, DBAPIError):
        exc = exc.orig or exc
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    if "full" in str(exc):
        return True
    if "disk I/O" not in str(exc):
        return False
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    sizes = [f.stat().st_size for f in path.parent.glob(path.name + "*") if f.is_file()]
    disk = os.statvfs(path.parent)
    return ((limit != resource.RLIM_INFINITY and max(sizes, default=0) >= limit - (1 << 16))
            or disk.f_bavail * disk.f_frsize < (1 << 20))


def _unreachable(ctx: ExceptionContext) -> bool:
    """Whether a PostgreSQL error says the server cannot be reached, rather than that a
    statement failed: a connection lost or refused, a server shutting down or starting."""
    if ctx.is_pre_ping:  # the pool's own test: it replaces the connection itself
        return False
    if ctx.is_disconnect:
        return True
    code = getattr(ctx.original_exception, "sqlstate", None) or ""
    if code.startswith("08") or code in CONNECTION_CODES:
        ctx.is_disconnect = True  # the connection is of no further use
        return True
    # no connection yet: opening one failed (refused, no such socket, timed out)
    return ctx.connection is None and isinstance(ctx.original_exception,
                                                 ctx.dialect.loaded_dbapi.OperationalError)


def _unavailable(engine: Engine, name: str) -> None:
    """Errors of an unreachable server raised as `StoreUnavailable`, naming the database."""

    @event.listens_for(engine, "handle_error")
    def _handle(ctx: ExceptionContext) -> StoreUnavailable | None:
        if not _unreachable(ctx):
            return None
        reason = str(ctx.original_exception).strip().splitlines()
        return StoreUnavailable(name, reason[0] if reason else "no reason given")


def upsert(conn: Connection, table: Table) -> Any:
    """The backend's INSERT that takes ON CONFLICT clauses (both spell them alike)."""
    return (postgresql.insert(table) if conn.dialect.name == "postgresql"
            else sqlite.insert(table))


@dataclass
class _Open:
    """This thread's open write transaction."""

    conn: Connection
    # what it changes of what identify answers: rows for the change feed, written at commit
    changes: list[dict[str, Any]] = field(default_factory=list)


def url_of(location: str | Path) -> URL:
    """The database a store location names: `postgresql://…` (PostgreSQL, through psycopg),
    or a file's path (SQLite)."""
    text = str(location)
    if text.startswith(("postgresql:", "postgresql+", "postgres:")):
        url = make_url(text.replace("postgres:", "postgresql:", 1)
                       if text.startswith("postgres:") else text)
        return url.set(drivername="postgresql+psycopg")
    return URL.create("sqlite", database=str(Path(location)))


class Database:
    """The engine over one database, its migrations and this process's transactions.
    `schema`: on PostgreSQL, the schema that holds the tables (made when first opened; every
    connection's `search_path` is it alone), None for `public`."""

    def __init__(self, location: str | Path, schema: str | None = None) -> None:
        self.url = url_of(location)
        self.sqlite = self.url.get_backend_name() == "sqlite"
        self.schema = None if self.sqlite else schema
        self.path = Path(self.url.database or "") if self.sqlite else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.engine = self._engine(foreign_keys=True, pooled=True)
        self._local = threading.local()
        self._migrate()

    @property
    def name(self) -> str:
        """The database as a user named it (a password left out)."""
        if self.path is not None:
            return str(self.path)
        name = self.url.set(drivername="postgresql").render_as_string(hide_password=True)
        return name if self.schema is None else f"{name} (schema {self.schema})"

    def address(self) -> str:
        """A PostgreSQL database's address for the driver itself (a LISTEN connection)."""
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)

    @property
    def channel(self) -> str:
        """PostgreSQL's channel that tells of this store's new changes (a collection's own)."""
        return NOTIFY_CHANNEL if self.schema is None else f"{NOTIFY_CHANNEL}_{self.schema}"

    @property
    def feed_lock(self) -> int:
        """The advisory lock held while this store's changes are appended (a collection's
        own: collections' writers never wait for each other)."""
        if self.schema is None:
            return FEED_LOCK
        return (FEED_LOCK << 32) | zlib.crc32(self.schema.encode())

    def __repr__(self) -> str:
        return f"Database({self.name})"

    def _engine(self, foreign_keys: bool, pooled: bool) -> Engine:
        if not self.sqlite:
            connect = ({} if "connect_timeout" in self.url.query
                       else {"connect_timeout": CONNECT_SECONDS})
            # many rows are written with the driver's own executemany (one statement, sent in
            # a pipeline), not as one long statement per thousand rows, which psycopg parses
            # again each time
            engine = create_engine(self.url, pool_pre_ping=True, use_insertmanyvalues=False,
                                   connect_args=connect,
                                   poolclass=pool.QueuePool if pooled else pool.NullPool,
                                   **({"pool_size": 8, "max_overflow": 64} if pooled else {}))
            _unavailable(engine, self.name)
            if self.schema is not None:
                self._search_path(engine, self.schema)
            return engine
        engine = create_engine(
            self.url,
            connect_args={"timeout": BUSY_SECONDS, "check_same_thread": False},
            poolclass=pool.QueuePool if pooled else pool.NullPool,
            **({"pool_size": 8, "max_overflow": 64} if pooled else {}))

        @event.listens_for(engine, "connect")
        def _connect(dbapi: sqlite3.Connection, _record: object) -> None:
            dbapi.isolation_level = None  # transactions are begun below, not by the driver
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "secure_delete=ON",
                           f"foreign_keys={'ON' if foreign_keys else 'OFF'}"):
                dbapi.execute(f"PRAGMA {pragma}")

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("facepair_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    @staticmethod
    def _search_path(engine: Engine, schema: str) -> None:
        """Every connection sees the collection's schema alone (committed at once: a SET
        rolled back with the connection's first transaction would be undone)."""

        @event.listens_for(engine, "connect")
        def _connect(dbapi: Any, _record: object) -> None:
            with dbapi.cursor() as cursor:
                cursor.execute(f'SET search_path TO "{schema}"')
            dbapi.commit()

    # -- migrations ---------------------------------------------------------------------------

    def _migrate(self) -> None:
        """Bring the database to the newest schema (Alembic), a gallery of the old numbering
        included. Run with foreign keys off: SQLite rebuilds a table to alter it, and a
        cascade must not follow the old table's drop."""
        engine = self._engine(foreign_keys=False, pooled=False)
        try:
            # one write transaction for all of it: processes opening a gallery at once queue
            # here (SQLite's write lock, PostgreSQL's advisory lock), and each after the first
            # finds it at the newest revision; threads of one process queue before (Alembic's
            # context is the process's one), so that none waits for the database holding it
            with MIGRATING, engine.connect().execution_options(facepair_write=True) as conn:
                conn.begin()
                if not self.sqlite:
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
                if self.schema is not None:
                    conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                tables = set(inspect(conn).get_table_names())
                config = Config()
                config.set_main_option("script_location", str(MIGRATIONS))
                config.attributes["connection"] = conn
                if (self.sqlite and "alembic_version" not in tables
                        and legacy.upgrade(conn.exec_driver_sql)):
                    command.stamp(config, "0001")
                command.upgrade(config, "head")
                if self.sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"the gallery's rows point at rows gone: "
                                           f"{broken[:5]}")
                conn.commit()
        finally:
            engine.dispose()

    def revision(self) -> str:
        with self.engine.connect() as conn:
            return str(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar())

    # -- transactions -------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction, committed (and on disk) when the outermost block ends, else
        rolled back; a block inside another joins it. The changes it recorded (`changed`)
        join the change feed as it commits."""
        current: _Open | None = getattr(self._local, "open", None)
        if current is not None:
            yield current.conn
            return
        conn = self.engine.connect().execution_options(facepair_write=True)
        try:
            try:
                conn.begin()
            except OperationalError as exc:
                if "locked" in str(exc):
                    raise StoreBusy("the gallery is busy writing; try again shortly") from exc
                raise
            opened = self._local.open = _Open(conn)
            try:
                yield conn
                if opened.changes:
                    self._append(conn, opened.changes)
                conn.commit()
            finally:
                self._local.open = None
        except BaseException as exc:
            self._roll_back(conn)
            if self.path is not None and _full(exc, self.path):
                raise StorageFull("the disk holding the gallery is full: nothing of this "
                                  "was stored") from exc
            raise
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """This thread's write transaction where one is open, else a short read."""
        current: _Open | None = getattr(self._local, "open", None)
        if current is not None:
            yield current.conn
            return
        with self.engine.connect() as conn:
            yield conn

    # -- the change feed ---------------------------------------------------------------------

    def changed(self, kind: str, face_ids: list[int] | None = None,
                person_id: int | None = None, model: str | None = None) -> None:
        """Record, in this thread's open write transaction, a change of what identify answers
        (`schema.changes` says which kinds there are): one row per face, or one row."""
        current: _Open | None = getattr(self._local, "open", None)
        assert current is not None, "a change is recorded inside a write transaction"
        rows = [{"kind": kind, "face_id": int(f), "person_id": person_id, "model": model}
                for f in face_ids] if face_ids is not None else [
            {"kind": kind, "face_id": None, "person_id": person_id, "model": model}]
        current.changes.extend(rows)

    def _append(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Append a write's changes to the feed, just before it commits. On PostgreSQL the
        feed's lock is held from here to the commit, so that ids are given in the order the
        writes commit (a process that has seen change n has seen every change before it);
        SQLite's one writer at a time gives that order already."""
        unique = list({tuple(r.values()): r for r in rows}.values())
        if not self.sqlite:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({self.feed_lock})")
        conn.execute(changes.insert(), unique)
        if not self.sqlite:
            conn.exec_driver_sql(f"NOTIFY {self.channel}")

    def _roll_back(self, conn: Connection) -> None:
        """End a failed transaction. Where even the rollback fails (a full disk), the
        connection is thrown away, which rolls back and lets go of the write lock."""
        try:
            conn.rollback()
        except Exception:
            with contextlib.suppress(Exception):
                conn.invalidate()

    def compact(self) -> None:
        """Fold the WAL into the main file and truncate it (after deletes: no old copies left).
        Busy readers, or a full disk, leave it for the next checkpoint: what was committed
        stays committed, so this never fails the delete that asked for it. (PostgreSQL's
        autovacuum does its own.)"""
        if not self.sqlite:
            return
        try:
            with self.engine.connect() as conn:
                raw = conn.connection.dbapi_connection
                assert raw is not None
                raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except Exception:
            log.warning("WAL checkpoint left for later", exc_info=True)

    # -- ids given ---------------------------------------------------------------------------

    def new_ids(self, conn: Connection, table: Table, rows: list[dict[str, Any]]) -> list[int]:
        """Insert these rows into a table whose ids the database gives: their ids, in order.
        PostgreSQL's ids are taken from the table's sequence first, so that the rows go in
        with the driver's executemany."""
        if self.sqlite:
            result = conn.execute(table.insert().returning(table.c.id,
                                                           sort_by_parameter_order=True), rows)
            return [int(r[0]) for r in result]
        ids = [int(r[0]) for r in conn.exec_driver_sql(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            (table.name, len(rows)))]
        conn.execute(table.insert(), [{**row, "id": i} for row, i in zip(rows, ids,
                                                                          strict=True)])
        return ids

    def ids_given(self, conn: Connection) -> dict[str, int]:
        """The highest id each table with one has ever given (deleted rows' included, where
        the database keeps count: SQLite's AUTOINCREMENT tables, PostgreSQL's sequences)."""
        given: dict[str, int] = {}
        for table in ID_TABLES:
            top = int(conn.exec_driver_sql(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
                      .scalar_one())
            if self.sqlite:
                counted = conn.exec_driver_sql(
                    "SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).scalar()
            else:
                counted = conn.exec_driver_sql(
                    "SELECT pg_sequence_last_value(pg_get_serial_sequence(%s, 'id'))",
                    (table,)).scalar()
            given[table] = max(top, int(counted or 0))
        return given

    def set_ids_given(self, conn: Connection, table: str, given: int) -> None:
        """Make `table` give ids above `given` from now on."""
        if given <= 0:
            return
        if not self.sqlite:
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)",
                                 (table, given))
            return
        counted = conn.exec_driver_sql("UPDATE sqlite_sequence SET seq = MAX(seq, ?) "
                                       "WHERE name = ?", (given, table)).rowcount
        if not counted and table in AUTOINCREMENT:
            conn.exec_driver_sql("INSERT INTO sqlite_sequence(name, seq) VALUES (?, ?)",
                                 (table, given))

    def ping(self) -> None:
        """A round trip to the database (`StoreUnavailable` where it cannot be reached)."""
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1").scalar()

    def problems(self) -> list[str]:
        """What the database's own integrity check finds wrong in its file (none: whole;
        PostgreSQL checks its pages itself)."""
        if not self.sqlite:
            return []
        with self.engine.connect() as conn:
            found = [str(r[0]) for r in conn.exec_driver_sql("PRAGMA integrity_check")]
        return [] if found == ["ok"] else found

    def close(self) -> None:
        self.engine.dispose()
