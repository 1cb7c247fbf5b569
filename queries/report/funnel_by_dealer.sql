-- The funnel per dealer: stage counts and each stage's conversion from the stage before it
-- (contact rate = contacted / leads, appointment rate = appointments / contacted, show rate =
-- shown / appointments, close rate = sold / shown), in per cent, from the lead_funnel view.
SELECT
  dealer_id,
  sum(leads) AS leads,
  sum(contacted) AS contacted,
  sum(appointment_set) AS appointment_set,
  sum(shown) AS shown,
  sum(sold) AS sold,
  round(100.0 * sum(contacted) / nullif(sum(leads), 0), 1) AS contact_rate,
  round(100.0 * sum(appointment_set) / nullif(sum(contacted), 0), 1) AS appointment_rate,
  round(100.0 * sum(shown) / nullif(sum(appointment_set), 0), 1) AS show_rate,
  round(100.0 * sum(sold) / nullif(sum(shown), 0), 1) AS close_rate
FROM lead_funnel
WHERE week >= {{since}} AND week < {{until}}
GROUP BY dealer_id
ORDER BY leads DESC, dealer_id
