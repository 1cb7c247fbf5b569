-- Owners of an aging vehicle: the person bought or services a vehicle of a model year {{min_years}}
-- to {{max_years}} years before the year of {{as_of}}; the newest such record is the evidence.
SELECT person_id, CAST(NULL AS varchar) AS list_key, max(at) AS evidence_at
FROM activity
WHERE kind IN ('sale', 'service') AND vehicle_year IS NOT NULL
    AND year({{as_of}}) - vehicle_year BETWEEN {{min_years}} AND {{max_years}}
GROUP BY person_id
