-- Data quality: what was quarantined, per dealer and reason (docs/quarantine-reasons.md).
--
-- Rows are quarantine records (a rejected row, or a whole file rejected, with its reason);
-- data_quality_daily and quarantine_daily have the same per arrival day.
SELECT dealer_id, reason_code, count(*) AS records
FROM quarantine
GROUP BY dealer_id, reason_code
ORDER BY dealer_id, records DESC
