-- Lease or finance ending soon: a deal whose lease or loan ends within {{days}} days after {{as_of}}.
-- Reads sales_finance: the tag is financial and reaches only the selling dealer's own outbound.
WITH ending AS (
    SELECT person_id, record_id, dealer_id, at, finance_type, finance_ends,
        row_number() OVER (PARTITION BY person_id ORDER BY finance_ends, record_id) AS pick
    FROM activity
    WHERE kind = 'sale' AND finance_type IN ('Lease', 'Finance')
        AND finance_ends > CAST({{as_of}} AS date)
        AND finance_ends <= CAST({{as_of}} + INTERVAL '{{days}}' DAY AS date)
)
SELECT person_id, record_id, dealer_id, at AS evidence_at,
    lower(finance_type) || ' ends on ' || CAST(finance_ends AS varchar) || ' ('
        || CAST(date_diff('day', CAST({{as_of}} AS date), finance_ends) AS varchar) || ' days)' AS reason
FROM ending
WHERE pick = 1
