-- sessions_per_day: per day over the last 30 days, the archived sessions with their stages, participants, distinct users, publishers, events and error events
-- The day is `dt`, the UTC date the session started (a whole session lives in one partition).
-- Look-back: change the 30 in each `INTERVAL '30' DAY` (one per table, so Athena reads only those partitions).
WITH sessions AS (
    SELECT dt, stage_arn, session_id
    FROM stage_sessions
    WHERE dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
),
people AS (
    SELECT
        p.dt,
        count(*) AS participants,
        count(DISTINCT p.user_id) AS users,
        count_if(p.published) AS publishers
    FROM participants AS p
    JOIN sessions AS s
        ON s.dt = p.dt AND s.stage_arn = p.stage_arn AND s.session_id = p.session_id
    WHERE p.dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
    GROUP BY p.dt
),
activity AS (
    SELECT
        e.dt,
        count(*) AS events,
        count_if(e.event_name LIKE '%\_ERROR' ESCAPE '\') AS errors
    FROM participant_events AS e
    JOIN sessions AS s
        ON s.dt = e.dt AND s.stage_arn = e.stage_arn AND s.session_id = e.session_id
    WHERE e.dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
    GROUP BY e.dt
),
days AS (
    SELECT dt, count(DISTINCT stage_arn) AS stages, count(*) AS sessions
    FROM sessions
    GROUP BY dt
)
SELECT
    d.dt AS day,
    d.stages,
    d.sessions,
    coalesce(p.participants, 0) AS participants,
    coalesce(p.users, 0) AS users,
    coalesce(p.publishers, 0) AS publishers,
    coalesce(a.events, 0) AS events,
    coalesce(a.errors, 0) AS errors
FROM days AS d
LEFT JOIN people AS p ON p.dt = d.dt
LEFT JOIN activity AS a ON a.dt = d.dt
ORDER BY day
