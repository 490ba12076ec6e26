-- sessions_by_place: per day and place (account and region) over the last 30 days, the archived sessions with their stages, participants and events
-- The day is `dt`, the UTC date the session started. A place is where the stage is: its ARN's account and region.
-- Rows committed before places (no account_id or region) take them from the stage ARN. Look-back: change the 30.
SELECT
    dt AS day,
    coalesce(account_id, split_part(stage_arn, ':', 5)) AS account_id,
    coalesce(region, split_part(stage_arn, ':', 4)) AS region,
    count(DISTINCT stage_arn) AS stages,
    count(*) AS sessions,
    sum(participant_count) AS participants,
    sum(event_count) AS events
FROM stage_sessions
WHERE dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
GROUP BY 1, 2, 3
ORDER BY day, account_id, region
