-- data_quality_daily: per dealer and arrival day, what came in and what became of it: files, rows
-- in, curated and quarantined (rows in = curated + quarantined), files rejected whole, late files
-- and schema drift. quarantine_daily has the quarantined rows per reason.
--
-- Definitions:
-- - day: the UTC date of received_at (the arrival of the raw object), as the lake partitions it.
-- - late_after_hours (48): a file is late when its newest record happened more than that many
--   hours before the file arrived (the export was held back or re-sent); only files of datasets
--   with an event time (leads, visits, sales, lead_events) can be late.
-- - Schema drift: a file missing columns its feed profile names (uploads.missing_columns) or
--   carrying columns the profile does not map (uploads.ignored_columns, kept in extras).
--
-- Columns: dealer_id; day; files; rows_in, rows_curated, rows_quarantined; quarantine_rate =
-- rows_quarantined / rows_in; rejected_files (status 'rejected'); partial_files (some rows
-- quarantined); late_files; drifted_files; files_missing_columns; files_with_new_columns;
-- field_issue_files (files where optional values were nulled); bytes (raw size).
WITH settings AS (
    SELECT 48 AS late_after_hours
),
newest_events AS (
    SELECT upload_id, max(requested_at) AS newest FROM leads GROUP BY upload_id
    UNION ALL
    SELECT upload_id, max(visited_at) FROM visits GROUP BY upload_id
    UNION ALL
    SELECT upload_id, max(CAST(contract_date AS timestamp) AT TIME ZONE 'UTC') FROM sales GROUP BY upload_id
    UNION ALL
    SELECT upload_id, max(occurred_at) FROM lead_events GROUP BY upload_id
),
newest AS (
    SELECT upload_id, max(newest) AS newest
    FROM newest_events
    GROUP BY upload_id
),
files AS (
    SELECT u.dealer_id, CAST(u.received_at AS date) AS day, u.rows_in, u.rows_curated, u.rows_quarantined,
        u.status, u.size_bytes,
        coalesce(cardinality(u.missing_columns), 0) > 0 AS missing_columns,
        coalesce(cardinality(u.ignored_columns), 0) > 0 AS new_columns,
        coalesce(u.field_issues NOT IN ('', '{}'), false) AS field_issues,
        coalesce(date_diff('second', n.newest, u.received_at) > s.late_after_hours * 3600, false) AS late
    FROM uploads u
    CROSS JOIN settings s
    LEFT JOIN newest n ON n.upload_id = u.upload_id
)
SELECT dealer_id, day,
    count(*) AS files,
    coalesce(sum(rows_in), 0) AS rows_in,
    coalesce(sum(rows_curated), 0) AS rows_curated,
    coalesce(sum(rows_quarantined), 0) AS rows_quarantined,
    CAST(sum(rows_quarantined) AS double) / nullif(sum(rows_in), 0) AS quarantine_rate,
    count_if(status = 'rejected') AS rejected_files,
    count_if(status = 'partial') AS partial_files,
    count_if(late) AS late_files,
    count_if(missing_columns OR new_columns) AS drifted_files,
    count_if(missing_columns) AS files_missing_columns,
    count_if(new_columns) AS files_with_new_columns,
    count_if(field_issues) AS field_issue_files,
    coalesce(sum(size_bytes), 0) AS bytes
FROM files
GROUP BY dealer_id, day
