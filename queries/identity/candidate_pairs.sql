-- Identity resolution, step 1: blocking. Candidate pairs of records that share at least one
-- blocking key, each pair once (left_id < right_id) with the rules that proposed it.
-- Reads identity_population (every record: the block sizes count them all), identity_features (the
-- records being resolved), identity_scope (record_id: the records whose pairs are wanted) and
-- identity_config (one row: max_block). A pair is proposed when both records are in
-- identity_features and at least one is in identity_scope: a full run has all three the same; an
-- incremental run first pairs its new records with everyone (scope = new records), then re-resolves
-- the persons they reach (features = scope = those persons' records).
-- A key shared by more than max_block records (a placeholder e-mail, a dealership's own phone, a
-- very common name in one zip) proposes no pairs: those records are still compared through their
-- other keys, and the cost stays near-linear in the number of records.
WITH keyed AS (
    SELECT record_id, 'email' AS rule, email AS block_key FROM identity_population WHERE email IS NOT NULL
    UNION ALL
    SELECT record_id, 'email_user', split_part(email, '@', 1) FROM identity_population WHERE email IS NOT NULL
    UNION ALL
    SELECT record_id, 'phone', phone FROM identity_population WHERE phone IS NOT NULL
    UNION ALL
    SELECT record_id, 'vin', vin FROM identity_population WHERE vin IS NOT NULL
    UNION ALL
    SELECT record_id, 'last_zip', last_name || '|' || zip5
    FROM identity_population WHERE last_name IS NOT NULL AND zip5 IS NOT NULL
    UNION ALL
    SELECT record_id, 'first_zip', first_canon || '|' || zip5
    FROM identity_population WHERE first_canon IS NOT NULL AND zip5 IS NOT NULL
    UNION ALL
    SELECT record_id, 'first_street', first_canon || '|' || street_key
    FROM identity_population WHERE first_canon IS NOT NULL AND street_key IS NOT NULL
    UNION ALL
    -- a nickname of two names (Ted) meets both (Edward, Theodore) under the same first-name keys
    SELECT record_id, 'first_zip', first_canon_also || '|' || zip5
    FROM identity_population WHERE first_canon_also IS NOT NULL AND zip5 IS NOT NULL
    UNION ALL
    SELECT record_id, 'first_street', first_canon_also || '|' || street_key
    FROM identity_population WHERE first_canon_also IS NOT NULL AND street_key IS NOT NULL
    UNION ALL
    SELECT record_id, 'street_zip', street_key || '|' || zip5
    FROM identity_population WHERE street_key IS NOT NULL AND zip5 IS NOT NULL
    UNION ALL
    SELECT record_id, 'street', street_key FROM identity_population WHERE street_key IS NOT NULL
    UNION ALL
    SELECT record_id, 'last_initial_zip', last_name || '|' || substr(first_name, 1, 1) || '|' || zip5
    FROM identity_population WHERE first_name IS NOT NULL AND last_name IS NOT NULL AND zip5 IS NOT NULL

    UNION ALL
    SELECT record_id, 'last_initial', last_name || '|' || substr(first_name, 1, 1)
    FROM identity_population WHERE first_name IS NOT NULL AND last_name IS NOT NULL
    UNION ALL
    -- either order, so that a record with first and last name swapped meets the others
    SELECT record_id, 'names', least(first_canon, last_name) || '|' || greatest(first_canon, last_name)
    FROM identity_population WHERE first_canon IS NOT NULL AND last_name IS NOT NULL
    UNION ALL
    SELECT record_id, 'names', least(first_canon_also, last_name) || '|' || greatest(first_canon_also, last_name)
    FROM identity_population WHERE first_canon_also IS NOT NULL AND last_name IS NOT NULL
    UNION ALL
    SELECT record_id, 'birth_initial', birth_date || '|' || substr(first_name, 1, 1)
    FROM identity_population WHERE birth_date IS NOT NULL AND first_name IS NOT NULL
    UNION ALL
    -- the surname's letters in order: a first name with a surname whose letters were transposed
    SELECT record_id, 'first_last_letters',
        first_canon || '|' || array_join(array_sort(regexp_extract_all(last_name, '.')), '')
    FROM identity_population WHERE first_canon IS NOT NULL AND last_name IS NOT NULL
    UNION ALL
    -- both names mistyped, same zip
    SELECT record_id, 'zip_initials', zip5 || '|' || substr(first_name, 1, 1) || substr(last_name, 1, 1)
    FROM identity_population WHERE zip5 IS NOT NULL AND first_name IS NOT NULL AND last_name IS NOT NULL
    UNION ALL
    -- a first name with a surname one typo apart: the surname and each of its one-letter deletions
    -- (two names within one substitution, insertion, deletion or transposition share one of them)
    SELECT DISTINCT record_id, 'first_last_typo', block_key FROM (
        SELECT record_id, first_canon || '|' || last_name AS block_key
        FROM identity_population WHERE first_canon IS NOT NULL AND length(last_name) >= 4
        UNION ALL
        SELECT p.record_id, p.first_canon || '|' || substr(p.last_name, 1, t.i - 1) || substr(p.last_name, t.i + 1)
        FROM identity_population AS p CROSS JOIN UNNEST(sequence(1, length(p.last_name))) AS t(i)
        WHERE p.first_canon IS NOT NULL AND length(p.last_name) >= 4
    ) AS typos
    UNION ALL
    -- a surname that another record's e-mail address spells (sam.ortega77@…), with the first name
    SELECT DISTINCT record_id, 'email_name', block_key FROM (
        SELECT p.record_id, p.first_canon || '|' || t.word AS block_key
        FROM identity_population AS p
        CROSS JOIN UNNEST(regexp_extract_all(split_part(p.email, '@', 1), '[a-z]{4,}')) AS t(word)
        WHERE p.email IS NOT NULL AND p.first_canon IS NOT NULL
            AND t.word <> p.first_name AND t.word <> p.first_canon  -- the address's other words
        UNION ALL
        SELECT record_id, first_canon || '|' || last_name
        FROM identity_population WHERE first_canon IS NOT NULL AND length(last_name) >= 4
    ) AS spelled
),
sized AS (
    SELECT record_id, rule, block_key, count(*) OVER (PARTITION BY rule, block_key) AS block_size
    FROM keyed
),
usable AS (
    SELECT s.record_id, s.rule, s.block_key
    FROM sized AS s CROSS JOIN identity_config AS c
    WHERE s.block_size > 1 AND s.block_size <= c.max_block
),
featured AS (
    SELECT u.record_id, u.rule, u.block_key, (s.record_id IS NOT NULL) AS in_scope
    FROM usable AS u
    JOIN identity_features AS f ON f.record_id = u.record_id
    LEFT JOIN identity_scope AS s ON s.record_id = u.record_id
)
-- a pair of two records in scope is found once (a < b); a pair of one in scope once, from that one
SELECT least(a.record_id, b.record_id) AS left_id, greatest(a.record_id, b.record_id) AS right_id,
    array_join(array_sort(array_agg(DISTINCT a.rule)), ',') AS rules
FROM featured AS a
JOIN featured AS b ON a.rule = b.rule AND a.block_key = b.block_key AND a.record_id <> b.record_id
WHERE a.in_scope AND (a.record_id < b.record_id OR NOT b.in_scope)
GROUP BY least(a.record_id, b.record_id), greatest(a.record_id, b.record_id)
