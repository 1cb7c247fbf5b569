-- Speed-to-lead distribution per dealer: minutes from the customer's request to the first personal
-- contact, the earliest of the CRM export's first_contacted_at and the first `contacted` event the
-- dealer's CRM reported (lead_events, by our lead id or by the CRM's own key within its dealer).
-- Each lead counts once, in its latest version; the dealer is the one that made the contact (a lead
-- that named no dealer is 'oem' in leads). Leads without a recorded contact are counted apart.
-- count(*) FILTER, not count_if: DuckDB's count_if is null, not 0, when every condition is null.
WITH lead_versions AS (
  SELECT
    record_id, dealer_id, source_key, requested_at, first_contacted_at,
    row_number() OVER (PARTITION BY record_id ORDER BY received_at DESC, upload_id DESC) AS newest
  FROM leads
),
current_leads AS (
  SELECT record_id, dealer_id, source_key, requested_at, first_contacted_at
  FROM lead_versions
  WHERE newest = 1 AND requested_at >= {{since}} AND requested_at < {{until}}
),
contact_events AS (
  SELECT lead_id AS record_id, dealer_id, occurred_at
  FROM lead_events
  WHERE event_type = 'contacted' AND lead_id IS NOT NULL
  UNION ALL
  SELECT l.record_id, e.dealer_id, e.occurred_at
  FROM lead_events AS e
  JOIN current_leads AS l ON e.crm_lead_id = l.source_key AND e.dealer_id = l.dealer_id
  WHERE e.event_type = 'contacted' AND e.lead_id IS NULL
),
first_events AS (
  SELECT record_id, min(occurred_at) AS contacted_at, min_by(dealer_id, occurred_at) AS contact_dealer
  FROM contact_events
  GROUP BY record_id
),
timed AS (
  SELECT
    coalesce(f.contact_dealer, l.dealer_id) AS dealer_id,
    date_diff('second', l.requested_at, least(
      coalesce(f.contacted_at, l.first_contacted_at), coalesce(l.first_contacted_at, f.contacted_at)
    )) / 60.0 AS minutes
  FROM current_leads AS l
  LEFT JOIN first_events AS f ON f.record_id = l.record_id
)
SELECT
  dealer_id,
  count(*) AS leads,
  count(*) FILTER (WHERE minutes >= 0) AS contacted_leads,
  count(*) FILTER (WHERE minutes IS NULL OR minutes < 0) AS no_contact_recorded,
  count(*) FILTER (WHERE minutes >= 0 AND minutes <= 5) AS within_5_min,
  count(*) FILTER (WHERE minutes > 5 AND minutes <= 15) AS min_5_to_15,
  count(*) FILTER (WHERE minutes > 15 AND minutes <= 30) AS min_15_to_30,
  count(*) FILTER (WHERE minutes > 30 AND minutes <= 60) AS min_30_to_60,
  count(*) FILTER (WHERE minutes > 60 AND minutes <= 240) AS hours_1_to_4,
  count(*) FILTER (WHERE minutes > 240 AND minutes <= 1440) AS hours_4_to_24,
  count(*) FILTER (WHERE minutes > 1440) AS over_24_hours,
  round(approx_percentile(minutes, 0.5) FILTER (WHERE minutes >= 0), 1) AS median_minutes,
  round(approx_percentile(minutes, 0.9) FILTER (WHERE minutes >= 0), 1) AS p90_minutes
FROM timed
GROUP BY dealer_id
ORDER BY leads DESC, dealer_id
