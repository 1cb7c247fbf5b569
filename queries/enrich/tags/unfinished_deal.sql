-- Unfinished deal: a digital-retail lead (build & price, online deal or reservation tools: its
-- source, provider or type matches {{origins}}) in the {{days}} days before {{as_of}}, and no sale to
-- the person on or after it.
WITH digital AS (
    SELECT person_id, record_id, dealer_id, at,
        row_number() OVER (PARTITION BY person_id ORDER BY at DESC, record_id) AS pick
    FROM activity
    WHERE kind = 'lead' AND regexp_like(lead_origin, {{origins}})
        AND at > {{as_of}} - INTERVAL '{{days}}' DAY
),
last_sale AS (
    SELECT person_id, max(at) AS sold_at FROM activity WHERE kind = 'sale' GROUP BY person_id
)
SELECT d.person_id, d.record_id, d.dealer_id, d.at AS evidence_at,
    'digital-retail lead on ' || CAST(CAST(d.at AS date) AS varchar) || ' with no sale since' AS reason
FROM digital d
LEFT JOIN last_sale s ON s.person_id = d.person_id
WHERE d.pick = 1 AND (s.sold_at IS NULL OR s.sold_at < date_trunc('day', d.at))
