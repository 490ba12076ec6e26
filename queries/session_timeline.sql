-- session_timeline: every event of one session in time order, with the seconds elapsed since the session started
-- Which session: set `session_id` in `params` to a session id ('st-...'); '' picks the most recently
-- started archived session. On a laptop, a parameter is given after the query's name:
-- `ivs-archive local query --dir DIR session_timeline session_id=st-...`.
-- Joining on `dt` lets Athena prune the events table to that one day.
WITH params AS (
    SELECT '' AS session_id
),
target AS (
    SELECT s.dt, s.stage_arn, s.stage_name, s.session_id, s.start_time
    FROM stage_sessions AS s
    CROSS JOIN params AS p
    WHERE p.session_id IN ('', s.session_id)
    ORDER BY s.start_time DESC, s.session_id DESC
    LIMIT 1
)
SELECT
    t.stage_name,
    t.session_id,
    e.event_time,
    date_diff('second', t.start_time, e.event_time) AS elapsed_s,
    e.participant_id,
    e.user_id,
    e.event_seq,
    e.event_name,
    e.remote_participant_id,
    e.error_code
FROM target AS t
JOIN participant_events AS e
    ON e.dt = t.dt AND e.stage_arn = t.stage_arn AND e.session_id = t.session_id
ORDER BY e.event_time, e.participant_id, e.event_seq
