-- Leads per dealer: how many, where they come from, and how many can be contacted at all.
--
-- Leads are records of leads_current (the latest version of each lead: a lead a dealer re-sends
-- in tomorrow's export counts once), test leads included. Shares are percentages of the dealer's
-- leads.
SELECT
  dealer_id,
  count(*) AS leads,
  count_if(lead_source = 'oem_website') AS oem_website,
  count_if(lead_source = 'third_party') AS third_party,
  count_if(lead_source = 'dealer_website') AS dealer_website,
  round(100.0 * count_if(email IS NOT NULL) / count(*), 1) AS pct_email,
  round(100.0 * count_if(phone IS NOT NULL OR mobile_phone IS NOT NULL) / count(*), 1) AS pct_phone
FROM leads_current
GROUP BY dealer_id
ORDER BY dealer_id
