-- Conversions: each lead's funnel stages the dealers' CRMs reported (lead_events), once per lead and
-- stage, with what the ad platforms match it on. A stage reported several times counts from its
-- first occurrence (the earliest occurred_at; each event record in its latest version). An event
-- names its lead by our id (lead_id, the lead's record_id) or by the CRM's own key (crm_lead_id,
-- the lead's source_key at the same dealer), as speed-to-lead matches them (timings.py).
-- A stage's first occurrence is found over the whole history, and only then are the stages that
-- first occurred before {{since}} left out: a stage first reported before it and reported again later
-- is not sent as if it were new (older conversions are past the platforms' windows anyway).
-- origin: the lead's source as the source system, the provider and the UTM named it, lowercased,
-- to tell a Meta lead ad's platform_lead_id from another platform's.
-- A lead with an ad platform's own lead id also has the stage 'lead' at its request time: Meta's CRM
-- integration wants every stage, the initial lead first (stages.prepare keeps it for Meta lead ads).
-- An event record's latest version decides, so it is picked before the type and time are looked at:
-- a sale the CRM later corrected to lost, or whose time it moved, counts as it is now.
WITH event_versions AS (
    SELECT record_id, dealer_id, lead_id, crm_lead_id, event_type, occurred_at, sale_value,
        row_number() OVER (PARTITION BY record_id ORDER BY received_at DESC, upload_id DESC) AS version
    FROM lead_events
),
events AS (
    SELECT * FROM event_versions
    WHERE version = 1 AND event_type IN ('appointment_set', 'shown', 'sold')
),
lead_versions AS (
    SELECT record_id, dealer_id, source_key, requested_at, gclid, fbclid, platform_lead_id,
        lower(concat_ws(' ', lead_source, lead_source_raw, provider_name, utm_source)) AS origin,
        email, coalesce(mobile_phone, phone, alternate_phone) AS phone, first_name, last_name, zip, country,
        row_number() OVER (PARTITION BY record_id ORDER BY received_at DESC, upload_id DESC) AS version
    FROM leads
),
-- the two ways an event names its lead, as two equality joins (an OR in one join condition would
-- compare every event with every lead); the second leaves out the pairs the first found
by_our_id AS (
    SELECT e.*, l.record_id AS matched_lead
    FROM events e JOIN lead_versions l ON l.version = 1 AND e.lead_id = l.record_id
    WHERE e.version = 1
),
by_crm_key AS (
    SELECT e.*, l.record_id AS matched_lead
    FROM events e
    JOIN lead_versions l
      ON l.version = 1 AND e.crm_lead_id = l.source_key AND e.dealer_id = l.dealer_id
    WHERE e.version = 1 AND (e.lead_id IS NULL OR e.lead_id <> l.record_id)
),
matched AS (
    SELECT l.record_id AS lead_id, e.event_type AS stage, e.occurred_at, e.sale_value,
        e.record_id AS event_record_id, l.dealer_id, l.requested_at, l.gclid, l.fbclid, l.platform_lead_id,
        l.origin, l.email, l.phone, l.first_name, l.last_name, l.zip, l.country
    FROM (SELECT * FROM by_our_id UNION ALL SELECT * FROM by_crm_key) e
    JOIN lead_versions l ON l.version = 1 AND l.record_id = e.matched_lead
),
platform_leads AS (
    SELECT record_id AS lead_id, 'lead' AS stage, requested_at AS occurred_at,
        CAST(NULL AS decimal(12, 2)) AS sale_value, record_id AS event_record_id, dealer_id, requested_at,
        gclid, fbclid, platform_lead_id, origin, email, phone, first_name, last_name, zip, country
    FROM lead_versions
    WHERE version = 1 AND platform_lead_id IS NOT NULL
),
firsts AS (
    SELECT *, row_number() OVER (PARTITION BY lead_id, stage ORDER BY occurred_at, event_record_id) AS nth
    FROM (SELECT * FROM matched UNION ALL SELECT * FROM platform_leads) AS stages
)
SELECT f.lead_id, f.stage, f.occurred_at, f.sale_value, f.event_record_id, f.dealer_id, f.requested_at,
    f.gclid, f.fbclid, f.platform_lead_id, f.origin, f.email, f.phone, f.first_name, f.last_name, f.zip,
    f.country, p.person_id
FROM firsts f
LEFT JOIN person_links p ON p.record_id = f.lead_id
WHERE f.nth = 1 AND f.occurred_at >= {{since}}
ORDER BY f.dealer_id, f.occurred_at, f.lead_id, f.stage
