-- Model shoppers: a lead or a showroom visit naming a model in the {{days}} days before {{as_of}},
-- with no sale to the person since; one list per make and model (list_key 'chevrolet equinox').
WITH interest AS (
    SELECT person_id, lower(trim(concat_ws(' ', trim(vehicle_make), trim(vehicle_model)))) AS list_key, at
    FROM activity
    WHERE kind IN ('lead', 'showroom') AND trim(vehicle_model) <> ''
        AND at > {{as_of}} - INTERVAL '{{days}}' DAY
),
bought AS (
    SELECT person_id, max(at) AS sold_at
    FROM activity
    WHERE kind = 'sale'
    GROUP BY person_id
)
SELECT i.person_id, i.list_key, max(i.at) AS evidence_at
FROM interest i
LEFT JOIN bought b ON b.person_id = i.person_id
WHERE b.sold_at IS NULL OR b.sold_at < i.at
GROUP BY i.person_id, i.list_key
