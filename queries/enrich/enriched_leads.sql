-- Enrichment, step 2: one row per lead requested in the {{lead_days}} days before {{as_of}} whose
-- person is resolved, with the score's inputs (0/1 features named as rules.json's weights), the
-- tags its dealer may see (a financial tag only at the dealer whose deal it comes from), the
-- suggested owner, the customer's value and the campaign touches, plus the lead's own fields for
-- the outbound files. Reads activity (step 0), lead_tags (step 1), leads and campaigns.
WITH lead_versions AS (
    SELECT *, row_number() OVER (PARTITION BY record_id ORDER BY received_at DESC, upload_id DESC) AS version
    FROM leads
),
lead AS (
    SELECT a.person_id, l.*
    FROM lead_versions l
    JOIN activity a ON a.record_id = l.record_id
    WHERE l.version = 1 AND l.requested_at > {{as_of}} - INTERVAL '{{lead_days}}' DAY
),
context AS (
    SELECT l.record_id,
        count_if(a.kind = 'showroom' AND a.at >= l.requested_at - INTERVAL '7' DAY) AS showroom_visits,
        count_if(a.kind = 'lead' AND a.record_id <> l.record_id
            AND a.at BETWEEN l.requested_at - INTERVAL '30' DAY AND l.requested_at + INTERVAL '30' DAY)
            AS other_leads,
        count_if(a.kind = 'sale' AND a.at < l.requested_at) AS earlier_sales,
        sum(a.service_gross) AS service_gross,
        sum(CASE WHEN a.kind = 'service' AND a.at > {{as_of}} - INTERVAL '365' DAY THEN a.service_gross END)
            AS service_gross_year,
        sum(CASE WHEN a.kind = 'sale' AND a.dealer_id = l.dealer_id THEN a.deal_gross END) AS sales_gross
    FROM lead l
    JOIN activity a ON a.person_id = l.person_id
    GROUP BY l.record_id
),
owner AS (
    -- dealer of record: the last sale, else the last service visit (then the newest record)
    SELECT person_id, dealer_id, staff, kind, at,
        concat_ws(' ', CAST(vehicle_year AS varchar), vehicle_make, vehicle_model) AS vehicle,
        row_number() OVER (
            PARTITION BY person_id ORDER BY CASE kind WHEN 'sale' THEN 0 ELSE 1 END, at DESC, record_id
        ) AS pick
    FROM activity
    WHERE kind IN ('sale', 'service')
),
campaign_names AS (
    SELECT campaign_id, campaign_name,
        row_number() OVER (PARTITION BY campaign_id ORDER BY received_at DESC, record_id) AS version
    FROM campaigns
),
touched AS (
    SELECT l.record_id, a.campaign, a.at, a.dealer_id,
        row_number() OVER (PARTITION BY l.record_id ORDER BY a.at, a.record_id) AS first,
        row_number() OVER (PARTITION BY l.record_id ORDER BY a.at DESC, a.record_id DESC) AS last
    FROM lead l
    JOIN activity a ON a.person_id = l.person_id
    WHERE a.kind = 'lead' AND a.campaign IS NOT NULL
        AND a.at BETWEEN l.requested_at - INTERVAL '{{window_days}}' DAY AND l.requested_at
),
touches AS (
    SELECT record_id,
        count(*) AS touches,
        max(CASE WHEN first = 1 THEN campaign END) AS first_campaign,
        min(at) AS first_at,
        max(CASE WHEN first = 1 THEN dealer_id END) AS first_dealer_id,
        max(CASE WHEN last = 1 THEN campaign END) AS last_campaign,
        max(at) AS last_at,
        max(CASE WHEN last = 1 THEN dealer_id END) AS last_dealer_id
    FROM touched
    GROUP BY record_id
),
visible_tags AS (
    SELECT l.record_id,
        array_sort(array_distinct(array_agg(t.tag))) AS tags,
        count_if(t.tag = 'multi_dealer_shopper') AS multi_dealer_shopper,
        count_if(t.tag = 'unfinished_deal') AS unfinished_deal,
        count_if(t.tag = 'trade_in_candidate') AS trade_in_candidate,
        count_if(t.tag = 'service_customer') AS service_customer,
        count_if(t.tag = 'lapsed_customer') AS lapsed_customer
    FROM lead l
    JOIN lead_tags t ON t.person_id = l.person_id AND (t.pii <> 'financial' OR t.dealer_id = l.dealer_id)
    GROUP BY l.record_id
)
SELECT l.record_id, l.source_key AS lead_id, l.dealer_id, l.person_id, l.requested_at,
    -- score inputs, named as the weights of rules.json
    CAST(l.requested_at > {{as_of}} - INTERVAL '2' DAY AS integer) AS fresh_2d,
    CAST(l.requested_at > {{as_of}} - INTERVAL '7' DAY AND l.requested_at <= {{as_of}} - INTERVAL '2' DAY
        AS integer) AS fresh_7d,
    CAST(l.requested_at <= {{as_of}} - INTERVAL '30' DAY AS integer) AS stale_30d,
    CAST(c.showroom_visits > 0 AS integer) AS showroom_visit,
    CAST(c.other_leads > 0 AS integer) AS repeat_inquiry,
    CAST(coalesce(v.multi_dealer_shopper, 0) > 0 AS integer) AS multi_dealer_shopper,
    CAST(coalesce(v.unfinished_deal, 0) > 0 AS integer) AS unfinished_deal,
    CAST(coalesce(l.trade_year, 0) > 0 OR l.trade_make IS NOT NULL OR l.trade_vin IS NOT NULL AS integer)
        AS trade_in_on_lead,
    CAST(coalesce(v.trade_in_candidate, 0) > 0 AS integer) AS trade_in_candidate,
    CAST(l.vehicle_vin IS NOT NULL OR l.vehicle_stock IS NOT NULL AS integer) AS specific_vehicle,
    CAST(l.email IS NOT NULL AND coalesce(l.mobile_phone, l.phone, l.alternate_phone) IS NOT NULL AS integer)
        AS phone_and_email,
    CAST(coalesce(l.lead_source IN ('walk_in', 'phone'), false) AS integer) AS walk_in_or_phone,
    CAST(c.earlier_sales > 0 AS integer) AS past_buyer,
    CAST(coalesce(v.service_customer, 0) > 0 AS integer) AS service_customer,
    CAST(coalesce(v.lapsed_customer, 0) > 0 AS integer) AS lapsed_customer,
    -- tags, owner, value, attribution
    v.tags,
    o.dealer_id AS suggested_dealer_id,
    o.staff AS suggested_salesperson,
    CASE o.kind WHEN 'sale' THEN 'bought' ELSE 'serviced' END || ' a ' || o.vehicle || ' at ' || o.dealer_id
        || ' on ' || CAST(CAST(o.at AS date) AS varchar) || coalesce(' with ' || o.staff, '') AS suggested_reason,
    coalesce(c.service_gross, 0) AS service_gross,
    coalesce(c.service_gross_year, 0) AS service_gross_year,
    c.sales_gross,
    coalesce(t.touches, 0) AS touches,
    t.first_campaign AS first_touch_campaign,
    fc.campaign_name AS first_touch_name,
    t.first_at AS first_touch_at,
    t.first_dealer_id AS first_touch_dealer_id,
    t.last_campaign AS last_touch_campaign,
    lc.campaign_name AS last_touch_name,
    t.last_at AS last_touch_at,
    t.last_dealer_id AS last_touch_dealer_id,
    -- the lead's own fields, for the outbound files
    l.first_name, l.middle_name, l.last_name, l.email, l.phone, l.phone_ext, l.mobile_phone, l.alternate_phone,
    l.street, l.city, l.state, l.zip, l.zip4, l.country, l.vehicle_interest, l.vehicle_status, l.vehicle_year,
    l.vehicle_make, l.vehicle_model, l.vehicle_trim, l.vehicle_vin, l.vehicle_stock, l.trade_year,
    l.trade_make, l.trade_model, l.trade_vin, l.trade_odometer, l.do_not_call, l.do_not_email, l.do_not_text
FROM lead l
JOIN context c ON c.record_id = l.record_id
LEFT JOIN visible_tags v ON v.record_id = l.record_id
LEFT JOIN owner o ON o.person_id = l.person_id AND o.pick = 1
LEFT JOIN touches t ON t.record_id = l.record_id
LEFT JOIN campaign_names fc ON fc.campaign_id = t.first_campaign AND fc.version = 1
LEFT JOIN campaign_names lc ON lc.campaign_id = t.last_campaign AND lc.version = 1
ORDER BY l.dealer_id, l.record_id
