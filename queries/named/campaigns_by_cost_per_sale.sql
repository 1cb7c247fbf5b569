-- Campaigns by cost per sale: what each campaign cost and the leads and sales it brought, all
-- dealers together, under last-touch and first-touch attribution, cheapest sale first.
--
-- From campaign_performance (its definitions: touches within touch_window_days, outcomes within
-- attribution_window_days, OEM spend shared among dealers so that spend adds up to the campaign's
-- total under either attribution). Spend is in each ad account's currency; a campaign with spend
-- but no sale comes last.
WITH campaigns AS (
  SELECT campaign_id, max(campaign_name) AS campaign_name,
    sum(CASE WHEN attribution = 'last_touch' THEN spend END) AS spend,
    sum(CASE WHEN attribution = 'last_touch' THEN leads END) AS leads_last_touch,
    sum(CASE WHEN attribution = 'last_touch' THEN sales END) AS sales_last_touch,
    sum(CASE WHEN attribution = 'first_touch' THEN leads END) AS leads_first_touch,
    sum(CASE WHEN attribution = 'first_touch' THEN sales END) AS sales_first_touch
  FROM campaign_performance
  GROUP BY campaign_id
)
SELECT
  campaign_id,
  campaign_name,
  round(spend, 2) AS spend,
  leads_last_touch,
  sales_last_touch,
  round(spend / nullif(leads_last_touch, 0), 2) AS cost_per_lead_last_touch,
  round(spend / nullif(sales_last_touch, 0), 2) AS cost_per_sale_last_touch,
  leads_first_touch,
  sales_first_touch,
  round(spend / nullif(sales_first_touch, 0), 2) AS cost_per_sale_first_touch
FROM campaigns
ORDER BY cost_per_sale_last_touch NULLS LAST, spend DESC, campaign_id
