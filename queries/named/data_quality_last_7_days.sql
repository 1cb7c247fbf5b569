-- Data quality per dealer over the 7 arrival days up to the latest: files and rows received, the
-- share quarantined, and the files rejected whole, late or drifted from their feed profile.
--
-- From data_quality_daily (its definitions: day of arrival, UTC; late_after_hours; drift). rows_in =
-- rows_curated + rows_quarantined. Worst quarantine rate first; rates are percentages.
WITH days AS (
  SELECT *, max(day) OVER () AS latest_day
  FROM data_quality_daily
)
SELECT
  dealer_id,
  sum(files) AS files,
  sum(rows_in) AS rows_in,
  sum(rows_curated) AS rows_curated,
  sum(rows_quarantined) AS rows_quarantined,
  round(100.0 * sum(rows_quarantined) / nullif(sum(rows_in), 0), 2) AS pct_quarantined,
  sum(rejected_files) AS rejected_files,
  sum(late_files) AS late_files,
  sum(drifted_files) AS drifted_files
FROM days
WHERE day > date_add('day', -7, latest_day)
GROUP BY dealer_id
ORDER BY pct_quarantined DESC NULLS LAST, dealer_id
