-- participants_by_client: participants over the last 30 days by client OS, browser and IVS SDK version, with their users, sessions and publishers
-- The client columns come from GetParticipant: all null when the archiver runs with participant details off.
-- Look-back: change the 30.
SELECT
    os_name,
    browser_name,
    sdk_version,
    count(*) AS participants,
    count(DISTINCT user_id) AS users,
    count(DISTINCT session_id) AS sessions,
    count_if(published) AS publishers
FROM participants
WHERE dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
GROUP BY os_name, browser_name, sdk_version
ORDER BY participants DESC, os_name, browser_name, sdk_version
