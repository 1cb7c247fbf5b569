-- campaign_performance: what each campaign cost and brought, per campaign and dealer, under first-
-- and last-touch attribution: spend, leads, appointments, sales, cost per lead and per sale.
--
-- Definitions:
-- - Leads are enquiries (lead_outcomes: test leads left out, repeats within dedupe_window_days
--   counted once; appointments and sales within attribution_window_days of the enquiry, a sale
--   from the CRM or the DMS; stages cumulative, so a sale counts as an appointment too).
-- - A touch is a lead of the same shopper (at any dealer) carrying a campaign (lead_outcomes.
--   campaign_id) requested at most touch_window_days (30 by default, like the enrichment's
--   attribution.window_days) before the enquiry, or the enquiry itself. first_touch credits the
--   enquiry to the earliest touch's campaign, last_touch to the latest; an enquiry without a touch
--   is in neither. The enriched_leads table carries the same touches for recent leads only.
-- - Spend is campaign_spend_current summed per campaign (rows named only by campaign_name are
--   matched to campaigns by name). Spend a dealer reported itself (its own dealer_id) is that
--   dealer's; OEM-level spend (dealer_id 'oem') is shared among the dealers in proportion to their
--   leads from the campaign under the row's attribution; spend of a campaign without any lead
--   stays on a row with dealer_id 'oem'. So for each attribution, spend adds up to the
--   campaign's total spend. Spend is in each ad account's currency.
--
-- Columns:
-- - campaign_id; campaign_name (campaigns_current, else the spend rows' name); dealer_id;
--   attribution: 'first_touch' or 'last_touch'.
-- - spend (double); leads, appointments (reached appointment_set or later), sales.
-- - cost_per_lead = spend / leads; cost_per_sale = spend / sales (null when 0).
WITH settings AS (
    SELECT 30 AS touch_window_days
),
campaign_names AS (
    SELECT campaign_id, max_by(campaign_name, received_at) AS campaign_name
    FROM campaigns_current
    WHERE campaign_id IS NOT NULL
    GROUP BY campaign_id
),
ids_by_name AS (
    SELECT campaign_name, min(campaign_id) AS campaign_id
    FROM campaigns_current
    WHERE campaign_id IS NOT NULL AND campaign_name IS NOT NULL
    GROUP BY campaign_name
),
outcomes AS (
    SELECT lead_id, enquiry_lead_id, is_duplicate, dealer_id, shopper_key, requested_at, campaign_id,
        appointment_at, shown_at, sold_at
    FROM lead_outcomes
),
enquiries AS (
    SELECT enquiry_lead_id, dealer_id, shopper_key, requested_at, appointment_at, shown_at, sold_at
    FROM outcomes
    WHERE NOT is_duplicate
),
touches AS (
    SELECT shopper_key, lead_id, requested_at, campaign_id
    FROM outcomes
    WHERE campaign_id IS NOT NULL
),
touched AS (
    SELECT e.enquiry_lead_id, t.campaign_id,
        row_number() OVER (PARTITION BY e.enquiry_lead_id ORDER BY t.requested_at, t.lead_id) AS first,
        row_number() OVER (PARTITION BY e.enquiry_lead_id ORDER BY t.requested_at DESC, t.lead_id DESC) AS last
    FROM enquiries e
    CROSS JOIN settings s
    JOIN touches t ON t.shopper_key = e.shopper_key
    WHERE t.requested_at <= e.requested_at
        AND date_diff('second', t.requested_at, e.requested_at) <= s.touch_window_days * 86400
),
credited AS (
    SELECT 'first_touch' AS attribution, t.campaign_id, e.*
    FROM touched t JOIN enquiries e ON e.enquiry_lead_id = t.enquiry_lead_id
    WHERE t.first = 1
    UNION ALL
    SELECT 'last_touch' AS attribution, t.campaign_id, e.*
    FROM touched t JOIN enquiries e ON e.enquiry_lead_id = t.enquiry_lead_id
    WHERE t.last = 1
),
results AS (
    SELECT campaign_id, dealer_id, attribution,
        count(*) AS leads,
        count_if(coalesce(appointment_at, shown_at, sold_at) IS NOT NULL) AS appointments,
        count_if(sold_at IS NOT NULL) AS sales
    FROM credited
    GROUP BY campaign_id, dealer_id, attribution
),
spend_rows AS (
    SELECT coalesce(s.campaign_id, n.campaign_id, s.campaign_name) AS campaign_id, s.campaign_name,
        s.dealer_id, CAST(s.spend AS double) AS spend
    FROM campaign_spend_current s
    LEFT JOIN ids_by_name n ON s.campaign_id IS NULL AND n.campaign_name = s.campaign_name
    WHERE s.spend IS NOT NULL
),
campaign_totals AS (
    SELECT campaign_id,
        sum(CASE WHEN dealer_id = 'oem' THEN spend ELSE 0 END) AS oem_spend,
        max(campaign_name) AS spend_name
    FROM spend_rows
    GROUP BY campaign_id
),
dealer_spend AS (
    SELECT campaign_id, dealer_id, sum(spend) AS spend
    FROM spend_rows
    WHERE dealer_id <> 'oem'
    GROUP BY campaign_id, dealer_id
),
attributions AS (
    SELECT * FROM (VALUES 'first_touch', 'last_touch') AS a (attribution)
),
keys AS (
    SELECT campaign_id, dealer_id, attribution FROM results
    UNION
    SELECT d.campaign_id, d.dealer_id, a.attribution FROM dealer_spend d CROSS JOIN attributions a
),
campaign_leads AS (
    SELECT campaign_id, attribution, sum(leads) AS leads
    FROM results
    GROUP BY campaign_id, attribution
),
dealer_rows AS (
    SELECT k.campaign_id, k.dealer_id, k.attribution,
        coalesce(d.spend, 0) + coalesce(s.oem_spend * r.leads / CAST(c.leads AS double), 0) AS spend,
        coalesce(r.leads, 0) AS leads,
        coalesce(r.appointments, 0) AS appointments,
        coalesce(r.sales, 0) AS sales
    FROM keys k
    LEFT JOIN results r
      ON r.campaign_id = k.campaign_id AND r.dealer_id = k.dealer_id AND r.attribution = k.attribution
    LEFT JOIN dealer_spend d ON d.campaign_id = k.campaign_id AND d.dealer_id = k.dealer_id
    LEFT JOIN campaign_leads c ON c.campaign_id = k.campaign_id AND c.attribution = k.attribution
    LEFT JOIN campaign_totals s ON s.campaign_id = k.campaign_id
),
unallocated AS (
    SELECT s.campaign_id, 'oem' AS dealer_id, a.attribution, s.oem_spend AS spend,
        0 AS leads, 0 AS appointments, 0 AS sales
    FROM campaign_totals s
    CROSS JOIN attributions a
    LEFT JOIN campaign_leads c ON c.campaign_id = s.campaign_id AND c.attribution = a.attribution
    WHERE s.oem_spend > 0 AND c.leads IS NULL
),
performance AS (
    SELECT * FROM dealer_rows
    UNION ALL
    SELECT * FROM unallocated
)
SELECT p.campaign_id, coalesce(n.campaign_name, s.spend_name) AS campaign_name, p.dealer_id, p.attribution,
    p.spend, p.leads, p.appointments, p.sales,
    p.spend / nullif(p.leads, 0) AS cost_per_lead,
    p.spend / nullif(p.sales, 0) AS cost_per_sale
FROM performance p
LEFT JOIN campaign_names n ON n.campaign_id = p.campaign_id
LEFT JOIN campaign_totals s ON s.campaign_id = p.campaign_id
