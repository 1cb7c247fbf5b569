-- Speed-to-lead per dealer: minutes from the customer's request to the dealer's first personal
-- contact, median and p90 (the mean hides the slow tail), against the OEM's target.
--
-- From dealer_speed_to_lead over all weeks (its definitions: enquiries with repeats counted once,
-- the first contact from the CRM's events or its own first-contact time, actual minutes; the
-- target is the view setting speed_to_lead_target_minutes, 30 by default). Rates are percentages.
SELECT
  dealer_id,
  leads AS enquiries,
  contacted_leads AS contacted,
  round(median_minutes, 1) AS median_minutes,
  round(p90_minutes, 1) AS p90_minutes,
  target_minutes,
  round(100 * within_target_rate, 1) AS pct_within_target,
  meets_target
FROM dealer_speed_to_lead
WHERE week IS NULL
ORDER BY dealer_id
