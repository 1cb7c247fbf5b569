-- The lead funnel over the report's period: leads, then how many reached each stage (from the
-- lead_funnel view: a lead counts at a stage once its dealer's CRM reported it, in any later event).
-- Athena (Trino) SQL; the report runs it through `forecourt query`'s engine. {{since}} / {{until}}
-- bound the week of the lead.
SELECT
  coalesce(sum(leads), 0) AS leads,
  coalesce(sum(contacted), 0) AS contacted,
  coalesce(sum(appointment_set), 0) AS appointment_set,
  coalesce(sum(shown), 0) AS shown,
  coalesce(sum(sold), 0) AS sold
FROM lead_funnel
WHERE week >= {{since}} AND week < {{until}}
