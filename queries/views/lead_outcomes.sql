-- lead_outcomes: one row per lead (its latest version, leads_current), with the person it belongs
-- to, whether it repeats an earlier enquiry, and when its enquiry reached each funnel stage. The
-- funnel, speed-to-lead and campaign views count from here, so that they share one definition.
--
-- Definitions (settings, see docs/views.md: FORECOURT_VIEW_SETTINGS):
-- - Test leads (lead_routes.is_test: OEM test e-mail domains, the word "test") are left out.
-- - The shopper is the lead's person (person_links.person_id); a lead identity resolution has not
--   reached yet is keyed by its e-mail, else its phone, else itself.
-- - dedupe_window_days (7): a lead of the same shopper at the same dealer within this many days of
--   the shopper's previous lead there repeats it (is_duplicate): one enquiry, counted once, with the
--   source, model and condition of its first lead. A new lead after a longer gap opens a new
--   enquiry. Leads at other dealers are never duplicates of each other (cross-shopping is real).
-- - attribution_window_days (90): an outcome counts for an enquiry when it happens between the
--   first lead's request and this many days after it. Outcomes are the stages the dealer's CRM
--   reported (lead_events_current: contacted, appointment_set, shown, sold; matched to the lead by
--   our lead id or by the CRM's own key at the same dealer) on any lead of the enquiry, the CRM's
--   own first-contact time (leads.first_contacted_at), a showroom visit (visits_current, visit_type
--   'showroom') of the same shopper at the same dealer - shown, and an appointment too when the
--   visit was by appointment (visits.appointment) - and a DMS sale (sales_current) to the same
--   person at the same dealer. A visit or a DMS sale is credited to the shopper's latest enquiry
--   at or before it: CRMs often report no appointment or show, and the DMS reports every deal.
--
-- Columns:
-- - lead_id: the lead (leads.record_id); dealer_id, requested_at, lead_source, vehicle_make,
--   vehicle_model, condition (vehicle_status: 'new', 'used' or null): the lead's own.
-- - week: Monday (UTC) of the week of requested_at.
-- - person_id: the person (null until identity resolution reaches the lead); shopper_key: the
--   person, e-mail, phone or lead the dedupe went by.
-- - campaign_id: the campaign the lead carries: leads.campaign_id, else the campaign whose name is
--   the lead's utm_campaign, else utm_campaign as given; null when none.
-- - is_duplicate: the lead repeats an earlier lead of the enquiry; enquiry_lead_id: the enquiry's
--   first lead (the lead itself when not a duplicate).
-- - contacted_at, appointment_at, shown_at, sold_at: the first time the enquiry reached the stage
--   within the attribution window (null: not reached, or not reported); the same on every lead of
--   the enquiry. A visit by appointment gives appointment_at its time (when the appointment was
--   kept; the CRM's appointment_set event, when reported, says when it was set). sold_by: 'crm' (a
--   sold event), 'dms' (a DMS deal) or null; shown_by: 'crm' (a shown event), 'visit' (a showroom
--   visit) or null.
-- - minutes_to_contact: contacted_at − the first lead's requested_at, in minutes.
WITH settings AS (
    SELECT 7 AS dedupe_window_days, 90 AS attribution_window_days
),
test_leads AS (
    SELECT DISTINCT lead_id FROM lead_routes WHERE is_test
),
campaign_names AS (
    SELECT campaign_name, min(campaign_id) AS campaign_id
    FROM campaigns_current
    WHERE campaign_id IS NOT NULL AND campaign_name IS NOT NULL
    GROUP BY campaign_name
),
lead AS (
    SELECT l.record_id AS lead_id, l.dealer_id, l.source_key, l.requested_at, l.lead_source,
        l.vehicle_make, l.vehicle_model, l.vehicle_status AS condition, l.first_contacted_at,
        p.person_id,
        coalesce(p.person_id, 'email:' || l.email,
            'phone:' || coalesce(l.mobile_phone, l.phone, l.alternate_phone), 'lead:' || l.record_id)
            AS shopper_key,
        coalesce(l.campaign_id, c.campaign_id, l.utm_campaign) AS campaign_id
    FROM leads_current l
    LEFT JOIN person_links p ON p.record_id = l.record_id
    LEFT JOIN campaign_names c ON c.campaign_name = l.utm_campaign
    LEFT JOIN test_leads t ON t.lead_id = l.record_id
    WHERE t.lead_id IS NULL
),
sequenced AS (
    SELECT lead.*,
        coalesce(
            date_diff('second',
                lag(requested_at) OVER (PARTITION BY dealer_id, shopper_key ORDER BY requested_at, lead_id),
                requested_at) <= s.dedupe_window_days * 86400,
            false) AS is_duplicate,
        s.attribution_window_days
    FROM lead
    CROSS JOIN settings s
),
numbered AS (
    SELECT sequenced.*,
        sum(CASE WHEN is_duplicate THEN 0 ELSE 1 END) OVER (
            PARTITION BY dealer_id, shopper_key ORDER BY requested_at, lead_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS enquiry_number
    FROM sequenced
),
enquiry AS (
    SELECT numbered.*,
        first_value(lead_id) OVER (
            PARTITION BY dealer_id, shopper_key, enquiry_number ORDER BY requested_at, lead_id) AS enquiry_lead_id,
        first_value(requested_at) OVER (
            PARTITION BY dealer_id, shopper_key, enquiry_number ORDER BY requested_at, lead_id) AS enquiry_at
    FROM numbered
),
events AS (
    SELECT record_id, dealer_id, lead_id, crm_lead_id, event_type, occurred_at
    FROM lead_events_current
    WHERE event_type IN ('contacted', 'appointment_set', 'shown', 'sold')
),
-- the two ways an event names its lead, as two equality joins (an OR in one join condition would
-- compare every event with every lead); the second leaves out the pairs the first found
event_leads AS (
    SELECT e.event_type, e.occurred_at, q.enquiry_lead_id
    FROM events e JOIN enquiry q ON q.lead_id = e.lead_id
    UNION ALL
    SELECT e.event_type, e.occurred_at, q.enquiry_lead_id
    FROM events e
    JOIN enquiry q ON q.source_key = e.crm_lead_id AND q.dealer_id = e.dealer_id
    WHERE e.lead_id IS NULL OR e.lead_id <> q.lead_id
),
crm_stages AS (
    SELECT q.enquiry_lead_id,
        min(CASE WHEN v.event_type = 'contacted' THEN v.occurred_at END) AS contacted_at,
        min(CASE WHEN v.event_type = 'appointment_set' THEN v.occurred_at END) AS appointment_at,
        min(CASE WHEN v.event_type = 'shown' THEN v.occurred_at END) AS shown_at,
        min(CASE WHEN v.event_type = 'sold' THEN v.occurred_at END) AS sold_at
    FROM event_leads v
    JOIN enquiry q ON q.lead_id = v.enquiry_lead_id
    WHERE v.occurred_at >= q.enquiry_at
        AND date_diff('second', q.enquiry_at, v.occurred_at) <= q.attribution_window_days * 86400
    GROUP BY q.enquiry_lead_id
),
crm_contacts AS (
    SELECT enquiry_lead_id, min(first_contacted_at) AS contacted_at
    FROM enquiry
    WHERE first_contacted_at >= enquiry_at
        AND date_diff('second', enquiry_at, first_contacted_at) <= attribution_window_days * 86400
    GROUP BY enquiry_lead_id
),
showroom_visits AS (
    SELECT v.record_id, v.dealer_id, v.visited_at, coalesce(v.appointment, false) AS by_appointment,
        coalesce(p.person_id, 'email:' || v.email,
            'phone:' || coalesce(v.mobile_phone, v.phone, v.alternate_phone), 'visit:' || v.record_id)
            AS shopper_key
    FROM visits_current v
    LEFT JOIN person_links p ON p.record_id = v.record_id
    WHERE v.visit_type = 'showroom' AND v.visited_at IS NOT NULL
),
visit_enquiries AS (
    SELECT v.visited_at, v.by_appointment, q.enquiry_lead_id,
        row_number() OVER (PARTITION BY v.record_id ORDER BY q.enquiry_at DESC, q.enquiry_lead_id DESC) AS latest
    FROM showroom_visits v
    JOIN enquiry q
      ON q.shopper_key = v.shopper_key AND q.dealer_id = v.dealer_id AND q.lead_id = q.enquiry_lead_id
    WHERE v.visited_at >= q.enquiry_at
        AND date_diff('second', q.enquiry_at, v.visited_at) <= q.attribution_window_days * 86400
),
visit_stages AS (
    SELECT enquiry_lead_id,
        min(CASE WHEN by_appointment THEN visited_at END) AS appointment_at,
        min(visited_at) AS shown_at
    FROM visit_enquiries
    WHERE latest = 1
    GROUP BY enquiry_lead_id
),
deals AS (
    SELECT s.record_id, s.dealer_id, p.person_id, coalesce(s.delivery_date, s.contract_date) AS sold_on
    FROM sales_current s
    JOIN person_links p ON p.record_id = s.record_id
    WHERE coalesce(s.delivery_date, s.contract_date) IS NOT NULL
),
deal_enquiries AS (
    SELECT d.record_id, d.sold_on, q.enquiry_lead_id,
        row_number() OVER (PARTITION BY d.record_id ORDER BY q.enquiry_at DESC, q.enquiry_lead_id DESC) AS latest
    FROM deals d
    JOIN enquiry q
      ON q.person_id = d.person_id AND q.dealer_id = d.dealer_id AND q.lead_id = q.enquiry_lead_id
    WHERE d.sold_on >= CAST(q.enquiry_at AS date)
        AND date_diff('day', CAST(q.enquiry_at AS date), d.sold_on) <= q.attribution_window_days
),
dms_sales AS (
    SELECT enquiry_lead_id, min(sold_on) AS sold_on
    FROM deal_enquiries
    WHERE latest = 1
    GROUP BY enquiry_lead_id
)
SELECT q.lead_id, q.dealer_id, q.requested_at,
    CAST(date_trunc('week', q.requested_at) AS date) AS week,
    q.lead_source, q.vehicle_make, q.vehicle_model, q.condition, q.person_id, q.shopper_key,
    q.campaign_id, q.is_duplicate, q.enquiry_lead_id,
    CASE
        WHEN c.contacted_at IS NULL THEN f.contacted_at
        WHEN f.contacted_at IS NULL THEN c.contacted_at
        ELSE least(c.contacted_at, f.contacted_at)
    END AS contacted_at,
    -- the earlier of two times either of which may be null (least is null when one is, on Trino)
    least(coalesce(c.appointment_at, v.appointment_at), coalesce(v.appointment_at, c.appointment_at))
        AS appointment_at,
    least(coalesce(c.shown_at, v.shown_at), coalesce(v.shown_at, c.shown_at)) AS shown_at,
    coalesce(c.sold_at, CAST(d.sold_on AS timestamp) AT TIME ZONE 'UTC') AS sold_at,
    CASE WHEN c.sold_at IS NOT NULL THEN 'crm' WHEN d.sold_on IS NOT NULL THEN 'dms' END AS sold_by,
    CASE WHEN c.shown_at IS NOT NULL THEN 'crm' WHEN v.shown_at IS NOT NULL THEN 'visit' END AS shown_by,
    date_diff('second', q.enquiry_at,
        CASE
            WHEN c.contacted_at IS NULL THEN f.contacted_at
            WHEN f.contacted_at IS NULL THEN c.contacted_at
            ELSE least(c.contacted_at, f.contacted_at)
        END) / 60.0 AS minutes_to_contact
FROM enquiry q
LEFT JOIN crm_stages c ON c.enquiry_lead_id = q.enquiry_lead_id
LEFT JOIN crm_contacts f ON f.enquiry_lead_id = q.enquiry_lead_id
LEFT JOIN dms_sales d ON d.enquiry_lead_id = q.enquiry_lead_id
LEFT JOIN visit_stages v ON v.enquiry_lead_id = q.enquiry_lead_id
