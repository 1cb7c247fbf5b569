-- Highest-value customers: value over the {{years}} years before {{as_of}} is the service gross plus
-- {{sale_value}} per vehicle bought (the deal gross is financial and may not shape an audience);
-- the top {{percent}} percent of the customers with any value, ties broken by person id.
WITH valued AS (
    SELECT person_id, max(at) AS evidence_at,
        coalesce(sum(service_gross), 0) + {{sale_value}} * count_if(kind = 'sale') AS value
    FROM activity
    WHERE kind IN ('sale', 'service') AND at > {{as_of}} - INTERVAL '{{years}}' YEAR
    GROUP BY person_id
),
ranked AS (
    SELECT person_id, evidence_at,
        row_number() OVER (ORDER BY value DESC, person_id) AS place,
        count(*) OVER () AS customers
    FROM valued
    WHERE value > 0
)
SELECT person_id, CAST(NULL AS varchar) AS list_key, evidence_at
FROM ranked
WHERE place <= ceil(customers * {{percent}} / 100.0)
