-- publisher_audience: per publisher and session over the last 30 days, the distinct participants and users who subscribed to them (SUBSCRIBE_STARTED naming them in remote_participant_id)
-- Look-back: change the 30s.
SELECT
    e.session_id,
    e.remote_participant_id AS publisher_id,
    p.user_id AS publisher_user_id,
    count(DISTINCT e.participant_id) AS subscribers,
    count(DISTINCT e.user_id) AS subscriber_users,
    count(*) AS subscriptions
FROM participant_events AS e
LEFT JOIN participants AS p
    ON
        p.dt = e.dt
        AND p.stage_arn = e.stage_arn
        AND p.session_id = e.session_id
        AND p.participant_id = e.remote_participant_id
        AND p.dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
WHERE
    e.dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
    AND e.event_name = 'SUBSCRIBE_STARTED'
    AND e.remote_participant_id IS NOT NULL
GROUP BY e.stage_arn, e.session_id, e.remote_participant_id, p.user_id
ORDER BY subscribers DESC, e.session_id, publisher_id
