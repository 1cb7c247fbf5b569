-- People shared between dealers: for each pair of dealers, how many resolved persons (person_links,
-- the last identity run) have records at both; the diagonal is each dealer's own people. Records
-- of OEM-level data (dealer 'oem') are left out. {{since}} / {{until}} bound when the record arrived.
WITH person_dealers AS (
  SELECT DISTINCT person_id, dealer_id
  FROM person_links
  WHERE dealer_id <> 'oem' AND record_received_at >= {{since}} AND record_received_at < {{until}}
)
SELECT a.dealer_id, b.dealer_id AS other_dealer_id, count(*) AS people
FROM person_dealers AS a
JOIN person_dealers AS b ON a.person_id = b.person_id
GROUP BY a.dealer_id, b.dealer_id
ORDER BY a.dealer_id, b.dealer_id
