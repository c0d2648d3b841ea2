"""The SQL of the hourly and daily roll-ups, as named constants: `rollups` keeps them (and marks
what a batch changes), `sweep` reads them.

Each statement by unit ("hour" or "day"). Hours are `ts_ms / 3600000`, days `ts_ms / 86400000`;
ranges are [first, end). rollup_hours (rollup_days) has a row for every hour (day) that holds
events; a stale one is computed again.
"""

UNITS = ("hour", "day")
# `marked` of an hour or day: the data generation of the write that last marked it (each write
# transaction moves the generation on), so a roll-up computed from what a reader saw is stored only
# if no write marked its unit since.
MARK_SQL = {unit: f"""
INSERT INTO rollup_{unit}s ({unit}, events, stale, marked) VALUES (?, 0, 1, ?)
ON CONFLICT ({unit}) DO UPDATE SET stale = 1, marked = excluded.marked
""" for unit in UNITS}
MARK_STALE_SQL = {unit: f"UPDATE rollup_{unit}s SET stale = 1, marked = ? WHERE {unit} >= ? AND {unit} < ?"
                  for unit in UNITS}
# Hours whose rows a write changed in place (`SETTLE_UNKNOWN_HOURS_SQL`), marked without making them stale.
TOUCH_HOURS_SQL = "UPDATE rollup_hours SET marked = ? WHERE hour >= ? AND hour < ?"
MARKED_SQL = {unit: f"SELECT stale, marked FROM rollup_{unit}s WHERE {unit} = ?" for unit in UNITS}
# A keeper's turn to compute the roll-ups, until :until_ms: taken when it is its own or has ended.
TAKE_KEEPER_TURN_SQL = """
UPDATE rollup_keeper SET holder = :holder, until_ms = :until_ms
WHERE id = 1 AND (holder = :holder OR until_ms <= :now_ms)
"""
MARK_ALL_STALE_SQL = {
    "hour": "UPDATE rollup_hours SET stale = 1, until_ms = NULL, marked = ?",
    "day": "UPDATE rollup_days SET stale = 1, marked = ?"}
EVENT_UNITS_SQL = {unit: f"SELECT {unit}, stale, events FROM rollup_{unit}s WHERE {unit} >= ? AND {unit} < ? "
                         f"ORDER BY {unit}" for unit in UNITS}
COMPUTED_SQL = {"hour": "UPDATE rollup_hours SET events = ?, stale = 0, until_ms = NULL WHERE hour = ?",
                "day": "UPDATE rollup_days SET events = ?, stale = 0 WHERE day = ?"}
# The first part of a stale hour `[hour start, until_ms)`: what its rows hold when `until_ms` is
# set (the current hour's, kept by the keeper); a new event before `until_ms` clears it.
HOUR_PART_SQL = "SELECT until_ms, events FROM rollup_hours WHERE hour = ? AND stale = 1 AND until_ms IS NOT NULL"
PART_COMPUTED_SQL = "UPDATE rollup_hours SET events = ?, until_ms = ? WHERE hour = ?"
FORGET_PARTS_SQL = "UPDATE rollup_hours SET until_ms = NULL WHERE until_ms > ?"
LATEST_IN_HOUR_SQL = "SELECT MAX(ts_ms) FROM events WHERE ts_ms >= ? AND ts_ms < ?"
# A computed hour's figures from its start up to a mark (see sweep.MARK_MS).
HOUR_MARK_SQL = """
SELECT rollup_hour_marks.events, workers, stations FROM rollup_hour_marks JOIN rollup_hours USING (hour)
WHERE hour = ? AND mark_ms = ? AND stale = 0
"""
SAVE_MARK_SQL = "INSERT INTO rollup_hour_marks (hour, mark_ms, events, workers, stations) VALUES (?, ?, ?, ?, ?)"
FORGET_MARKS_SQL = "DELETE FROM rollup_hour_marks WHERE hour = ?"
FORGET_OLD_MARKS_SQL = "DELETE FROM rollup_hour_marks WHERE hour < ?"
# The marks of hours `[?, ?)` whose rows a write changed in place (`SETTLE_UNKNOWN_HOURS_SQL`).
FORGET_MARKS_IN_SQL = "DELETE FROM rollup_hour_marks WHERE hour >= ? AND hour < ?"
FORGET_SQL = {unit: (f"DELETE FROM rollup_worker_{unit}s WHERE {unit} = ?",
                     f"DELETE FROM rollup_station_{unit}s WHERE {unit} = ?") for unit in UNITS}
SAVE_STATION_SQL = {unit: f"""
INSERT INTO rollup_station_{unit}s ({unit}, workstation_id, occupancy_ms, units) VALUES (?, ?, ?, ?)
""" for unit in UNITS}
# Sums over a run of computed units `[:first, :end)` by id, all in slot 0, or by `slotted` slots
# of `:slot_units` units counted from the unit `:origin` (at or before `:first`) and id.
# The sums are cast to BIGINT: PostgreSQL's SUM of a BIGINT is a `numeric`, which the driver
# would hand to a Python conversion value by value (a long window's chart reads tens of thousands).
def _sum_sql(unit, table, id_column, columns, slotted):
    slot, by = (f"({unit} - :origin) / :slot_units", "slot, ") if slotted else ("0", "")
    sums = ", ".join(f"CAST(SUM({column}) AS BIGINT)" for column in columns)
    return (f"SELECT {slot} AS slot, {id_column}, {sums} FROM {table}_{unit}s "
            f"WHERE {unit} >= :first AND {unit} < :end GROUP BY {by}{id_column}")


SUM_WORKER_SQL = {(unit, slotted): _sum_sql(unit, "rollup_worker", "worker_id",
                                            ("working_ms", "idle_ms", "absent_ms", "unknown_ms", "units"), slotted)
                  for unit in UNITS for slotted in (False, True)}
SUM_STATION_SQL = {(unit, slotted): _sum_sql(unit, "rollup_station", "workstation_id", ("occupancy_ms", "units"),
                                             slotted)
                   for unit in UNITS for slotted in (False, True)}
PREVIOUS_EVENT_HOUR_SQL = "SELECT hour, stale FROM rollup_hours WHERE hour < ? ORDER BY hour DESC LIMIT 1"
STALE_SQL = {
    # The stale hours before hour `?` last marked at generation `?` or before, oldest first.
    "hour": "SELECT hour, marked FROM rollup_hours WHERE stale = 1 AND hour < ? AND marked <= ? ORDER BY hour LIMIT ?",
    # The stale days before day `?` last marked at generation `?` or before, none of whose hours
    # is stale, oldest first.
    "day": """
SELECT day, marked FROM rollup_days
WHERE stale = 1 AND day < ? AND marked <= ?
  AND NOT EXISTS (SELECT 1 FROM rollup_hours WHERE stale = 1 AND hour >= day * 24 AND hour < day * 24 + 24)
ORDER BY day LIMIT ?
"""}
# A worker's row of an hour also holds its latest state event at the hour's end.
SAVE_WORKER_SQL = {
    "hour": """
INSERT INTO rollup_worker_hours (hour, worker_id, working_ms, idle_ms, absent_ms, unknown_ms, units,
                                 last_ts_ms, last_state, last_workstation_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
""",
    "day": """
INSERT INTO rollup_worker_days (day, worker_id, working_ms, idle_ms, absent_ms, unknown_ms, units)
VALUES (?, ?, ?, ?, ?, ?, ?)
""",
}
# A worker's rows in hours `[?, ?)` with events, all of whose time is unknown (past the horizon of
# its latest state event, the one given): a new row is a whole hour of unknown time; a row kept
# only takes that latest event.
SETTLE_UNKNOWN_HOURS_SQL = """
INSERT INTO rollup_worker_hours (hour, worker_id, working_ms, idle_ms, absent_ms, unknown_ms, units,
                                 last_ts_ms, last_state, last_workstation_id)
SELECT hour, CAST(:worker_id AS TEXT), 0, 0, 0, CAST(:hour_ms AS BIGINT), 0, CAST(:ts_ms AS BIGINT),
       CAST(:state AS TEXT), CAST(:workstation_id AS TEXT)
FROM rollup_hours
WHERE hour >= :first AND hour < :end
ON CONFLICT (hour, worker_id) DO UPDATE SET
    last_ts_ms = excluded.last_ts_ms, last_state = excluded.last_state,
    last_workstation_id = excluded.last_workstation_id
"""
# Each worker's latest state event in hour :hour before :instant_ms (of several at one instant,
# the last to arrive): its latest instant there, read from the hour's index alone, then that event.
LATEST_STATES_IN_HOUR_SQL = """
SELECT events.worker_id, events.ts_ms, events.event_type, events.workstation_id
FROM (SELECT worker_id, MAX(ts_ms) AS ts_ms FROM events
      WHERE ts_ms / 3600000 = :hour AND ts_ms < :instant_ms AND event_type != 'product_count'
      GROUP BY worker_id) AS latest
JOIN events ON events.id = (
    SELECT id FROM events AS at_latest
    WHERE at_latest.ts_ms / 3600000 = :hour AND at_latest.worker_id = latest.worker_id
      AND at_latest.ts_ms = latest.ts_ms AND at_latest.event_type != 'product_count'
    ORDER BY id DESC LIMIT 1)
"""
# Each worker's latest state event at the end of an hour.
HOUR_LAST_STATES_SQL = """
SELECT worker_id, last_ts_ms, last_state, last_workstation_id FROM rollup_worker_hours
WHERE hour = ? AND last_ts_ms IS NOT NULL
"""
# The signal horizon the stored roll-ups hold (no row: none stored yet; NULL: no horizon).
ROLLUP_HORIZON_SQL = "SELECT max_gap_ms FROM rollup_horizon WHERE id = 1"
SET_ROLLUP_HORIZON_SQL = """
INSERT INTO rollup_horizon (id, max_gap_ms) VALUES (1, ?)
ON CONFLICT (id) DO UPDATE SET max_gap_ms = excluded.max_gap_ms
"""
