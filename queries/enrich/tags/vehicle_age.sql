-- Trade-in candidate: the person bought or services a vehicle of model year {{years}} or more years
-- before the year of {{as_of}}; the newest record of the oldest such vehicle is the evidence.
WITH owned AS (
    SELECT person_id, record_id, dealer_id, at, vehicle_year, vehicle_make, vehicle_model,
        row_number() OVER (PARTITION BY person_id ORDER BY vehicle_year, at DESC, record_id) AS pick
    FROM activity
    WHERE kind IN ('sale', 'service') AND vehicle_year IS NOT NULL
        AND year({{as_of}}) - vehicle_year >= {{years}}
)
SELECT person_id, record_id, dealer_id, at AS evidence_at,
    'owns a ' || CAST(vehicle_year AS varchar) || ' ' || coalesce(vehicle_make, '') || ' '
        || coalesce(vehicle_model, '') || ' (' || CAST(year({{as_of}}) - vehicle_year AS varchar)
        || ' model years old)' AS reason
FROM owned
WHERE pick = 1
