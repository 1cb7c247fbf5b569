-- lead_funnel: the lead funnel per dealer, lead source, model, condition and week: leads (enquiries,
-- duplicates counted once), then how many were contacted, got an appointment, showed and bought,
-- with the rate from each stage to the next.
--
-- Definitions: those of lead_outcomes (test leads left out; dedupe_window_days, 7 by default:
-- repeat leads of the same shopper at the same dealer are one enquiry; attribution_window_days, 90
-- by default: outcomes count within that many days of the enquiry's first lead; a show reported by
-- the CRM or a showroom visit; a sale reported by the CRM or found in the DMS). Stages are
-- cumulative, as in a funnel: an enquiry that reached a later stage has passed the earlier ones (a
-- sale without a reported contact was contacted), so every rate is between 0 and 1. Phone and
-- walk-in leads are counted like the others; filter on source to leave them out.
--
-- Columns:
-- - dealer_id; source: canonical lead source (leads.lead_source); make, model: the vehicle of
--   interest; condition: 'new', 'used' or null (not stated); week: Monday (UTC) of the request.
-- - leads: enquiries (first leads of an enquiry) requested that week.
-- - contacted, appointment_set, shown, sold: enquiries that reached at least that stage.
-- - contact_rate = contacted / leads; appointment_rate = appointment_set / contacted;
--   show_rate = shown / appointment_set; close_rate = sold / shown. Doubles between 0 and 1, null
--   when the denominator is 0.
-- - duplicates: leads folded into those enquiries as repeats (their first lead was that week).
-- - shows_reported: enquiries whose show was reported (a CRM 'shown' event or a showroom visit),
--   not only inferred from a sale. Where it is 0 the dealer reports no shows (it sends no showroom
--   traffic), shown counts only its sales, and show_rate and close_rate say nothing.
WITH enquiries AS (
    SELECT enquiry_lead_id, dealer_id, lead_source, vehicle_make, vehicle_model, condition, week,
        contacted_at, appointment_at, shown_at, sold_at, is_duplicate
    FROM lead_outcomes
),
firsts AS (
    SELECT * FROM enquiries WHERE NOT is_duplicate
),
repeats AS (
    SELECT enquiry_lead_id, count(*) AS duplicates
    FROM enquiries
    WHERE is_duplicate
    GROUP BY enquiry_lead_id
),
counts AS (
    SELECT f.dealer_id, f.lead_source AS source, f.vehicle_make AS make, f.vehicle_model AS model,
        f.condition, f.week,
        count(*) AS leads,
        count_if(coalesce(f.contacted_at, f.appointment_at, f.shown_at, f.sold_at) IS NOT NULL) AS contacted,
        count_if(coalesce(f.appointment_at, f.shown_at, f.sold_at) IS NOT NULL) AS appointment_set,
        count_if(coalesce(f.shown_at, f.sold_at) IS NOT NULL) AS shown,
        count_if(f.sold_at IS NOT NULL) AS sold,
        coalesce(sum(r.duplicates), 0) AS duplicates,
        count_if(f.shown_at IS NOT NULL) AS shows_reported
    FROM firsts f
    LEFT JOIN repeats r ON r.enquiry_lead_id = f.enquiry_lead_id
    GROUP BY f.dealer_id, f.lead_source, f.vehicle_make, f.vehicle_model, f.condition, f.week
)
SELECT dealer_id, source, make, model, condition, week, leads, contacted, appointment_set, shown, sold,
    CAST(contacted AS double) / nullif(leads, 0) AS contact_rate,
    CAST(appointment_set AS double) / nullif(contacted, 0) AS appointment_rate,
    CAST(shown AS double) / nullif(appointment_set, 0) AS show_rate,
    CAST(sold AS double) / nullif(shown, 0) AS close_rate,
    duplicates, shows_reported
FROM counts
