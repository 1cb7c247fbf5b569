-- Per dealer: its resolved people and how many of them have records at another dealer too. Same
-- persons as identity_overlap.sql.
WITH person_dealers AS (
  SELECT DISTINCT person_id, dealer_id
  FROM person_links
  WHERE dealer_id <> 'oem' AND record_received_at >= {{since}} AND record_received_at < {{until}}
),
spread AS (
  SELECT person_id, count(*) AS dealers
  FROM person_dealers
  GROUP BY person_id
)
SELECT
  d.dealer_id,
  count(*) AS people,
  count_if(s.dealers > 1) AS shared_people,
  round(100.0 * count_if(s.dealers > 1) / count(*), 1) AS shared_pct
FROM person_dealers AS d
JOIN spread AS s ON s.person_id = d.person_id
GROUP BY d.dealer_id
ORDER BY people DESC, d.dealer_id
