-- Dealer pairs sharing the most shoppers: for the 20 pairs of dealers with the most people in
-- common, how many people each has and what share of them the other dealer also saw.
--
-- From cross_shopping (resolved persons: a person is at a dealer when any lead, visit or sale of
-- theirs is there). Shares are percentages; each pair appears once (a < b).
SELECT
  a AS dealer_a,
  b AS dealer_b,
  people_a,
  people_b,
  shared_people,
  round(100 * shared_rate_a, 1) AS pct_of_a,
  round(100 * shared_rate_b, 1) AS pct_of_b
FROM cross_shopping
WHERE dimension = 'dealer'
ORDER BY shared_people DESC, dealer_a, dealer_b
LIMIT 20
