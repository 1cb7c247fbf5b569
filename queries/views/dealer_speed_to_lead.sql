-- dealer_speed_to_lead: speed-to-lead per dealer, overall and per week: the median and p90 minutes
-- from a customer's request to the dealer's first personal contact, against the OEM's target.
--
-- Definitions:
-- - Enquiries and first contacts as in lead_outcomes: test leads left out; repeats within
--   dedupe_window_days are one enquiry, timed from its first lead; the first contact is the
--   earliest of the CRM's 'contacted' event and the CRM's own first-contact time
--   (leads.first_contacted_at), within attribution_window_days.
-- - speed_to_lead_target_minutes (30 by default, the usual OEM program target).
-- - min_contact_rate (0.5): below this share of enquiries with a reported first contact, whether
--   the dealer meets the target is unknown (meets_target null): its CRM may not report contacts,
--   and a median of the few it reports says nothing about the others.
-- - Times are actual minutes, not business hours (`forecourt timings` prints both).
-- - Medians and p90 are Athena's approx_percentile (exact on DuckDB for small sets).
--
-- Columns:
-- - dealer_id; week: Monday (UTC) of the requests, or null on the dealer's row over all weeks.
-- - leads: enquiries; contacted_leads: enquiries with a first contact; contact_rate =
--   contacted_leads / leads.
-- - median_minutes, p90_minutes: of the contacted enquiries (null when none).
-- - target_minutes; within_target: contacted enquiries whose first contact came within the target;
--   within_target_rate = within_target / contacted_leads; meets_target: median_minutes <= target,
--   null when contact_rate < min_contact_rate (or no contact at all).
WITH settings AS (
    SELECT 30 AS speed_to_lead_target_minutes, 0.5 AS min_contact_rate
),
enquiries AS (
    SELECT o.dealer_id, o.week, o.minutes_to_contact, s.speed_to_lead_target_minutes AS target_minutes,
        s.min_contact_rate
    FROM lead_outcomes o
    CROSS JOIN settings s
    WHERE NOT o.is_duplicate
),
timed AS (
    SELECT dealer_id, week,
        count(*) AS leads,
        count(minutes_to_contact) AS contacted_leads,
        approx_percentile(minutes_to_contact, 0.5) AS median_minutes,
        approx_percentile(minutes_to_contact, 0.9) AS p90_minutes,
        max(target_minutes) AS target_minutes,
        max(min_contact_rate) AS min_contact_rate,
        count_if(minutes_to_contact <= target_minutes) AS within_target
    FROM enquiries
    GROUP BY GROUPING SETS ((dealer_id, week), (dealer_id))
)
SELECT dealer_id, week, leads, contacted_leads,
    CAST(contacted_leads AS double) / nullif(leads, 0) AS contact_rate,
    median_minutes, p90_minutes, target_minutes, within_target,
    CAST(within_target AS double) / nullif(contacted_leads, 0) AS within_target_rate,
    CASE
        WHEN contacted_leads >= min_contact_rate * leads AND contacted_leads > 0
            THEN median_minutes <= target_minutes
    END AS meets_target
FROM timed
