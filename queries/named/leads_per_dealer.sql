-- Leads per dealer: volume, where they come from, and how many can be contacted at all.
-- Athena (Trino) SQL; runs locally through `forecourt query`.
SELECT
  dealer_id,
  count(*) AS leads,
  count_if(lead_source = 'oem_website') AS oem_website,
  count_if(lead_source = 'third_party') AS third_party,
  count_if(lead_source = 'dealer_website') AS dealer_website,
  round(100.0 * count_if(email IS NOT NULL) / count(*), 1) AS pct_email,
  round(100.0 * count_if(phone IS NOT NULL OR mobile_phone IS NOT NULL) / count(*), 1) AS pct_phone
FROM forecourt.leads
GROUP BY dealer_id
ORDER BY dealer_id
