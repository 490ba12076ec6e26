-- join_failures_by_user: users whose joins failed (JOIN_ERROR) over the last 30 days: failures, sessions, error codes, first and last failure, and in how many of those sessions they joined anyway
-- Look-back: change the 30s.
WITH failures AS (
    SELECT dt, stage_arn, session_id, user_id, error_code, event_time
    FROM participant_events
    WHERE
        dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
        AND event_name = 'JOIN_ERROR'
),
joined AS (
    SELECT DISTINCT dt, stage_arn, session_id, user_id
    FROM participant_events
    WHERE
        dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
        AND event_name = 'JOINED'
)
SELECT
    f.user_id,
    count(*) AS failures,
    count(DISTINCT f.session_id) AS sessions,
    count(DISTINCT if(j.user_id IS NOT NULL, f.session_id)) AS sessions_joined_anyway,
    array_join(array_sort(array_agg(DISTINCT f.error_code)), ', ') AS error_codes,
    min(f.event_time) AS first_failure,
    max(f.event_time) AS last_failure
FROM failures AS f
LEFT JOIN joined AS j
    ON
        j.dt = f.dt
        AND j.stage_arn = f.stage_arn
        AND j.session_id = f.session_id
        AND j.user_id = f.user_id
GROUP BY f.user_id
ORDER BY failures DESC, f.user_id
