-- Multi-dealer shopper: leads or showroom visits at {{dealers}} or more dealers in the {{days}} days
-- before {{as_of}}; the newest is the evidence.
WITH recent AS (
    SELECT *, row_number() OVER (PARTITION BY person_id ORDER BY at DESC, record_id) AS newest
    FROM activity
    WHERE kind IN ('lead', 'showroom') AND at > {{as_of}} - INTERVAL '{{days}}' DAY
)
SELECT person_id,
    max(CASE WHEN newest = 1 THEN record_id END) AS record_id,
    max(CASE WHEN newest = 1 THEN dealer_id END) AS dealer_id,
    max(at) AS evidence_at,
    'shopped at ' || CAST(count(DISTINCT dealer_id) AS varchar) || ' dealers in the last {{days}} days: '
        || array_join(array_sort(array_distinct(array_agg(dealer_id))), ', ') AS reason
FROM recent
GROUP BY person_id
HAVING count(DISTINCT dealer_id) >= {{dealers}}
