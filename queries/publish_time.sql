-- publish_time: per publisher and session over the last 30 days, how often and for how long they published
-- Each PUBLISH_STARTED is paired with the participant's next PUBLISH_STOPPED, LEFT or PUBLISH_STARTED
-- (in event order) or, when none follows, with the session's end. Look-back: change the 30s.
WITH marks AS (
    SELECT
        dt,
        stage_arn,
        session_id,
        participant_id,
        user_id,
        event_name,
        event_time,
        lead(event_time) OVER (
            PARTITION BY stage_arn, session_id, participant_id ORDER BY event_seq
        ) AS next_time
    FROM participant_events
    WHERE
        dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
        AND event_name IN ('PUBLISH_STARTED', 'PUBLISH_STOPPED', 'LEFT')
),
publishes AS (
    SELECT m.*, coalesce(m.next_time, s.end_time) AS stop_time
    FROM marks AS m
    JOIN stage_sessions AS s
        ON s.dt = m.dt AND s.stage_arn = m.stage_arn AND s.session_id = m.session_id
    WHERE
        s.dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
        AND m.event_name = 'PUBLISH_STARTED'
)
SELECT
    session_id,
    participant_id,
    user_id,
    count(*) AS publishes,
    sum(date_diff('millisecond', event_time, stop_time)) AS publish_ms,
    min(event_time) AS first_started,
    max(stop_time) AS last_stopped
FROM publishes
GROUP BY stage_arn, session_id, participant_id, user_id
ORDER BY publish_ms DESC, session_id, participant_id
