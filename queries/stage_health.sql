-- stage_health: per stage and day over the last 30 days, sessions and participants with the QUOTA_EXCEEDED (stage at its participant or publisher limit) and PUBLISHER_NOT_FOUND (subscribing to a publisher that is gone) errors
-- Every stage with a session that day is listed, healthy ones with zeros. Look-back: change the 30s.
WITH sessions AS (
    SELECT
        dt,
        stage_arn,
        stage_id,
        max_by(stage_name, start_time) AS stage_name,
        count(*) AS sessions,
        sum(participant_count) AS participants
    FROM stage_sessions
    WHERE dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
    GROUP BY dt, stage_arn, stage_id
),
errors AS (
    SELECT
        dt,
        stage_arn,
        count_if(error_code = 'QUOTA_EXCEEDED') AS quota_exceeded,
        count_if(error_code = 'PUBLISHER_NOT_FOUND') AS publisher_not_found,
        count(DISTINCT participant_id) AS participants_hit
    FROM participant_events
    WHERE
        dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
        AND error_code IN ('QUOTA_EXCEEDED', 'PUBLISHER_NOT_FOUND')
    GROUP BY dt, stage_arn
)
SELECT
    s.dt AS day,
    s.stage_id,
    s.stage_name,
    s.sessions,
    s.participants,
    coalesce(e.quota_exceeded, 0) AS quota_exceeded,
    coalesce(e.publisher_not_found, 0) AS publisher_not_found,
    coalesce(e.participants_hit, 0) AS participants_hit
FROM sessions AS s
LEFT JOIN errors AS e ON e.dt = s.dt AND e.stage_arn = s.stage_arn
ORDER BY day, s.stage_arn
