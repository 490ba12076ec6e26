-- errors_by_code: error events (JOIN_ERROR, PUBLISH_ERROR, SUBSCRIBE_ERROR) per day, event name and error code over the last 30 days, with the sessions, participants and users they hit
-- The day is `dt`, the UTC date the session started. Look-back: change the 30.
SELECT
    dt AS day,
    event_name,
    error_code,
    count(*) AS events,
    count(DISTINCT session_id) AS sessions,
    count(DISTINCT participant_id) AS participants,
    count(DISTINCT user_id) AS users
FROM participant_events
WHERE
    dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
    AND event_name LIKE '%\_ERROR' ESCAPE '\'
GROUP BY dt, event_name, error_code
ORDER BY day, events DESC, event_name, error_code
