"""The schema of both stores, by version: SQLite's from its first file format on, PostgreSQL's
from the version it was added at. An upgrade runs the entries a database has not run yet, in one
transaction (`db.upgrade`); the two lists grow in step, which a test holds."""


def _model_hours_sql(id_type, confidence_type):
    """Migration 20 with each store's column types (a released entry as the others: never edited)."""
    return f"""
    CREATE TABLE rollup_model_hours (
        hour BIGINT NOT NULL,
        site_id {id_type},
        model_version {id_type},
        confidence {confidence_type},
        events BIGINT NOT NULL,
        first_ms BIGINT NOT NULL,
        last_ms BIGINT NOT NULL
    );
    CREATE UNIQUE INDEX rollup_model_hours_key
        ON rollup_model_hours (hour, COALESCE(site_id, ''), COALESCE(model_version, ''), COALESCE(confidence, -1));
    INSERT INTO rollup_model_hours (hour, site_id, model_version, confidence, events, first_ms, last_ms)
        SELECT ts_ms / 3600000, site_id, model_version, confidence, COUNT(*), MIN(ts_ms), MAX(ts_ms)
        FROM events GROUP BY 1, 2, 3, 4;
    """


# Each entry upgrades the schema by one version; the list index + 1 is the version it produces.
# Never edit a released entry: append a new one, so older database files upgrade in place.
SQLITE_MIGRATIONS = [
    # 1: the tables. Instants are integer UTC epoch milliseconds.
    """
    CREATE TABLE workers (
        worker_id TEXT PRIMARY KEY,
        name TEXT NOT NULL
    );
    CREATE TABLE workstations (
        workstation_id TEXT PRIMARY KEY,
        name TEXT NOT NULL
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        event_id TEXT,
        ts_ms INTEGER NOT NULL,
        worker_id TEXT NOT NULL REFERENCES workers (worker_id),
        workstation_id TEXT NOT NULL REFERENCES workstations (workstation_id),
        event_type TEXT NOT NULL
            CHECK (event_type IN ('working', 'idle', 'absent', 'product_count')),
        confidence REAL,
        count INTEGER,
        model_version TEXT,
        site_id TEXT,
        received_at_ms INTEGER NOT NULL
    );
    """,
    # 2: indexes for idempotency and for the time model's reads.
    """
    CREATE UNIQUE INDEX events_event_id ON events (event_id) WHERE event_id IS NOT NULL;
    -- One worker's events by time: the carry-in seek, the window scan, duplicate lookups.
    CREATE INDEX events_worker_time ON events (worker_id, ts_ms);
    -- All events of a window: window bounds, unit sums, event counts, the live feed.
    CREATE INDEX events_time ON events (ts_ms);
    CREATE INDEX events_site_time ON events (site_id, ts_ms) WHERE site_id IS NOT NULL;
    """,
    # 3: hourly roll-ups, derived from the events and rebuilt whenever an event changes an hour.
    # An hour counts as computed while it has a row in rollup_hours; ingestion deletes that row
    # for every hour a new event changes (its worker and station rows are replaced when the hour
    # is computed again).
    """
    CREATE TABLE rollup_hours (
        hour INTEGER PRIMARY KEY,
        events INTEGER NOT NULL
    );
    CREATE TABLE rollup_worker_hours (
        hour INTEGER NOT NULL,
        worker_id TEXT NOT NULL,
        working_ms INTEGER NOT NULL,
        idle_ms INTEGER NOT NULL,
        absent_ms INTEGER NOT NULL,
        units INTEGER NOT NULL,
        PRIMARY KEY (hour, worker_id)
    ) WITHOUT ROWID;
    CREATE TABLE rollup_station_hours (
        hour INTEGER NOT NULL,
        workstation_id TEXT NOT NULL,
        occupancy_ms INTEGER NOT NULL,
        units INTEGER NOT NULL,
        PRIMARY KEY (hour, workstation_id)
    ) WITHOUT ROWID;
    """,
    # 4: a counter every change of the stored events moves on, for cheap ETags on the metrics.
    """
    CREATE TABLE data_version (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        generation INTEGER NOT NULL
    );
    INSERT INTO data_version (id, generation) VALUES (1, 0);
    """,
    # 5: who and what appears at each site, kept on insert; cheaper to keep than an index of
    # every event by site, which each insert would have to maintain.
    """
    CREATE TABLE site_members (
        site_id TEXT NOT NULL,
        worker_id TEXT NOT NULL,
        workstation_id TEXT NOT NULL,
        PRIMARY KEY (site_id, worker_id, workstation_id)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO site_members (site_id, worker_id, workstation_id)
        SELECT DISTINCT site_id, worker_id, workstation_id FROM events WHERE site_id IS NOT NULL;
    DROP INDEX events_site_time;
    """,
    # 6: the time model reads one worker's state events only; product counts need not be in
    # that index, so every insert of one maintains a smaller index.
    """
    CREATE INDEX events_worker_states ON events (worker_id, ts_ms) WHERE event_type != 'product_count';
    DROP INDEX events_worker_time;
    """,
    # 7: one worker's state events by hour first, then worker and time. A batch of a live floor
    # then inserts into the few pages of the latest hours, not into one page per worker, which
    # was most of what storing a batch cost. A worker's events are found by a seek per hour; the
    # days on which each worker has state events, kept on insert, say which hours to look in.
    """
    CREATE TABLE worker_state_days (
        worker_id TEXT NOT NULL,
        day INTEGER NOT NULL,
        PRIMARY KEY (worker_id, day)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO worker_state_days (worker_id, day)
        SELECT DISTINCT worker_id, ts_ms / 86400000 FROM events WHERE event_type != 'product_count';
    CREATE INDEX events_worker_hour_states ON events (ts_ms / 3600000, worker_id, ts_ms)
        WHERE event_type != 'product_count';
    DROP INDEX events_worker_states;
    """,
    # 8: a count of the times every stored event was cleared (demo reloads). A server process
    # remembers which workers, stations, site members and state days its writes registered, and
    # registers them again once this count has moved.
    """
    ALTER TABLE data_version ADD COLUMN clears INTEGER NOT NULL DEFAULT 0;
    """,
    # 9: every write registers the names it needs, so the count of clears has no use.
    """
    ALTER TABLE data_version DROP COLUMN clears;
    """,
    # 10: the largest event row id the demo loaded (no row: no demo loaded), so a reload can tell
    # whether anything else would be deleted; and the row the health check writes.
    """
    CREATE TABLE demo_load (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_event_id INTEGER NOT NULL
    );
    CREATE TABLE health_check (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        checked_at_ms INTEGER NOT NULL
    );
    INSERT INTO health_check (id, checked_at_ms) VALUES (1, 0);
    """,
    # 11: the floor's setup (SPEC §5, "Sites, shifts and planned time"): the factory calendar,
    # sites with their own name, zone and shifts (JSON; NULL: the factory's), and each
    # workstation's site (that of the first event that registered it) and target.
    """
    CREATE TABLE factory_calendar (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        time_zone TEXT NOT NULL,
        shifts TEXT NOT NULL
    );
    CREATE TABLE sites (
        site_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        time_zone TEXT,
        shifts TEXT
    );
    ALTER TABLE workstations ADD COLUMN site_id TEXT;
    ALTER TABLE workstations ADD COLUMN target_units_per_hour REAL;
    CREATE TEMP TABLE first_sites (workstation_id TEXT PRIMARY KEY, site_id TEXT);
    INSERT INTO first_sites (workstation_id, site_id)
        SELECT workstation_id, site_id FROM (
            SELECT workstation_id, site_id, MIN(id) FROM events GROUP BY workstation_id);
    UPDATE workstations SET site_id = (
        SELECT site_id FROM first_sites WHERE first_sites.workstation_id = workstations.workstation_id);
    DROP TABLE first_sites;
    """,
    # 12: roll-ups hold the figures at the server's signal horizon, unknown time included, and
    # record the horizon they were computed with (no row: none yet). Those stored before were
    # computed without a horizon, so they go.
    """
    DELETE FROM rollup_hours;
    DELETE FROM rollup_worker_hours;
    DELETE FROM rollup_station_hours;
    ALTER TABLE rollup_worker_hours ADD COLUMN unknown_ms INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE rollup_horizon (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        max_gap_ms INTEGER
    );
    """,
    # 13: alerts (SPEC §9). The rules and webhooks as configured; each alert, one spell of a rule's
    # condition for one subject (at most one open per rule and subject); each opening and closing
    # with the body every receiver gets; the changes each receiver has still to get, oldest first,
    # with the notifier that holds one while sending it; and the instant the rules were last
    # evaluated at, so a notifier that evaluated earlier than another has recorded changes nothing.
    """
    CREATE TABLE alert_rules (
        position INTEGER PRIMARY KEY,
        rule_id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        threshold REAL
    );
    CREATE TABLE alert_webhooks (
        position INTEGER PRIMARY KEY,
        url TEXT NOT NULL UNIQUE,
        secret TEXT NOT NULL
    );
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        rule_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        opened_at_ms INTEGER NOT NULL,
        closed_at_ms INTEGER,
        detail TEXT NOT NULL
    );
    CREATE UNIQUE INDEX alerts_open ON alerts (rule_id, subject) WHERE closed_at_ms IS NULL;
    CREATE INDEX alerts_opened ON alerts (opened_at_ms);
    CREATE TABLE alert_changes (
        id INTEGER PRIMARY KEY,
        alert_id INTEGER NOT NULL REFERENCES alerts (id),
        change TEXT NOT NULL CHECK (change IN ('opened', 'closed')),
        body TEXT NOT NULL
    );
    CREATE TABLE alert_deliveries (
        receiver TEXT NOT NULL,
        change_id INTEGER NOT NULL REFERENCES alert_changes (id),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL DEFAULT 0,
        claimed_by TEXT,
        claimed_until_ms INTEGER,
        last_error TEXT,
        PRIMARY KEY (receiver, change_id)
    ) WITHOUT ROWID;
    CREATE TABLE alert_evaluation (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        evaluated_at_ms INTEGER NOT NULL
    );
    """,
    # 14: roll-ups only for the hours that hold events. Each such hour has a row in rollup_hours
    # (ingestion adds it) saying whether its figures are stale; each worker row also holds the
    # worker's latest state event at the hour's end, so the empty hours between are worked out
    # from it. All hours start stale and are computed again.
    """
    DROP TABLE rollup_hours;
    DROP TABLE rollup_worker_hours;
    DROP TABLE rollup_station_hours;
    CREATE TABLE rollup_hours (
        hour BIGINT PRIMARY KEY,
        events BIGINT NOT NULL,
        stale INTEGER NOT NULL
    );
    CREATE INDEX rollup_stale_hours ON rollup_hours (hour) WHERE stale = 1;
    CREATE TABLE rollup_worker_hours (
        hour BIGINT NOT NULL,
        worker_id TEXT NOT NULL,
        working_ms BIGINT NOT NULL,
        idle_ms BIGINT NOT NULL,
        absent_ms BIGINT NOT NULL,
        unknown_ms BIGINT NOT NULL,
        units BIGINT NOT NULL,
        last_ts_ms BIGINT,
        last_state TEXT,
        last_workstation_id TEXT,
        PRIMARY KEY (hour, worker_id)
    );
    CREATE TABLE rollup_station_hours (
        hour BIGINT NOT NULL,
        workstation_id TEXT NOT NULL,
        occupancy_ms BIGINT NOT NULL,
        units BIGINT NOT NULL,
        PRIMARY KEY (hour, workstation_id)
    );
    INSERT INTO rollup_hours (hour, events, stale) SELECT ts_ms / 3600000, COUNT(*), 1 FROM events GROUP BY 1;
    """,
    # 15: daily roll-ups, so windows of months cost their days, not their hours. Each day that
    # holds events has a row in rollup_days; once computed (when none of its hours is stale), each
    # worker's and station's sums over the day, the empty hours between its events included.
    """
    CREATE TABLE rollup_days (
        day BIGINT PRIMARY KEY,
        events BIGINT NOT NULL,
        stale INTEGER NOT NULL
    );
    CREATE INDEX rollup_stale_days ON rollup_days (day) WHERE stale = 1;
    CREATE TABLE rollup_worker_days (
        day BIGINT NOT NULL,
        worker_id TEXT NOT NULL,
        working_ms BIGINT NOT NULL,
        idle_ms BIGINT NOT NULL,
        absent_ms BIGINT NOT NULL,
        unknown_ms BIGINT NOT NULL,
        units BIGINT NOT NULL,
        PRIMARY KEY (day, worker_id)
    );
    CREATE TABLE rollup_station_days (
        day BIGINT NOT NULL,
        workstation_id TEXT NOT NULL,
        occupancy_ms BIGINT NOT NULL,
        units BIGINT NOT NULL,
        PRIMARY KEY (day, workstation_id)
    );
    INSERT INTO rollup_days (day, events, stale) SELECT hour / 24, 0, 1 FROM rollup_hours GROUP BY 1;
    """,
    # 16: events per UTC day, site, model version and confidence, with the first and last instant,
    # so model figures over long windows add up days instead of reading every event. Events are
    # never changed, so ingestion adds to the day's row. A missing site, model or confidence is
    # NULL; the key compares them as '' and -1 (which no event holds: ids are never empty and a
    # confidence lies in [0, 1]), since a unique index takes NULLs as all distinct.
    """
    CREATE TABLE rollup_model_days (
        day BIGINT NOT NULL,
        site_id TEXT,
        model_version TEXT,
        confidence REAL,
        events BIGINT NOT NULL,
        first_ms BIGINT NOT NULL,
        last_ms BIGINT NOT NULL
    );
    CREATE UNIQUE INDEX rollup_model_days_key
        ON rollup_model_days (day, COALESCE(site_id, ''), COALESCE(model_version, ''), COALESCE(confidence, -1));
    INSERT INTO rollup_model_days (day, site_id, model_version, confidence, events, first_ms, last_ms)
        SELECT ts_ms / 86400000, site_id, model_version, confidence, COUNT(*), MIN(ts_ms), MAX(ts_ms)
        FROM events GROUP BY 1, 2, 3, 4;
    """,
    # 17: the roll-up of the current hour's first part, which the keeper keeps: the rows of a
    # stale hour hold `[hour start, until_ms)` when `until_ms` is set (NULL: nothing usable). A new
    # event before `until_ms` clears it; one after leaves that part as it is.
    HOUR_PARTS_SQL := """
    ALTER TABLE rollup_hours ADD COLUMN until_ms BIGINT;
    CREATE INDEX rollup_partial_hours ON rollup_hours (until_ms) WHERE until_ms IS NOT NULL;
    """,
    # 18: each recent computed hour's figures from its start to every fifth minute in it, so a window
    # starting inside the hour counts the hour whole, less its figures up to the next mark, and
    # works out only the events before that mark. Workers' rows `[worker_id, working_ms, idle_ms,
    # absent_ms, unknown_ms, units]` and stations' `[workstation_id, occupancy_ms, units]` as JSON.
    HOUR_MARKS_SQL := """
    CREATE TABLE rollup_hour_marks (
        hour BIGINT NOT NULL,
        mark_ms BIGINT NOT NULL,
        events BIGINT NOT NULL,
        workers TEXT NOT NULL,
        stations TEXT NOT NULL,
        PRIMARY KEY (hour, mark_ms)
    );
    """,
    # 19: the data generation (`data_version`) of the write that last marked each hour and day,
    # so a roll-up computed outside the writers' lock is stored only if no write marked it since,
    # and the hours a stream of batches is still filling wait until it has moved on; and whose
    # turn it is to compute them, so the keepers of several server processes do not all do it.
    MARKED_SQL := """
    ALTER TABLE rollup_hours ADD COLUMN marked BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE rollup_days ADD COLUMN marked BIGINT NOT NULL DEFAULT 0;
    CREATE TABLE rollup_keeper (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        holder TEXT NOT NULL,
        until_ms BIGINT NOT NULL
    );
    INSERT INTO rollup_keeper (id, holder, until_ms) VALUES (1, '', 0);
    """,
    # 20: events per UTC hour, site, model version and confidence, as the day roll-up (16) holds
    # them per day, so a confidence series in hourly buckets adds up hours instead of reading
    # every event.
    _model_hours_sql("TEXT", "REAL"),
]
SCHEMA_VERSION = len(SQLITE_MIGRATIONS)

ID = 'TEXT COLLATE "C"'  # ids sort and compare by their bytes, as in SQLite

# PostgreSQL's schema by version, as SQLite's: entry i produces version POSTGRES_FIRST_VERSION + i.
# A new database runs them all; append one here with every one appended to SQLite's.
POSTGRES_FIRST_VERSION = 13
POSTGRES_MIGRATIONS = [
    # 13: every table of SQLite's version 13. Instants are BIGINT UTC epoch milliseconds.
    f"""
    CREATE TABLE workers (
        worker_id {ID} PRIMARY KEY,
        name TEXT NOT NULL
    );
    CREATE TABLE workstations (
        workstation_id {ID} PRIMARY KEY,
        name TEXT NOT NULL,
        site_id {ID},
        target_units_per_hour DOUBLE PRECISION
    );
    CREATE TABLE events (
        id BIGINT PRIMARY KEY,
        event_id {ID} UNIQUE,
        ts_ms BIGINT NOT NULL,
        worker_id {ID} NOT NULL,
        workstation_id {ID} NOT NULL,
        event_type TEXT NOT NULL
            CHECK (event_type IN ('working', 'idle', 'absent', 'product_count')),
        confidence DOUBLE PRECISION,
        count INTEGER,
        model_version {ID},
        site_id {ID},
        received_at_ms BIGINT NOT NULL
    );
    CREATE INDEX events_time ON events (ts_ms);
    CREATE INDEX events_worker_hour_states ON events ((ts_ms / 3600000), worker_id, ts_ms)
        WHERE event_type <> 'product_count';
    CREATE TABLE rollup_hours (
        hour BIGINT PRIMARY KEY,
        events BIGINT NOT NULL
    );
    CREATE TABLE rollup_worker_hours (
        hour BIGINT NOT NULL,
        worker_id {ID} NOT NULL,
        working_ms BIGINT NOT NULL,
        idle_ms BIGINT NOT NULL,
        absent_ms BIGINT NOT NULL,
        units BIGINT NOT NULL,
        unknown_ms BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (hour, worker_id)
    );
    CREATE TABLE rollup_station_hours (
        hour BIGINT NOT NULL,
        workstation_id {ID} NOT NULL,
        occupancy_ms BIGINT NOT NULL,
        units BIGINT NOT NULL,
        PRIMARY KEY (hour, workstation_id)
    );
    CREATE TABLE rollup_horizon (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        max_gap_ms BIGINT
    );
    CREATE TABLE data_version (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        generation BIGINT NOT NULL
    );
    INSERT INTO data_version (id, generation) VALUES (1, 0);
    CREATE TABLE site_members (
        site_id {ID} NOT NULL,
        worker_id {ID} NOT NULL,
        workstation_id {ID} NOT NULL,
        PRIMARY KEY (site_id, worker_id, workstation_id)
    );
    CREATE TABLE worker_state_days (
        worker_id {ID} NOT NULL,
        day BIGINT NOT NULL,
        PRIMARY KEY (worker_id, day)
    );
    CREATE TABLE demo_load (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_event_id BIGINT NOT NULL
    );
    CREATE TABLE health_check (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        checked_at_ms BIGINT NOT NULL
    );
    INSERT INTO health_check (id, checked_at_ms) VALUES (1, 0);
    CREATE TABLE factory_calendar (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        time_zone TEXT NOT NULL,
        shifts TEXT NOT NULL
    );
    CREATE TABLE sites (
        site_id {ID} PRIMARY KEY,
        name TEXT NOT NULL,
        time_zone TEXT,
        shifts TEXT
    );
    CREATE TABLE alert_rules (
        position INTEGER PRIMARY KEY,
        rule_id {ID} NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        threshold DOUBLE PRECISION
    );
    CREATE TABLE alert_webhooks (
        position INTEGER PRIMARY KEY,
        url {ID} NOT NULL UNIQUE,
        secret TEXT NOT NULL
    );
    CREATE TABLE alerts (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        rule_id {ID} NOT NULL,
        kind TEXT NOT NULL,
        subject {ID} NOT NULL,
        opened_at_ms BIGINT NOT NULL,
        closed_at_ms BIGINT,
        detail TEXT NOT NULL
    );
    CREATE UNIQUE INDEX alerts_open ON alerts (rule_id, subject) WHERE closed_at_ms IS NULL;
    CREATE INDEX alerts_opened ON alerts (opened_at_ms);
    CREATE TABLE alert_changes (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        alert_id BIGINT NOT NULL REFERENCES alerts (id),
        change TEXT NOT NULL CHECK (change IN ('opened', 'closed')),
        body TEXT NOT NULL
    );
    CREATE TABLE alert_deliveries (
        receiver {ID} NOT NULL,
        change_id BIGINT NOT NULL REFERENCES alert_changes (id),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms BIGINT NOT NULL DEFAULT 0,
        claimed_by TEXT,
        claimed_until_ms BIGINT,
        last_error TEXT,
        PRIMARY KEY (receiver, change_id)
    );
    CREATE TABLE alert_evaluation (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        evaluated_at_ms BIGINT NOT NULL
    );
    """,
    # 14: as SQLite's: roll-ups only for the hours that hold events, each worker row with the
    # worker's latest state event at the hour's end; all hours start stale.
    f"""
    DROP TABLE rollup_hours;
    DROP TABLE rollup_worker_hours;
    DROP TABLE rollup_station_hours;
    CREATE TABLE rollup_hours (
        hour BIGINT PRIMARY KEY,
        events BIGINT NOT NULL,
        stale INTEGER NOT NULL
    );
    CREATE INDEX rollup_stale_hours ON rollup_hours (hour) WHERE stale = 1;
    CREATE TABLE rollup_worker_hours (
        hour BIGINT NOT NULL,
        worker_id {ID} NOT NULL,
        working_ms BIGINT NOT NULL,
        idle_ms BIGINT NOT NULL,
        absent_ms BIGINT NOT NULL,
        unknown_ms BIGINT NOT NULL,
        units BIGINT NOT NULL,
        last_ts_ms BIGINT,
        last_state TEXT,
        last_workstation_id {ID},
        PRIMARY KEY (hour, worker_id)
    );
    CREATE TABLE rollup_station_hours (
        hour BIGINT NOT NULL,
        workstation_id {ID} NOT NULL,
        occupancy_ms BIGINT NOT NULL,
        units BIGINT NOT NULL,
        PRIMARY KEY (hour, workstation_id)
    );
    INSERT INTO rollup_hours (hour, events, stale) SELECT ts_ms / 3600000, COUNT(*), 1 FROM events GROUP BY 1;
    """,
    # 15: as SQLite's: daily roll-ups, every day with events stale at first.
    f"""
    CREATE TABLE rollup_days (
        day BIGINT PRIMARY KEY,
        events BIGINT NOT NULL,
        stale INTEGER NOT NULL
    );
    CREATE INDEX rollup_stale_days ON rollup_days (day) WHERE stale = 1;
    CREATE TABLE rollup_worker_days (
        day BIGINT NOT NULL,
        worker_id {ID} NOT NULL,
        working_ms BIGINT NOT NULL,
        idle_ms BIGINT NOT NULL,
        absent_ms BIGINT NOT NULL,
        unknown_ms BIGINT NOT NULL,
        units BIGINT NOT NULL,
        PRIMARY KEY (day, worker_id)
    );
    CREATE TABLE rollup_station_days (
        day BIGINT NOT NULL,
        workstation_id {ID} NOT NULL,
        occupancy_ms BIGINT NOT NULL,
        units BIGINT NOT NULL,
        PRIMARY KEY (day, workstation_id)
    );
    INSERT INTO rollup_days (day, events, stale) SELECT hour / 24, 0, 1 FROM rollup_hours GROUP BY 1;
    """,
    # 16: as SQLite's: events per UTC day, site, model version and confidence, NULLs keyed as '' and -1.
    f"""
    CREATE TABLE rollup_model_days (
        day BIGINT NOT NULL,
        site_id {ID},
        model_version {ID},
        confidence DOUBLE PRECISION,
        events BIGINT NOT NULL,
        first_ms BIGINT NOT NULL,
        last_ms BIGINT NOT NULL
    );
    CREATE UNIQUE INDEX rollup_model_days_key
        ON rollup_model_days (day, COALESCE(site_id, ''), COALESCE(model_version, ''), COALESCE(confidence, -1));
    INSERT INTO rollup_model_days (day, site_id, model_version, confidence, events, first_ms, last_ms)
        SELECT ts_ms / 86400000, site_id, model_version, confidence, COUNT(*), MIN(ts_ms), MAX(ts_ms)
        FROM events GROUP BY 1, 2, 3, 4;
    """,
    HOUR_PARTS_SQL,  # 17: as SQLite's (the same statements on either store)
    HOUR_MARKS_SQL,  # 18: as SQLite's
    MARKED_SQL,  # 19: as SQLite's
    _model_hours_sql(ID, "DOUBLE PRECISION"),  # 20: as SQLite's, with PostgreSQL's types
]
