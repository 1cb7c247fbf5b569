-- Speed-to-lead per dealer: minutes from the customer's request to the first contact the CRM
-- recorded; median and p90 (the mean hides the slow tail), against the OEM's 30-minute target.
SELECT
  dealer_id,
  count(*) AS contacted_leads,
  round(approx_percentile(date_diff('second', requested_at, first_contacted_at) / 60.0, 0.5), 1) AS median_minutes,
  round(approx_percentile(date_diff('second', requested_at, first_contacted_at) / 60.0, 0.9), 1) AS p90_minutes,
  round(100.0 * count_if(date_diff('minute', requested_at, first_contacted_at) <= 30) / count(*), 1) AS pct_within_30_min
FROM forecourt.leads
WHERE first_contacted_at IS NOT NULL AND first_contacted_at >= requested_at
GROUP BY dealer_id
ORDER BY dealer_id
