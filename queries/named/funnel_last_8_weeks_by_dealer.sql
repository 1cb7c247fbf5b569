-- Lead funnel per dealer over the 8 weeks up to the latest week with leads (the current week on a
-- live lake): enquiries, how many reached each stage, and the rate from each stage to the next.
--
-- From lead_funnel (its definitions: test leads left out, repeats within dedupe_window_days one
-- enquiry, outcomes within attribution_window_days, stages cumulative), all sources, models and
-- conditions together. The latest weeks' enquiries may still reach later stages. Rates are
-- percentages; where shows_reported is 0 the dealer reports no shows and pct_shown and pct_closed
-- say nothing.
WITH weekly AS (
  SELECT dealer_id, week,
    sum(leads) AS leads, sum(contacted) AS contacted, sum(appointment_set) AS appointment_set,
    sum(shown) AS shown, sum(sold) AS sold, sum(duplicates) AS duplicates,
    sum(shows_reported) AS shows_reported,
    max(week) OVER () AS latest_week
  FROM lead_funnel
  GROUP BY dealer_id, week
)
SELECT
  dealer_id,
  min(week) AS first_week,
  max(week) AS last_week,
  sum(leads) AS enquiries,
  sum(contacted) AS contacted,
  sum(appointment_set) AS appointment_set,
  sum(shown) AS shown,
  sum(sold) AS sold,
  round(100.0 * sum(contacted) / nullif(sum(leads), 0), 1) AS pct_contacted,
  round(100.0 * sum(appointment_set) / nullif(sum(contacted), 0), 1) AS pct_appointment,
  round(100.0 * sum(shown) / nullif(sum(appointment_set), 0), 1) AS pct_shown,
  round(100.0 * sum(sold) / nullif(sum(shown), 0), 1) AS pct_closed,
  round(100.0 * sum(sold) / nullif(sum(leads), 0), 1) AS pct_lead_to_sale,
  sum(duplicates) AS duplicate_leads,
  sum(shows_reported) AS shows_reported
FROM weekly
WHERE week > date_add('week', -8, latest_week)
GROUP BY dealer_id
ORDER BY dealer_id
