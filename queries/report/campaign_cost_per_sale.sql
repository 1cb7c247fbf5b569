-- Campaign spend per sale, first-touch and last-touch attribution side by side, from the
-- campaign_performance view (summed over dealers). A campaign without attributed sales has no cost
-- per sale (null), not an infinite one.
SELECT
  campaign_id,
  max(campaign_name) AS campaign_name,
  attribution,
  sum(spend) AS spend,
  sum(leads) AS leads,
  sum(sales) AS sales,
  round(sum(spend) / nullif(sum(sales), 0), 2) AS cost_per_sale
FROM campaign_performance
GROUP BY campaign_id, attribution
ORDER BY spend DESC, campaign_id, attribution
