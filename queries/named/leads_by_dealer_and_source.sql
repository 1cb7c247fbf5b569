-- Leads per dealer and canonical lead source, with the share that carries a usable e-mail or phone.
--
-- Leads are records of leads_current (the latest version of each lead). pct_contactable: the
-- percentage of those leads with an e-mail or a phone that passed validation.
SELECT
  dealer_id,
  lead_source,
  count(*) AS leads,
  count_if(email IS NOT NULL) AS with_email,
  count_if(phone IS NOT NULL OR mobile_phone IS NOT NULL) AS with_phone,
  round(100.0 * count_if(email IS NOT NULL OR phone IS NOT NULL OR mobile_phone IS NOT NULL) / count(*), 1) AS pct_contactable
FROM leads_current
GROUP BY dealer_id, lead_source
ORDER BY dealer_id, leads DESC
