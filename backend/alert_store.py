"""Alerts as stored (SPEC §9): the rules and webhooks, the alerts, their changes and each
receiver's queue of deliveries; the SQL, as named constants, and the thin reads and writes on it.
Writes run inside the caller's transaction."""

from .queries import plain

ALERT_RULES_SQL = "SELECT rule_id, kind, threshold FROM alert_rules ORDER BY position"
ALERT_WEBHOOKS_SQL = "SELECT url, secret FROM alert_webhooks ORDER BY position"
CLEAR_ALERT_RULES_SQL = ("DELETE FROM alert_rules", "DELETE FROM alert_webhooks")
SAVE_ALERT_RULE_SQL = "INSERT INTO alert_rules (position, rule_id, kind, threshold) VALUES (?, ?, ?, ?)"
SAVE_ALERT_WEBHOOK_SQL = "INSERT INTO alert_webhooks (position, url, secret) VALUES (?, ?, ?)"
DROP_DELIVERIES_SQL = "DELETE FROM alert_deliveries WHERE receiver = ?"
EVALUATED_AT_SQL = "SELECT evaluated_at_ms FROM alert_evaluation WHERE id = 1"
SET_EVALUATED_AT_SQL = """
INSERT INTO alert_evaluation (id, evaluated_at_ms) VALUES (1, ?)
ON CONFLICT (id) DO UPDATE SET evaluated_at_ms = excluded.evaluated_at_ms
"""
ALERT_COLUMNS = "id, rule_id, kind, subject, opened_at_ms, closed_at_ms, detail"
OPEN_ALERTS_SQL = f"SELECT {ALERT_COLUMNS} FROM alerts WHERE closed_at_ms IS NULL ORDER BY id"
ONE_ALERT_SQL = f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?"
INSERT_ALERT_SQL = """
INSERT INTO alerts (rule_id, kind, subject, opened_at_ms, detail) VALUES (?, ?, ?, ?, ?) RETURNING id
"""
CLOSE_ALERT_SQL = "UPDATE alerts SET closed_at_ms = ? WHERE id = ? AND closed_at_ms IS NULL"
LIST_ALERTS_SQL = f"""
SELECT {ALERT_COLUMNS} FROM alerts
WHERE :state = 'all'
    OR (:state = 'open' AND closed_at_ms IS NULL)
    OR (:state = 'closed' AND closed_at_ms IS NOT NULL)
ORDER BY opened_at_ms DESC, id DESC
LIMIT :limit
"""
INSERT_ALERT_CHANGE_SQL = "INSERT INTO alert_changes (alert_id, change, body) VALUES (?, ?, ?) RETURNING id"
QUEUE_DELIVERY_SQL = "INSERT INTO alert_deliveries (receiver, change_id) VALUES (?, ?)"
PENDING_DELIVERIES_SQL = "SELECT COUNT(*) FROM alert_deliveries"
# Each receiver's oldest undelivered change: its queue is taken in order and waits on its head.
# A webhook's secret is read at sending, so a new secret signs what is still queued.
DELIVERY_HEADS_SQL = """
SELECT heads.receiver, heads.change_id, heads.attempts, heads.next_attempt_ms, heads.claimed_by,
       heads.claimed_until_ms, changes.body, webhooks.secret
FROM alert_deliveries AS heads
JOIN alert_changes AS changes ON changes.id = heads.change_id
LEFT JOIN alert_webhooks AS webhooks ON webhooks.url = heads.receiver
WHERE heads.change_id = (SELECT MIN(change_id) FROM alert_deliveries AS queue WHERE queue.receiver = heads.receiver)
ORDER BY heads.receiver
"""
# Claimed only when nobody holds it, or the holder's claim ran out (it may have died sending).
CLAIM_DELIVERY_SQL = """
UPDATE alert_deliveries SET claimed_by = :me, claimed_until_ms = :until_ms
WHERE receiver = :receiver AND change_id = :change_id
    AND (claimed_by IS NULL OR claimed_until_ms <= :now_ms OR claimed_by = :me)
"""
DELIVERED_SQL = """
DELETE FROM alert_deliveries WHERE receiver = :receiver AND change_id = :change_id AND claimed_by = :me
"""
RETRY_DELIVERY_SQL = """
UPDATE alert_deliveries
SET attempts = attempts + 1, next_attempt_ms = :next_attempt_ms, last_error = :error,
    claimed_by = NULL, claimed_until_ms = NULL
WHERE receiver = :receiver AND change_id = :change_id AND claimed_by = :me
"""


def alert_rules(conn):
    """`(rule_id, kind, threshold)` of every configured alert rule, in their order."""
    return plain(conn).execute(ALERT_RULES_SQL).fetchall()


def alert_webhooks(conn):
    """`(url, secret)` of every configured webhook, in their order."""
    return plain(conn).execute(ALERT_WEBHOOKS_SQL).fetchall()


def save_alert_rules(conn, rules, webhooks):
    """Replace the rules (`(rule_id, kind, threshold)`) and webhooks (`(url, secret)`) inside the
    caller's write transaction; changes still queued for a webhook no longer listed are dropped."""
    kept = {url for url, _secret in webhooks}
    for url, _secret in alert_webhooks(conn):
        if url not in kept:
            conn.execute(DROP_DELIVERIES_SQL, (url,))
    for sql in CLEAR_ALERT_RULES_SQL:
        conn.execute(sql)
    conn.executemany(SAVE_ALERT_RULE_SQL, [(position, *rule) for position, rule in enumerate(rules)])
    conn.executemany(SAVE_ALERT_WEBHOOK_SQL, [(position, *hook) for position, hook in enumerate(webhooks)])


def alerts_evaluated_at(conn):
    """The instant the rules were last evaluated at and the outcome stored (`None`: never)."""
    row = conn.execute(EVALUATED_AT_SQL).fetchone()
    return None if row is None else row[0]


def set_alerts_evaluated_at(conn, now_ms):
    """Record the instant of the evaluation being stored, inside the caller's write transaction."""
    conn.execute(SET_EVALUATED_AT_SQL, (now_ms,))


def open_alerts(conn):
    """Every open alert as a row of `ALERT_COLUMNS`, oldest first."""
    return conn.execute(OPEN_ALERTS_SQL).fetchall()


def get_alert(conn, alert_id):
    """One alert as a row of `ALERT_COLUMNS`."""
    return conn.execute(ONE_ALERT_SQL, (alert_id,)).fetchone()


def insert_alert(conn, rule_id, kind, subject, opened_at_ms, detail_json):
    """Open an alert inside the caller's write transaction; returns its id."""
    return conn.execute(INSERT_ALERT_SQL, (rule_id, kind, subject, opened_at_ms, detail_json)).fetchone()[0]


def close_alert(conn, alert_id, closed_at_ms):
    """Close an open alert inside the caller's write transaction."""
    conn.execute(CLOSE_ALERT_SQL, (closed_at_ms, alert_id))


def list_alerts(conn, state, limit):
    """Alerts (`state`: `open`, `closed` or `all`), newest first, at most `limit`, as rows of `ALERT_COLUMNS`."""
    return conn.execute(LIST_ALERTS_SQL, {"state": state, "limit": limit}).fetchall()


def queue_alert_change(conn, alert_id, change, body, receivers):
    """Store one change of an alert with its body and queue it for each receiver, inside the
    caller's write transaction; returns the change's id."""
    change_id = conn.execute(INSERT_ALERT_CHANGE_SQL, (alert_id, change, body)).fetchone()[0]
    conn.executemany(QUEUE_DELIVERY_SQL, [(receiver, change_id) for receiver in receivers])
    return change_id


def pending_deliveries(conn):
    """How many deliveries are still queued, for all receivers together."""
    return conn.execute(PENDING_DELIVERIES_SQL).fetchone()[0]


def delivery_heads(conn):
    """Each receiver's oldest queued change: rows of `DELIVERY_HEADS_SQL`."""
    return conn.execute(DELIVERY_HEADS_SQL).fetchall()


def claim_delivery(conn, receiver, change_id, me, now_ms, until_ms):
    """Take a queued change for sending until `until_ms`; whether it was taken (nobody else holds it)."""
    return conn.execute(CLAIM_DELIVERY_SQL, {"receiver": receiver, "change_id": change_id, "me": me,
                                             "now_ms": now_ms, "until_ms": until_ms}).rowcount == 1


def delivered(conn, receiver, change_id, me):
    """Take a change that `me` has delivered off its receiver's queue; whether `me` still held it."""
    return conn.execute(DELIVERED_SQL, {"receiver": receiver, "change_id": change_id, "me": me}).rowcount == 1


def retry_delivery(conn, receiver, change_id, me, next_attempt_ms, error):
    """Give back a change that `me` failed to deliver, to be tried again from `next_attempt_ms`."""
    conn.execute(RETRY_DELIVERY_SQL, {"receiver": receiver, "change_id": change_id, "me": me,
                                      "next_attempt_ms": next_attempt_ms, "error": error})
