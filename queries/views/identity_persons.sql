-- identity_persons: one row per person of the last identity resolution (person_links), with how many
-- records of each kind hold them, at how many dealers and for how many brands: the people an OEM
-- sees only once dealer data is joined.
--
-- Definitions:
-- - Records are those person_links holds (leads, showroom and service visits, DMS sales), each in
--   its latest version (the *_current views) for its time and make.
-- - brands: distinct makes the person enquired about (leads) or bought (sales); service visits
--   are left out (a person services the car they have, not the one they shop for).
-- - first_seen, last_seen: the earliest and latest lead request, visit or sale date.
--
-- Columns: person_id; records, leads, visits, sales (records of each dataset); dealers (distinct
-- dealers with a record); brands (distinct makes shopped or bought); dealer_ids, brand_names
-- (comma-separated, sorted); multi_dealer (dealers > 1); multi_brand (brands > 1); first_seen,
-- last_seen (timestamps, UTC).
WITH records AS (
    SELECT p.person_id, p.record_id, p.dataset, p.dealer_id,
        coalesce(l.vehicle_make, s.vehicle_make) AS shopped_make,
        coalesce(l.requested_at, v.visited_at, CAST(coalesce(s.delivery_date, s.contract_date) AS timestamp)
            AT TIME ZONE 'UTC') AS seen_at
    FROM person_links p
    LEFT JOIN leads_current l ON p.dataset = 'leads' AND l.record_id = p.record_id
    LEFT JOIN visits_current v ON p.dataset = 'visits' AND v.record_id = p.record_id
    LEFT JOIN sales_current s ON p.dataset = 'sales' AND s.record_id = p.record_id
    WHERE p.person_id IS NOT NULL
)
SELECT person_id,
    count(*) AS records,
    count_if(dataset = 'leads') AS leads,
    count_if(dataset = 'visits') AS visits,
    count_if(dataset = 'sales') AS sales,
    count(DISTINCT dealer_id) AS dealers,
    count(DISTINCT shopped_make) AS brands,
    array_join(array_sort(array_distinct(array_agg(dealer_id))), ',') AS dealer_ids,
    array_join(array_sort(array_distinct(array_agg(shopped_make) FILTER (WHERE shopped_make IS NOT NULL))), ',')
        AS brand_names,
    count(DISTINCT dealer_id) > 1 AS multi_dealer,
    count(DISTINCT shopped_make) > 1 AS multi_brand,
    min(seen_at) AS first_seen,
    max(seen_at) AS last_seen
FROM records
GROUP BY person_id
