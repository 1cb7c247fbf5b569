-- People (by normalized e-mail) who enquired at more than one dealer: the cross-shopping an OEM
-- only sees once dealer data is joined.
WITH by_person AS (
  SELECT email, count(DISTINCT dealer_id) AS dealers, count(*) AS leads
  FROM forecourt.leads
  WHERE email IS NOT NULL
  GROUP BY email
)
SELECT dealers AS dealers_visited, count(*) AS people, sum(leads) AS leads
FROM by_person
GROUP BY dealers
ORDER BY dealers
