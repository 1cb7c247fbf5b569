-- Identity resolution, step 0: the records that name a person, one row per record_id (its latest
-- version: newest upload first), with the fields resolution compares. The phone is the mobile when
-- there is one; a VIN is evidence only on a sale (the buyer owns the vehicle, a lead only wants it).
-- received_at is the version's arrival: an incremental run resolves again a record that changed.
WITH people AS (
    SELECT record_id, 'leads' AS dataset, dealer_id, first_name, last_name, email,
        coalesce(mobile_phone, phone, alternate_phone) AS phone, street, city, state, zip,
        CAST(NULL AS varchar) AS vin, received_at
    FROM leads
    UNION ALL
    SELECT record_id, 'visits', dealer_id, first_name, last_name, email,
        coalesce(mobile_phone, phone, alternate_phone), street, city, state, zip,
        CAST(NULL AS varchar), received_at
    FROM visits
    UNION ALL
    SELECT record_id, 'sales', dealer_id, first_name, last_name, email,
        coalesce(mobile_phone, phone, alternate_phone), street, city, state, zip, vehicle_vin, received_at
    FROM sales
),
latest AS (
    SELECT *, row_number() OVER (PARTITION BY record_id ORDER BY received_at DESC) AS version
    FROM people
)
SELECT record_id, dataset, dealer_id, first_name, last_name, email, phone, street, city, state, zip, vin,
    received_at
FROM latest
WHERE version = 1
