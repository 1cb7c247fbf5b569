-- What the report covers: per dataset, the rows in the report's period and the first and last
-- moment among them (the time column each section filters on).
SELECT 'leads' AS dataset, 'requested_at' AS time_column, count(*) AS row_count,
       min(requested_at) AS first_at, max(requested_at) AS last_at
FROM leads WHERE requested_at >= {{since}} AND requested_at < {{until}}
UNION ALL
SELECT 'lead_events', 'occurred_at', count(*), min(occurred_at), max(occurred_at)
FROM lead_events WHERE occurred_at >= {{since}} AND occurred_at < {{until}}
UNION ALL
SELECT 'quarantine', 'received_at', count(*), min(received_at), max(received_at)
FROM quarantine WHERE received_at >= {{since}} AND received_at < {{until}}
UNION ALL
SELECT 'campaign_spend', 'day', count(*), CAST(min(day) AS timestamp), CAST(max(day) AS timestamp)
FROM campaign_spend
UNION ALL
SELECT 'person_links', 'record_received_at', count(*), min(record_received_at), max(record_received_at)
FROM person_links WHERE record_received_at >= {{since}} AND record_received_at < {{until}}
