-- Speed-to-lead distribution per dealer: minutes from an enquiry's request to its first personal
-- contact, as the lead_outcomes view times it (so the funnel's "contacted" and these figures agree,
-- and the medians are those of the dealer_speed_to_lead view): test leads left out, a shopper's
-- repeats at the same dealer within the dedupe window are one enquiry timed from its first lead,
-- the first contact is the earliest of the CRM's 'contacted' event and the CRM's own first-contact
-- time, within the attribution window. {{since}} / {{until}} bound the request time.
-- count(*) FILTER, not count_if: DuckDB's count_if is null, not 0, when every condition is null.
WITH enquiries AS (
  SELECT dealer_id, minutes_to_contact AS minutes
  FROM lead_outcomes
  WHERE NOT is_duplicate AND requested_at >= {{since}} AND requested_at < {{until}}
)
SELECT
  dealer_id,
  count(*) AS leads,
  count(minutes) AS contacted_leads,
  count(*) FILTER (WHERE minutes IS NULL) AS no_contact_recorded,
  count(*) FILTER (WHERE minutes <= 5) AS within_5_min,
  count(*) FILTER (WHERE minutes > 5 AND minutes <= 15) AS min_5_to_15,
  count(*) FILTER (WHERE minutes > 15 AND minutes <= 30) AS min_15_to_30,
  count(*) FILTER (WHERE minutes > 30 AND minutes <= 60) AS min_30_to_60,
  count(*) FILTER (WHERE minutes > 60 AND minutes <= 240) AS hours_1_to_4,
  count(*) FILTER (WHERE minutes > 240 AND minutes <= 1440) AS hours_4_to_24,
  count(*) FILTER (WHERE minutes > 1440) AS over_24_hours,
  round(approx_percentile(minutes, 0.5), 1) AS median_minutes,
  round(approx_percentile(minutes, 0.9), 1) AS p90_minutes
FROM enquiries
GROUP BY dealer_id
ORDER BY leads DESC, dealer_id
