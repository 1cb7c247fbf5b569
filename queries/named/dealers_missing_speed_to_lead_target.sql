-- Dealers missing the speed-to-lead target: the dealers whose median minutes to first contact, over
-- every enquiry in the lake, is slower than the target, or who report too few contacts to tell;
-- unknown first, then slowest first, with how many of the 8 weeks up to the latest week with leads
-- they missed it in.
--
-- From dealer_speed_to_lead (its definitions and settings: speed_to_lead_target_minutes, 30 by
-- default; min_contact_rate, 0.5: below it meets_target is unknown), in one pass: its overall row
-- per dealer, and its weekly rows counted with window functions (recent_weeks_missed counts the
-- weeks missed or unknown). Rates are percentages.
WITH speed AS (
  SELECT *, max(week) OVER () AS latest_week
  FROM dealer_speed_to_lead
),
counted AS (
  SELECT *,
    sum(CASE WHEN week > date_add('week', -8, latest_week) THEN 1 ELSE 0 END)
      OVER (PARTITION BY dealer_id) AS recent_weeks,
    sum(CASE WHEN week > date_add('week', -8, latest_week) AND NOT coalesce(meets_target, false) THEN 1 ELSE 0 END)
      OVER (PARTITION BY dealer_id) AS recent_weeks_missed
  FROM speed
)
SELECT
  dealer_id,
  leads AS enquiries,
  contacted_leads AS contacted,
  round(100 * contact_rate, 1) AS pct_contacted,
  round(median_minutes, 1) AS median_minutes,
  round(p90_minutes, 1) AS p90_minutes,
  target_minutes,
  round(100 * within_target_rate, 1) AS pct_within_target,
  meets_target,
  recent_weeks_missed,
  recent_weeks
FROM counted
WHERE week IS NULL AND NOT coalesce(meets_target, false)
ORDER BY meets_target IS NULL DESC, median_minutes DESC, dealer_id
