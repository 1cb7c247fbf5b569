-- Lapsed service customers: a service visit in the {{lookback_days}} days before {{as_of}}, none in
-- the last {{lapsed_days}}; the last service is the evidence.
SELECT person_id, CAST(NULL AS varchar) AS list_key, max(at) AS evidence_at
FROM activity
WHERE kind = 'service' AND at > {{as_of}} - INTERVAL '{{lookback_days}}' DAY
GROUP BY person_id
HAVING max(at) <= {{as_of}} - INTERVAL '{{lapsed_days}}' DAY
