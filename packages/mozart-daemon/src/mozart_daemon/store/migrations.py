"""Numbered schema migrations of the state database.

``MIGRATIONS[i]`` takes a database from version ``i`` to ``i + 1`` (``PRAGMA user_version``).
Never edit a released migration: append a new one. ``tests/test_store_migrations.py`` opens
a database created at every earlier version and checks that its data survives.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: registry, checkpoints (sheets, attempts) and the event log.
    """
    CREATE TABLE jobs (
        job_id       TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        status       TEXT NOT NULL,
        description  TEXT,
        config_path  TEXT NOT NULL,
        workspace    TEXT NOT NULL,
        priority     INTEGER NOT NULL,
        total_sheets INTEGER NOT NULL,
        backend      TEXT NOT NULL,
        error        TEXT,
        created_at   TEXT NOT NULL,
        started_at   TEXT,
        finished_at  TEXT,
        updated_at   TEXT NOT NULL
    );
    CREATE INDEX jobs_by_created ON jobs (created_at DESC, job_id DESC);
    CREATE INDEX jobs_by_status ON jobs (status);
    CREATE TABLE sheets (
        job_id           TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
        sheet_num        INTEGER NOT NULL,
        status           TEXT NOT NULL,
        attempts         INTEGER NOT NULL DEFAULT 0,
        exit_code        INTEGER,
        error            TEXT,
        started_at       TEXT,
        finished_at      TEXT,
        duration_seconds REAL,
        stage            INTEGER NOT NULL,
        instance         INTEGER NOT NULL,
        PRIMARY KEY (job_id, sheet_num)
    );
    CREATE TABLE attempts (
        job_id           TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
        sheet_num        INTEGER NOT NULL,
        attempt          INTEGER NOT NULL,
        kind             TEXT NOT NULL,
        started_at       TEXT NOT NULL,
        finished_at      TEXT,
        exit_code        INTEGER,
        outcome          TEXT,
        error            TEXT,
        duration_seconds REAL,
        stdout_tail      TEXT,
        stderr_tail      TEXT,
        PRIMARY KEY (job_id, sheet_num, attempt)
    );
    CREATE TABLE events (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id    TEXT NOT NULL,
        type      TEXT NOT NULL,
        sheet_num INTEGER,
        attempt   INTEGER,
        message   TEXT,
        time      TEXT NOT NULL
    );
    CREATE INDEX events_by_job ON events (job_id, id);
    """,
    # 2: the learning store (one per daemon, shared by all jobs) and validation results
    # kept with each attempt.
    """
    CREATE TABLE learning_outcomes (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id           TEXT NOT NULL,
        sheet_num        INTEGER NOT NULL,
        attempt          INTEGER NOT NULL,
        backend          TEXT NOT NULL,
        outcome          TEXT NOT NULL,
        duration_seconds REAL,
        attempts         INTEGER NOT NULL,
        validations      TEXT NOT NULL DEFAULT '[]',
        error_class      TEXT,
        recorded_at      TEXT NOT NULL
    );
    CREATE INDEX learning_by_backend ON learning_outcomes (backend, recorded_at);
    ALTER TABLE attempts ADD COLUMN validations TEXT NOT NULL DEFAULT '[]';
    """,
    # 3: `job.list status=X` pages in index order (newest first) instead of sorting every
    # job in that state: 21 ms -> under 1 ms for the first page with 10,000 completed jobs.
    """
    CREATE INDEX jobs_by_status_created ON jobs (status, created_at DESC, job_id DESC);
    DROP INDEX jobs_by_status;
    """,
    # 4: patterns mined from the outcomes (the in-memory index of the LearningHub, persisted),
    # each outcome's attempt kind and error, and the per-job lookup behind expected durations.
    """
    CREATE TABLE learning_patterns (
        id                  TEXT PRIMARY KEY,
        kind                TEXT NOT NULL,
        backend             TEXT NOT NULL,
        rule_type           TEXT,
        path                TEXT,
        pattern             TEXT,
        description         TEXT,
        error_class         TEXT,
        last_error          TEXT,
        last_job_id         TEXT NOT NULL,
        occurrences         INTEGER NOT NULL DEFAULT 0,
        fixed_by_retry      INTEGER NOT NULL DEFAULT 0,
        fixed_by_completion INTEGER NOT NULL DEFAULT 0,
        given               INTEGER NOT NULL DEFAULT 0,
        given_passed        INTEGER NOT NULL DEFAULT 0,
        first_seen          TEXT NOT NULL,
        last_seen           TEXT NOT NULL
    );
    ALTER TABLE learning_outcomes ADD COLUMN kind TEXT NOT NULL DEFAULT 'normal';
    ALTER TABLE learning_outcomes ADD COLUMN error TEXT;
    CREATE INDEX learning_by_job ON learning_outcomes (job_id, sheet_num);
    """,
    # 5: events and learning outcomes without AUTOINCREMENT, which read and rewrote their
    # row of sqlite_sequence at every insert (six a job, 5,000 instructions each). A rowid
    # is then the largest one + 1, so it is never reused as long as the newest row stays:
    # no outcome is ever deleted, and the registry keeps a replaced job's newest event as a
    # mark (job id '', no score's name, type 'mark') while it is the newest
    # (``registry.create``). The largest event id AUTOINCREMENT handed out, if its row is
    # gone, gets such a mark here.
    """
    CREATE TABLE events_v5 (
        id        INTEGER PRIMARY KEY,
        job_id    TEXT NOT NULL,
        type      TEXT NOT NULL,
        sheet_num INTEGER,
        attempt   INTEGER,
        message   TEXT,
        time      TEXT NOT NULL
    );
    INSERT INTO events_v5 SELECT id, job_id, type, sheet_num, attempt, message, time FROM events;
    INSERT INTO events_v5 (id, job_id, type, time)
        SELECT seq, '', 'mark', strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now') FROM sqlite_sequence
        WHERE name = 'events' AND seq > (SELECT COALESCE(MAX(id), 0) FROM events);
    DROP TABLE events;
    ALTER TABLE events_v5 RENAME TO events;
    CREATE INDEX events_by_job ON events (job_id, id);
    CREATE TABLE learning_outcomes_v5 (
        id               INTEGER PRIMARY KEY,
        job_id           TEXT NOT NULL,
        sheet_num        INTEGER NOT NULL,
        attempt          INTEGER NOT NULL,
        backend          TEXT NOT NULL,
        outcome          TEXT NOT NULL,
        duration_seconds REAL,
        attempts         INTEGER NOT NULL,
        validations      TEXT NOT NULL DEFAULT '[]',
        error_class      TEXT,
        recorded_at      TEXT NOT NULL,
        kind             TEXT NOT NULL DEFAULT 'normal',
        error            TEXT
    );
    INSERT INTO learning_outcomes_v5 SELECT id, job_id, sheet_num, attempt, backend, outcome,
        duration_seconds, attempts, validations, error_class, recorded_at, kind, error
        FROM learning_outcomes;
    DROP TABLE learning_outcomes;
    ALTER TABLE learning_outcomes_v5 RENAME TO learning_outcomes;
    CREATE INDEX learning_by_backend ON learning_outcomes (backend, recorded_at);
    CREATE INDEX learning_by_job ON learning_outcomes (job_id, sheet_num);
    DELETE FROM sqlite_sequence WHERE name IN ('events', 'learning_outcomes');
    """,
    # 6: the jobs' indexes in ascending order (a query scans them backwards for newest first,
    # with the same plans): a new job's entry then goes after the others, at the b-tree's
    # right edge for ``jobs_by_created``, where SQLite starts a new page when the last one
    # fills instead of rebalancing three neighbours. And no learning_by_backend: no query
    # searches outcomes by backend, and the totals per backend read at startup scan the table
    # faster without it (77 instead of 114 ms for 200,000 outcomes). A commit of three
    # one-sheet jobs wrote 24.7 pages to the WAL, now 19.5 (of one job, 17.8 -> 14.1).
    """
    DROP INDEX jobs_by_created;
    CREATE INDEX jobs_by_created ON jobs (created_at, job_id);
    DROP INDEX jobs_by_status_created;
    CREATE INDEX jobs_by_status_created ON jobs (status, created_at, job_id);
    DROP INDEX learning_by_backend;
    """,
    # 7: jobs and sheets WITHOUT ROWID: each was a table by rowid plus the index of its
    # primary key (sqlite_autoindex_jobs_1, _sheets_1), written at every insert and searched
    # before every update; now the table is that index. A commit writes about a tenth fewer
    # pages to the WAL (a store replay of one-sheet jobs, three a commit: 9.98 -> 9.12 a
    # job). The other indexes hold job_id already, so they are no larger. ``attempts`` keeps
    # its rowid: its rows carry the output tails (up to 8 KB), which a WITHOUT ROWID table
    # would copy into its interior pages. (Run with foreign keys off: ``_migrate_one``.)
    """
    CREATE TABLE jobs_v7 (
        job_id       TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        status       TEXT NOT NULL,
        description  TEXT,
        config_path  TEXT NOT NULL,
        workspace    TEXT NOT NULL,
        priority     INTEGER NOT NULL,
        total_sheets INTEGER NOT NULL,
        backend      TEXT NOT NULL,
        error        TEXT,
        created_at   TEXT NOT NULL,
        started_at   TEXT,
        finished_at  TEXT,
        updated_at   TEXT NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO jobs_v7 SELECT job_id, name, status, description, config_path, workspace,
        priority, total_sheets, backend, error, created_at, started_at, finished_at,
        updated_at FROM jobs;
    CREATE TABLE sheets_v7 (
        job_id           TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
        sheet_num        INTEGER NOT NULL,
        status           TEXT NOT NULL,
        attempts         INTEGER NOT NULL DEFAULT 0,
        exit_code        INTEGER,
        error            TEXT,
        started_at       TEXT,
        finished_at      TEXT,
        duration_seconds REAL,
        stage            INTEGER NOT NULL,
        instance         INTEGER NOT NULL,
        PRIMARY KEY (job_id, sheet_num)
    ) WITHOUT ROWID;
    INSERT INTO sheets_v7 SELECT job_id, sheet_num, status, attempts, exit_code, error,
        started_at, finished_at, duration_seconds, stage, instance FROM sheets;
    DROP TABLE sheets;
    DROP TABLE jobs;
    ALTER TABLE jobs_v7 RENAME TO jobs;
    ALTER TABLE sheets_v7 RENAME TO sheets;
    CREATE INDEX jobs_by_created ON jobs (created_at, job_id);
    CREATE INDEX jobs_by_status_created ON jobs (status, created_at, job_id);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
