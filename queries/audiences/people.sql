-- Audiences: what the consent gate and the platforms' identifiers need of each record of a resolved
-- person (its latest version: newest upload first), whatever its date (an opt-out always counts).
-- phone is the one a platform gets: the mobile when there is one; the suppression list checks them all.
WITH records AS (
    SELECT record_id, received_at, upload_id, first_name, last_name, email, alternate_email,
        coalesce(mobile_phone, phone, alternate_phone) AS phone, mobile_phone, phone AS home_phone,
        alternate_phone, zip, country, ccpa_opt_out, gpc,
        ad_user_data_consent, ad_personalization_consent, consent_at
    FROM leads
    UNION ALL
    SELECT record_id, received_at, upload_id, first_name, last_name, email, alternate_email,
        coalesce(mobile_phone, phone, alternate_phone), mobile_phone, phone, alternate_phone, zip,
        country, ccpa_opt_out, gpc,
        ad_user_data_consent, ad_personalization_consent, consent_at
    FROM visits
    UNION ALL
    SELECT record_id, received_at, upload_id, first_name, last_name, email, alternate_email,
        coalesce(mobile_phone, phone, alternate_phone), mobile_phone, phone, alternate_phone, zip,
        country, ccpa_opt_out, gpc,
        ad_user_data_consent, ad_personalization_consent, consent_at
    FROM sales
),
latest AS (
    SELECT *, row_number() OVER (PARTITION BY record_id ORDER BY received_at DESC, upload_id DESC) AS version,
        -- an opt-out or GPC signal in any version stands: a later re-export with the flag blank is no opt-in
        bool_or(ccpa_opt_out) OVER (PARTITION BY record_id) AS ccpa_opt_out_any,
        bool_or(gpc) OVER (PARTITION BY record_id) AS gpc_any
    FROM records
)
SELECT p.person_id, r.record_id, r.received_at, r.first_name, r.last_name, r.email, r.alternate_email,
    r.phone, r.mobile_phone, r.home_phone, r.alternate_phone, r.zip, r.country,
    r.ccpa_opt_out_any AS ccpa_opt_out, r.gpc_any AS gpc, r.ad_user_data_consent,
    r.ad_personalization_consent, r.consent_at
FROM latest r
JOIN person_links p ON p.record_id = r.record_id
WHERE r.version = 1
