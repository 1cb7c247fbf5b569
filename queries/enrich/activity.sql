-- Enrichment, step 0: everything a resolved person did, one row per record (its latest version:
-- newest upload first), as of {{as_of}} (later records are left out, so that a run as of an earlier
-- day sees what was known then). kind: lead, showroom, service, sale. The finance terms of a sale
-- come from sales_finance (same dealer and deal number); every column computed from them is of PII
-- class financial, and so is every tag or value that reads one (enrich.rules.pii_class).
WITH lead_rows AS (
    SELECT record_id, dealer_id, 'lead' AS kind, requested_at AS at, lead_source,
        lower(concat_ws(' ', lead_source_raw, provider_name, lead_type)) AS lead_origin,
        vehicle_year, vehicle_make, vehicle_model, CAST(NULL AS varchar) AS vehicle_vin,
        salesperson AS staff, coalesce(campaign_id, utm_campaign) AS campaign,
        utm_source, CAST(NULL AS decimal(12, 2)) AS service_gross,
        CAST(NULL AS varchar) AS deal_number, CAST(NULL AS varchar) AS sale_type,
        row_number() OVER (PARTITION BY record_id ORDER BY received_at DESC, upload_id DESC) AS version
    FROM leads
),
visit_rows AS (
    SELECT record_id, dealer_id, visit_type AS kind, visited_at AS at, CAST(NULL AS varchar) AS lead_source,
        CAST(NULL AS varchar) AS lead_origin, vehicle_year, vehicle_make, vehicle_model, vehicle_vin, staff,
        CAST(NULL AS varchar) AS campaign, CAST(NULL AS varchar) AS utm_source,
        CASE WHEN visit_type = 'service' THEN coalesce(labor_amount, 0) + coalesce(parts_amount, 0) END
            AS service_gross,
        CAST(NULL AS varchar) AS deal_number, CAST(NULL AS varchar) AS sale_type,
        row_number() OVER (PARTITION BY record_id ORDER BY received_at DESC, upload_id DESC) AS version
    FROM visits
    WHERE visit_type IN ('showroom', 'service')
),
sale_rows AS (
    SELECT record_id, dealer_id, 'sale' AS kind,
        CAST(coalesce(delivery_date, contract_date) AS timestamp) AT TIME ZONE 'UTC' AS at,
        CAST(NULL AS varchar) AS lead_source, CAST(NULL AS varchar) AS lead_origin, vehicle_year,
        vehicle_make, vehicle_model, vehicle_vin, salesperson AS staff, CAST(NULL AS varchar) AS campaign,
        CAST(NULL AS varchar) AS utm_source, CAST(NULL AS decimal(12, 2)) AS service_gross, deal_number,
        sale_type,
        row_number() OVER (PARTITION BY record_id ORDER BY received_at DESC, upload_id DESC) AS version
    FROM sales
),
finance AS (
    SELECT dealer_id, deal_number, finance_type,
        coalesce(maturity_date, CAST(date_add('month', term_months, first_payment_date) AS date)) AS finance_ends,
        coalesce(front_gross, 0) + coalesce(back_gross, 0) AS deal_gross,
        row_number() OVER (PARTITION BY dealer_id, deal_number ORDER BY received_at DESC, upload_id DESC) AS version
    FROM sales_finance
),
records AS (
    SELECT * FROM lead_rows WHERE version = 1
    UNION ALL
    SELECT * FROM visit_rows WHERE version = 1
    UNION ALL
    SELECT * FROM sale_rows WHERE version = 1
)
SELECT p.person_id, r.record_id, r.dealer_id, r.kind, r.at, r.lead_source, r.lead_origin,
    r.vehicle_year, r.vehicle_make, r.vehicle_model, r.vehicle_vin, r.staff, r.campaign, r.utm_source,
    r.service_gross, r.sale_type, f.finance_type, f.finance_ends, f.deal_gross
FROM records r
JOIN person_links p ON p.record_id = r.record_id
LEFT JOIN finance f ON f.dealer_id = r.dealer_id AND f.deal_number = r.deal_number AND f.version = 1
WHERE r.at <= {{as_of}}
