-- Data quality: what was quarantined, per dealer and reason.
SELECT dealer_id, reason_code, count(*) AS records
FROM forecourt.quarantine
GROUP BY dealer_id, reason_code
ORDER BY dealer_id, records DESC
