-- quarantine_daily: quarantined records per dealer, arrival day, dataset and reason code (the closed
-- set of docs/quarantine-reasons.md), for data-quality follow-up with each dealer.
--
-- Definitions: day is the UTC date of the raw object's arrival (quarantine.received_at); a file
-- rejected whole is one record (field null).
--
-- Columns: dealer_id; day; dataset (null when the file's dataset could not be told); reason_code;
-- records; files (distinct uploads); fields (the fields that failed, comma-separated, sorted).
SELECT dealer_id, CAST(received_at AS date) AS day, dataset, reason_code,
    count(*) AS records,
    count(DISTINCT upload_id) AS files,
    array_join(array_sort(array_distinct(array_agg(field) FILTER (WHERE field IS NOT NULL))), ',') AS fields
FROM quarantine
GROUP BY dealer_id, CAST(received_at AS date), dataset, reason_code
