-- Lapsed customer: bought or serviced before, and nothing at all (lead, visit, sale) in the {{days}}
-- days before {{as_of}}; the last record is the evidence. Days are counted between UTC dates, which
-- Trino and DuckDB agree on (between timestamps Trino counts whole days and DuckDB midnights).
WITH ranked AS (
    SELECT *, row_number() OVER (PARTITION BY person_id ORDER BY at DESC, record_id) AS newest
    FROM activity
)
SELECT person_id,
    max(CASE WHEN newest = 1 THEN record_id END) AS record_id,
    max(CASE WHEN newest = 1 THEN dealer_id END) AS dealer_id,
    max(at) AS evidence_at,
    'last ' || max(CASE WHEN newest = 1 THEN kind END) || ' on ' || CAST(CAST(max(at) AS date) AS varchar)
        || ', nothing since (' || CAST(date_diff('day', CAST(max(at) AS date), CAST({{as_of}} AS date)) AS varchar) || ' days)' AS reason
FROM ranked
GROUP BY person_id
HAVING count_if(kind IN ('sale', 'service')) > 0 AND max(at) <= {{as_of}} - INTERVAL '{{days}}' DAY
