-- dms_crm_gap: per dealer, how far its DMS and its CRM disagree: sales with no CRM record of the
-- buyer, and buyers the CRM knows with other contact data than the DMS.
--
-- Definitions:
-- - Sales are DMS deals (sales_current). A sale has a CRM record when identity resolution put a
--   lead of the same dealer in the buyer's person, requested at most crm_lookback_days (365) before
--   the sale date (or any time after it: a CRM entry made late still counts as a record).
--   Sales whose buyer identity resolution has not reached yet are counted apart (unresolved).
-- - For people with both a lead and a sale at the dealer, the latest lead (leads_current) and the
--   latest sale (sales_current) are compared: e-mail, phone (mobile, else main, else alternate),
--   zip, and last name (case-insensitive); a field disagrees only when both sides have a value.
--
-- Columns: dealer_id; sales; unresolved_sales; sales_without_crm; sales_without_crm_rate =
-- sales_without_crm / resolved sales; people_in_both; email_mismatch, phone_mismatch, zip_mismatch,
-- name_mismatch (people whose two records disagree on it); any_mismatch; mismatch_rate =
-- any_mismatch / people_in_both.
WITH settings AS (
    SELECT 365 AS crm_lookback_days
),
sales AS (
    SELECT s.record_id, s.dealer_id, p.person_id, coalesce(s.delivery_date, s.contract_date) AS sold_on,
        s.email, coalesce(s.mobile_phone, s.phone, s.alternate_phone) AS phone, s.zip, lower(s.last_name) AS last_name,
        coalesce(s.delivery_date, s.contract_date, CAST(s.received_at AS date)) AS sale_order
    FROM sales_current s
    LEFT JOIN person_links p ON p.record_id = s.record_id
),
leads AS (
    SELECT l.record_id, l.dealer_id, p.person_id, l.requested_at, l.email,
        coalesce(l.mobile_phone, l.phone, l.alternate_phone) AS phone, l.zip, lower(l.last_name) AS last_name
    FROM leads_current l
    JOIN person_links p ON p.record_id = l.record_id
),
crm_matches AS (
    SELECT DISTINCT s.record_id
    FROM sales s
    CROSS JOIN settings st
    JOIN leads l ON l.person_id = s.person_id AND l.dealer_id = s.dealer_id
    WHERE s.sold_on IS NULL
        OR date_diff('day', CAST(l.requested_at AS date), s.sold_on) <= st.crm_lookback_days
),
sale_counts AS (
    SELECT s.dealer_id,
        count(*) AS sales,
        count_if(s.person_id IS NULL) AS unresolved_sales,
        count_if(s.person_id IS NOT NULL AND m.record_id IS NULL) AS sales_without_crm
    FROM sales s
    LEFT JOIN crm_matches m ON m.record_id = s.record_id
    GROUP BY s.dealer_id
),
latest_sale AS (
    SELECT *, row_number() OVER (PARTITION BY dealer_id, person_id ORDER BY sale_order DESC, record_id DESC) AS pick
    FROM sales
    WHERE person_id IS NOT NULL
),
latest_lead AS (
    SELECT *, row_number() OVER (PARTITION BY dealer_id, person_id ORDER BY requested_at DESC, record_id DESC) AS pick
    FROM leads
),
compared AS (
    SELECT s.dealer_id,
        coalesce(s.email <> l.email, false) AS email_mismatch,
        coalesce(s.phone <> l.phone, false) AS phone_mismatch,
        coalesce(s.zip <> l.zip, false) AS zip_mismatch,
        coalesce(s.last_name <> l.last_name, false) AS name_mismatch
    FROM latest_sale s
    JOIN latest_lead l ON l.dealer_id = s.dealer_id AND l.person_id = s.person_id AND l.pick = 1
    WHERE s.pick = 1
),
mismatches AS (
    SELECT dealer_id,
        count(*) AS people_in_both,
        count_if(email_mismatch) AS email_mismatch,
        count_if(phone_mismatch) AS phone_mismatch,
        count_if(zip_mismatch) AS zip_mismatch,
        count_if(name_mismatch) AS name_mismatch,
        count_if(email_mismatch OR phone_mismatch OR zip_mismatch OR name_mismatch) AS any_mismatch
    FROM compared
    GROUP BY dealer_id
)
SELECT c.dealer_id, c.sales, c.unresolved_sales, c.sales_without_crm,
    CAST(c.sales_without_crm AS double) / nullif(c.sales - c.unresolved_sales, 0) AS sales_without_crm_rate,
    coalesce(m.people_in_both, 0) AS people_in_both,
    coalesce(m.email_mismatch, 0) AS email_mismatch,
    coalesce(m.phone_mismatch, 0) AS phone_mismatch,
    coalesce(m.zip_mismatch, 0) AS zip_mismatch,
    coalesce(m.name_mismatch, 0) AS name_mismatch,
    coalesce(m.any_mismatch, 0) AS any_mismatch,
    CAST(m.any_mismatch AS double) / nullif(m.people_in_both, 0) AS mismatch_rate
FROM sale_counts c
LEFT JOIN mismatches m ON m.dealer_id = c.dealer_id
