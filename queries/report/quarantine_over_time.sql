-- Quarantined records per {{unit}} of arrival and reason code (docs/quarantine-reasons.md), with the
-- records that arrived in the same {{unit}} (uploads.rows_in) for the rate; a {{unit}} with arrivals
-- and nothing quarantined is a row with a null reason and 0 records.
WITH quarantined AS (
  SELECT date_trunc({{unit}}, received_at) AS period, reason_code, count(*) AS records
  FROM quarantine
  WHERE received_at >= {{since}} AND received_at < {{until}}
  GROUP BY 1, 2
),
arrived AS (
  SELECT date_trunc({{unit}}, received_at) AS period, sum(rows_in) AS rows_in
  FROM uploads
  WHERE received_at >= {{since}} AND received_at < {{until}}
  GROUP BY 1
)
SELECT
  CAST(coalesce(q.period, a.period) AS date) AS period,
  q.reason_code,
  coalesce(q.records, 0) AS records,
  a.rows_in
FROM quarantined AS q
FULL OUTER JOIN arrived AS a ON a.period = q.period
ORDER BY period, records DESC, reason_code
