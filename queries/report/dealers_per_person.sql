-- How many dealers each resolved person has records at: 1 (one store's customer), 2, 3 or more
-- (cross-shoppers, whom only the OEM sees). Same persons as identity_overlap.sql.
WITH per_person AS (
  SELECT person_id, count(DISTINCT dealer_id) AS dealers
  FROM person_links
  WHERE dealer_id <> 'oem' AND record_received_at >= {{since}} AND record_received_at < {{until}}
  GROUP BY person_id
)
SELECT dealers, count(*) AS people
FROM per_person
GROUP BY dealers
ORDER BY dealers
