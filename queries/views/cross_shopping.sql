-- cross_shopping: how many people two dealers, or two brands, share: one row per pair, for the
-- overlap an OEM can only see across its dealer network.
--
-- Definitions:
-- - People are identity resolution's persons (person_links). A person is at a dealer when any of
--   their records (lead, visit, sale) is; a person shops a brand when a lead asks about it or a sale
--   is of it (identity_persons).
-- - Each pair appears once, a < b alphabetically.
--
-- Columns:
-- - dimension: 'dealer' or 'brand'; a, b: the two dealer ids or makes.
-- - people_a, people_b: people at a (shopping a), and at b; shared_people: people at both.
-- - shared_rate_a = shared_people / people_a; shared_rate_b = shared_people / people_b.
WITH dealer_people AS (
    SELECT DISTINCT person_id, dealer_id AS member
    FROM person_links
    WHERE person_id IS NOT NULL
),
brand_people AS (
    SELECT DISTINCT p.person_id, coalesce(l.vehicle_make, s.vehicle_make) AS member
    FROM person_links p
    LEFT JOIN leads_current l ON p.dataset = 'leads' AND l.record_id = p.record_id
    LEFT JOIN sales_current s ON p.dataset = 'sales' AND s.record_id = p.record_id
    WHERE p.person_id IS NOT NULL AND coalesce(l.vehicle_make, s.vehicle_make) IS NOT NULL
),
members AS (
    SELECT 'dealer' AS dimension, person_id, member FROM dealer_people
    UNION ALL
    SELECT 'brand' AS dimension, person_id, member FROM brand_people
),
sizes AS (
    SELECT dimension, member, count(*) AS people
    FROM members
    GROUP BY dimension, member
),
pairs AS (
    SELECT x.dimension, x.member AS a, y.member AS b, count(*) AS shared_people
    FROM members x
    JOIN members y ON y.dimension = x.dimension AND y.person_id = x.person_id AND x.member < y.member
    GROUP BY x.dimension, x.member, y.member
)
SELECT p.dimension, p.a, p.b, sa.people AS people_a, sb.people AS people_b, p.shared_people,
    CAST(p.shared_people AS double) / sa.people AS shared_rate_a,
    CAST(p.shared_people AS double) / sb.people AS shared_rate_b
FROM pairs p
JOIN sizes sa ON sa.dimension = p.dimension AND sa.member = p.a
JOIN sizes sb ON sb.dimension = p.dimension AND sb.member = p.b
