-- customer_profitability: gross profit per person: deal gross (front + back, from sales_finance)
-- plus service gross (labor + parts), with the person's segment (customer_base). PII class
-- financial (GLBA): it reads sales_finance, so only those granted sales_finance can query it.
--
-- Definitions: a deal's gross is its latest sales_finance version's front_gross + back_gross,
-- joined to the sale by dealer and deal number (sales_current); service gross as in customer_base.
--
-- Columns: person_id; segment; purchases; deal_gross (sum, 0 without deals or finance rows);
-- service_gross; gross_profit = deal_gross + service_gross; deal_gross_per_purchase (null without
-- purchases).
WITH deals AS (
    SELECT p.person_id, coalesce(f.front_gross, 0) + coalesce(f.back_gross, 0) AS deal_gross
    FROM sales_current s
    JOIN person_links p ON p.record_id = s.record_id
    JOIN sales_finance_current f ON f.dealer_id = s.dealer_id AND f.deal_number = s.deal_number
),
deal_gross AS (
    SELECT person_id, sum(deal_gross) AS deal_gross
    FROM deals
    GROUP BY person_id
)
SELECT c.person_id, c.segment, c.purchases,
    coalesce(CAST(d.deal_gross AS double), 0) AS deal_gross,
    CAST(c.service_gross AS double) AS service_gross,
    coalesce(CAST(d.deal_gross AS double), 0) + CAST(c.service_gross AS double) AS gross_profit,
    CAST(d.deal_gross AS double) / nullif(c.purchases, 0) AS deal_gross_per_purchase
FROM customer_base c
LEFT JOIN deal_gross d ON d.person_id = c.person_id
