-- customer_segments: the customer base (customer_base) per segment: how many people, what they are
-- worth, and how well the network keeps them.
--
-- Definitions: those of customer_base (segments, lapsed_after_days, retention_window_days,
-- value_per_vehicle). Rates are doubles between 0 and 1, null when the denominator is 0.
--
-- Columns: segment; people; buyers (at least one purchase); customer_value (sum) and
-- avg_customer_value; service_gross (sum); service_retention_rate = retained last purchases /
-- last purchases whose retention window has closed or that were retained; repurchase_rate = repeat
-- buyers / buyers; brand_loyalty_rate = repeat buyers whose last two purchases share a make /
-- repeat buyers; serviced_elsewhere_rate = buyers serviced at another dealer than the one they
-- last bought from / buyers; defection_rate = lapsed / people with a purchase or service.
SELECT segment,
    count(*) AS people,
    count_if(purchases > 0) AS buyers,
    sum(customer_value) AS customer_value,
    avg(customer_value) AS avg_customer_value,
    sum(service_gross) AS service_gross,
    CAST(count_if(service_retained) AS double) / nullif(count(service_retained), 0) AS service_retention_rate,
    CAST(count_if(repurchased) AS double) / nullif(count_if(purchases > 0), 0) AS repurchase_rate,
    CAST(count_if(brand_loyal) AS double) / nullif(count(brand_loyal), 0) AS brand_loyalty_rate,
    CAST(count_if(serviced_elsewhere AND purchases > 0) AS double) / nullif(count_if(purchases > 0), 0)
        AS serviced_elsewhere_rate,
    CAST(count_if(lapsed) AS double) / nullif(count_if(purchases > 0 OR service_visits > 0), 0) AS defection_rate
FROM customer_base
GROUP BY segment
