-- People (by normalized e-mail) who enquired at more than one dealer: the cross-shopping an OEM
-- only sees once dealer data is joined.
--
-- A quick measure straight from the leads (leads_current), before identity resolution:
-- identity_persons and cross_shopping count resolved persons, who are also matched by phone, name
-- and address.
WITH by_person AS (
  SELECT email, count(DISTINCT dealer_id) AS dealers, count(*) AS leads
  FROM leads_current
  WHERE email IS NOT NULL
  GROUP BY email
)
SELECT dealers AS dealers_visited, count(*) AS people, sum(leads) AS leads
FROM by_person
GROUP BY dealers
ORDER BY dealers
