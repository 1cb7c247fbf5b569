-- customer_base: one row per person (identity resolution's persons) as a customer of the network:
-- what they bought and serviced, what they are worth, their segment, and whether they stayed:
-- service retention, repurchase, brand loyalty and defection.
--
-- Definitions (settings, see docs/views.md):
-- - Purchases are DMS deals (sales_current; date: delivery, else contract), services are service
--   visits (visits_current, visit_type 'service'; gross: labor + parts), at any dealer.
-- - lapsed_after_days (540, 18 months): a customer (a purchase or a service) with neither in that
--   many days before today is lapsed: defected, in the network's eyes.
-- - retention_window_days (365): the last purchase is service-retained when a service visit
--   followed it within that many days; null while the window is still open without one.
-- - value_per_vehicle (2500): what a vehicle sold is worth in customer_value (the same figure as
--   the enrichment's value.sale_gross); deal gross is financial data, in customer_profitability.
-- - segment, first that applies: 'lapsed' (see above), 'repeat_buyer' (2+ purchases), 'buyer',
--   'service_only' (services, no purchase), 'prospect' (only leads or showroom visits).
--
-- Columns: person_id; leads; purchases; first_purchase, last_purchase (dates); last_make (make of
-- the last purchase); service_visits; last_service (date); service_gross (all time);
-- service_gross_last_year (the 365 days before today); customer_value = service_gross + purchases ×
-- value_per_vehicle; dealers (distinct, any record); serviced_elsewhere (a service at a dealer
-- other than the last purchase's); service_retained; repurchased (purchases > 1); brand_loyal (the
-- last two purchases of the same make; null under two purchases); lapsed; segment.
WITH settings AS (
    SELECT 540 AS lapsed_after_days, 365 AS retention_window_days, 2500 AS value_per_vehicle
),
purchases AS (
    SELECT p.person_id, s.dealer_id, s.vehicle_make, coalesce(s.delivery_date, s.contract_date) AS sold_on,
        row_number() OVER (
            PARTITION BY p.person_id ORDER BY coalesce(s.delivery_date, s.contract_date) DESC, s.record_id DESC
        ) AS recency
    FROM sales_current s
    JOIN person_links p ON p.record_id = s.record_id
    WHERE coalesce(s.delivery_date, s.contract_date) IS NOT NULL
),
services AS (
    SELECT p.person_id, v.dealer_id, CAST(v.visited_at AS date) AS serviced_on,
        coalesce(v.labor_amount, 0) + coalesce(v.parts_amount, 0) AS gross
    FROM visits_current v
    JOIN person_links p ON p.record_id = v.record_id
    WHERE v.visit_type = 'service' AND v.visited_at IS NOT NULL
),
bought AS (
    SELECT person_id, count(*) AS purchases, min(sold_on) AS first_purchase, max(sold_on) AS last_purchase,
        max(CASE WHEN recency = 1 THEN vehicle_make END) AS last_make,
        max(CASE WHEN recency = 1 THEN dealer_id END) AS last_dealer_id,
        max(CASE WHEN recency = 2 THEN vehicle_make END) AS previous_make
    FROM purchases
    GROUP BY person_id
),
serviced AS (
    SELECT person_id, count(*) AS service_visits, max(serviced_on) AS last_service, sum(gross) AS service_gross,
        sum(CASE WHEN serviced_on > date_add('day', -365, current_date) THEN gross ELSE 0 END)
            AS service_gross_last_year
    FROM services
    GROUP BY person_id
),
retention AS (
    SELECT b.person_id,
        CASE
            WHEN count(sv.person_id) > 0 THEN true
            WHEN date_diff('day', b.last_purchase, current_date) > max(st.retention_window_days) THEN false
        END AS service_retained
    FROM bought b
    CROSS JOIN settings st
    LEFT JOIN services sv
      ON sv.person_id = b.person_id AND sv.serviced_on >= b.last_purchase
        AND date_diff('day', b.last_purchase, sv.serviced_on) <= st.retention_window_days
    GROUP BY b.person_id, b.last_purchase
),
elsewhere AS (
    SELECT b.person_id, count_if(sv.dealer_id <> b.last_dealer_id) > 0 AS serviced_elsewhere
    FROM bought b
    LEFT JOIN services sv ON sv.person_id = b.person_id
    GROUP BY b.person_id
),
people AS (
    SELECT person_id, count_if(dataset = 'leads') AS leads, count(DISTINCT dealer_id) AS dealers
    FROM person_links
    WHERE person_id IS NOT NULL
    GROUP BY person_id
),
customers AS (
    SELECT p.person_id, p.leads, coalesce(b.purchases, 0) AS purchases, b.first_purchase, b.last_purchase,
        b.last_make, b.previous_make, coalesce(v.service_visits, 0) AS service_visits, v.last_service,
        coalesce(v.service_gross, 0) AS service_gross,
        coalesce(v.service_gross_last_year, 0) AS service_gross_last_year,
        p.dealers, coalesce(e.serviced_elsewhere, false) AS serviced_elsewhere, r.service_retained,
        (b.last_purchase IS NOT NULL OR v.last_service IS NOT NULL)
            AND date_diff('day',
                CASE
                    WHEN b.last_purchase IS NULL THEN v.last_service
                    WHEN v.last_service IS NULL THEN b.last_purchase
                    ELSE greatest(b.last_purchase, v.last_service)
                END, current_date) > s.lapsed_after_days AS lapsed,
        s.value_per_vehicle
    FROM people p
    CROSS JOIN settings s
    LEFT JOIN bought b ON b.person_id = p.person_id
    LEFT JOIN serviced v ON v.person_id = p.person_id
    LEFT JOIN retention r ON r.person_id = p.person_id
    LEFT JOIN elsewhere e ON e.person_id = p.person_id
)
SELECT person_id, leads, purchases, first_purchase, last_purchase, last_make, service_visits, last_service,
    service_gross, service_gross_last_year,
    CAST(service_gross AS double) + purchases * value_per_vehicle AS customer_value,
    dealers, serviced_elsewhere, service_retained,
    purchases > 1 AS repurchased,
    CASE WHEN purchases > 1 THEN coalesce(last_make = previous_make, false) END AS brand_loyal,
    lapsed,
    CASE
        WHEN lapsed THEN 'lapsed'
        WHEN purchases > 1 THEN 'repeat_buyer'
        WHEN purchases = 1 THEN 'buyer'
        WHEN service_visits > 0 THEN 'service_only'
        ELSE 'prospect'
    END AS segment
FROM customers
