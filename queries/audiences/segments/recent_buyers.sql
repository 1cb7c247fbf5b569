-- Recent buyers (an exclusion list): a sale in the {{days}} days before {{as_of}}; the last sale is
-- the evidence.
SELECT person_id, CAST(NULL AS varchar) AS list_key, max(at) AS evidence_at
FROM activity
WHERE kind = 'sale' AND at > {{as_of}} - INTERVAL '{{days}}' DAY
GROUP BY person_id
