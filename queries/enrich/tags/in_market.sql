-- In market: leads or showroom visits in the {{days}} days before {{as_of}}; the newest is the evidence.
WITH recent AS (
    SELECT *, row_number() OVER (PARTITION BY person_id ORDER BY at DESC, record_id) AS newest
    FROM activity
    WHERE kind IN ('lead', 'showroom') AND at > {{as_of}} - INTERVAL '{{days}}' DAY
)
SELECT person_id,
    max(CASE WHEN newest = 1 THEN record_id END) AS record_id,
    max(CASE WHEN newest = 1 THEN dealer_id END) AS dealer_id,
    max(at) AS evidence_at,
    CAST(count_if(kind = 'lead') AS varchar) || ' lead(s) and ' || CAST(count_if(kind = 'showroom') AS varchar)
        || ' showroom visit(s) in the last {{days}} days' AS reason
FROM recent
GROUP BY person_id
