-- Identity resolution, step 2: comparison. Each candidate pair (candidate_pairs) gets a comparison
-- level per field and a Fellegi-Sunter match weight in bits: the prior log-odds that two records
-- are one person, log2(lambda / (1 - lambda)) with lambda = (records_per_person - 1) / (records - 1),
-- plus over fields log2(m / u) of the pair's level (identity_weights, one row, a column per field
-- and level; a field missing on either side adds 0). The match probability is 1 / (1 + 2^-weight).
-- Exact first names, last names and zips are weighted by how rare the value is (term frequency):
-- two "Smith"s agree by chance far more often than two "Kowalczyk"s, so u is the value's share of
-- the records (never below the configured u of an exact match).
-- An e-mail or phone on the records of more than identity_config.max_names different first names
-- is a placeholder (noemail@dealer.com, the showroom's own line), and says nothing: level 'common'.
-- The statistics (record count, name and zip frequencies, names per e-mail and phone) count every
-- record, identity_population, also when only some are being resolved (identity_features).
-- A pair whose first names both exist and clearly differ, or whose birth dates both exist and
-- differ beyond a typo, is marked as conflicting: it never links on its own (a household sharing a
-- phone, e-mail and address; a parent and child of the same name).
WITH total AS (
    SELECT count(*) AS n FROM identity_population
),
first_tf AS (
    SELECT first_canon AS name, CAST(count(*) AS double) / max(t.n) AS tf
    FROM identity_population CROSS JOIN total AS t WHERE first_canon IS NOT NULL GROUP BY first_canon
),
last_tf AS (
    SELECT last_name AS name, CAST(count(*) AS double) / max(t.n) AS tf
    FROM identity_population CROSS JOIN total AS t WHERE last_name IS NOT NULL GROUP BY last_name
),
zip_tf AS (
    SELECT zip5 AS zip, CAST(count(*) AS double) / max(t.n) AS tf
    FROM identity_population CROSS JOIN total AS t WHERE zip5 IS NOT NULL GROUP BY zip5
),
email_names AS (
    SELECT email, count(DISTINCT first_canon) AS names FROM identity_population
    WHERE email IS NOT NULL GROUP BY email
),
phone_names AS (
    SELECT phone, count(DISTINCT first_canon) AS names FROM identity_population
    WHERE phone IS NOT NULL GROUP BY phone
),
letters AS (  -- a first name's letters in order, to see a transposition (Mei / Mie)
    SELECT record_id, array_join(array_sort(regexp_extract_all(first_name, '.')), '') AS first_letters
    FROM identity_features WHERE first_name IS NOT NULL
),
compared AS (
    SELECT
        p.left_id,
        p.right_id,
        p.rules,
        CASE
            WHEN l.email IS NULL OR r.email IS NULL THEN 'missing'
            WHEN l.email = r.email AND en.names > cfg.max_names THEN 'common'
            WHEN l.email = r.email THEN 'exact'
            WHEN levenshtein_distance(l.email, r.email) <= 1 THEN 'close'
            ELSE 'different'
        END AS email_level,
        CASE
            WHEN l.phone IS NULL OR r.phone IS NULL THEN 'missing'
            WHEN l.phone = r.phone AND pn.names > cfg.max_names THEN 'common'
            WHEN l.phone = r.phone AND pn.names > 1 THEN 'shared'
            WHEN l.phone = r.phone THEN 'exact'
            ELSE 'different'
        END AS phone_level,
        CASE
            WHEN l.first_name IS NULL OR r.first_name IS NULL THEN 'missing'
            WHEN l.first_name = r.first_name THEN 'exact'
            WHEN l.first_name = r.last_name AND l.last_name = r.first_name THEN 'swapped'
            -- a nickname of two names (Ted) matches a name of either meaning (Edward, Theodore, Teddy)
            -- but not another two-way nickname through their shared meaning (Alex and Sandra)
            WHEN l.first_canon = r.first_canon
                OR (l.first_canon_also = r.first_canon AND r.first_canon_also IS NULL)
                OR (r.first_canon_also = l.first_canon AND l.first_canon_also IS NULL)
                THEN 'nickname'
            WHEN levenshtein_distance(l.first_name, r.first_name) <= 1
                OR (length(l.first_name) >= 5 AND levenshtein_distance(l.first_name, r.first_name) <= 2)
                -- a typo in the full name one of them goes by the nickname of (Rick / Richsrd)
                OR levenshtein_distance(l.first_canon, r.first_canon) <= 1
                OR (length(l.first_canon) >= 5 AND levenshtein_distance(l.first_canon, r.first_canon) <= 2)
                OR la.first_letters = ra.first_letters  -- two letters transposed in a short name
                THEN 'close'
            WHEN length(l.first_name) = 1 OR length(r.first_name) = 1 THEN
                CASE WHEN substr(l.first_name, 1, 1) = substr(r.first_name, 1, 1) THEN 'initial' ELSE 'different' END
            ELSE 'different'
        END AS first_level,
        CASE
            WHEN l.last_name IS NULL OR r.last_name IS NULL THEN 'missing'
            WHEN l.last_name = r.last_name THEN 'exact'
            WHEN l.first_name = r.last_name AND l.last_name = r.first_name THEN 'swapped'
            WHEN levenshtein_distance(l.last_name, r.last_name) <= 1
                OR (length(l.last_name) >= 5 AND levenshtein_distance(l.last_name, r.last_name) <= 2)
                THEN 'close'
            ELSE 'different'
        END AS last_level,
        CASE
            WHEN l.zip5 IS NULL OR r.zip5 IS NULL THEN 'missing'
            WHEN l.zip5 = r.zip5 THEN 'exact'
            ELSE 'different'
        END AS zip_level,
        CASE
            WHEN l.street_key IS NULL OR r.street_key IS NULL THEN 'missing'
            WHEN l.street_key = r.street_key THEN 'exact'
            WHEN split_part(l.street_key, ' ', 1) = split_part(r.street_key, ' ', 1)
                AND levenshtein_distance(l.street_key, r.street_key) <= 2 THEN 'close'
            ELSE 'different'
        END AS street_level,
        CASE
            WHEN l.birth_date IS NULL OR r.birth_date IS NULL THEN 'missing'
            WHEN l.birth_date = r.birth_date THEN 'exact'
            WHEN substr(l.birth_date, 1, 4) = substr(r.birth_date, 1, 4)
                AND substr(l.birth_date, 6, 2) = substr(r.birth_date, 9, 2)
                AND substr(l.birth_date, 9, 2) = substr(r.birth_date, 6, 2) THEN 'close'
            WHEN levenshtein_distance(l.birth_date, r.birth_date) <= 1 THEN 'close'
            ELSE 'different'
        END AS birth_level,
        CASE
            WHEN l.vin IS NULL OR r.vin IS NULL THEN 'missing'
            WHEN l.vin = r.vin THEN 'exact'
            ELSE 'different'
        END AS vin_level,
        ftf.tf AS first_tf,
        ltf.tf AS last_tf,
        ztf.tf AS zip_tf
    FROM candidate_pairs AS p
    JOIN identity_features AS l ON l.record_id = p.left_id
    JOIN identity_features AS r ON r.record_id = p.right_id
    LEFT JOIN letters AS la ON la.record_id = p.left_id
    LEFT JOIN letters AS ra ON ra.record_id = p.right_id
    LEFT JOIN phone_names AS pn ON pn.phone = l.phone
    LEFT JOIN email_names AS en ON en.email = l.email
    CROSS JOIN identity_config AS cfg
    LEFT JOIN first_tf AS ftf ON ftf.name = l.first_canon
    LEFT JOIN last_tf AS ltf ON ltf.name = l.last_name
    LEFT JOIN zip_tf AS ztf ON ztf.zip = l.zip5
),
weighted AS (
    SELECT
        c.*,
        CASE c.email_level WHEN 'exact' THEN w.email_exact WHEN 'close' THEN w.email_close
            WHEN 'different' THEN w.email_different ELSE 0 END AS email_weight,
        CASE c.phone_level WHEN 'exact' THEN w.phone_exact WHEN 'shared' THEN w.phone_shared
            WHEN 'different' THEN w.phone_different ELSE 0 END AS phone_weight,
        CASE c.first_level
            WHEN 'exact' THEN log2(w.first_exact_m / greatest(c.first_tf, w.first_exact_u))
            WHEN 'nickname' THEN w.first_nickname WHEN 'swapped' THEN w.first_swapped WHEN 'close' THEN w.first_close
            WHEN 'initial' THEN w.first_initial WHEN 'different' THEN w.first_different ELSE 0 END AS first_weight,
        CASE c.last_level
            WHEN 'exact' THEN log2(w.last_exact_m / greatest(c.last_tf, w.last_exact_u))
            WHEN 'swapped' THEN w.last_swapped WHEN 'close' THEN w.last_close WHEN 'different' THEN w.last_different
            ELSE 0 END AS last_weight,
        CASE c.zip_level
            WHEN 'exact' THEN log2(w.zip_exact_m / greatest(c.zip_tf, w.zip_exact_u))
            WHEN 'different' THEN w.zip_different ELSE 0 END AS zip_weight,
        CASE c.street_level WHEN 'exact' THEN w.street_exact WHEN 'close' THEN w.street_close
            WHEN 'different' THEN w.street_different ELSE 0 END AS street_weight,
        CASE c.birth_level WHEN 'exact' THEN w.birth_exact WHEN 'close' THEN w.birth_close
            WHEN 'different' THEN w.birth_different ELSE 0 END AS birth_weight,
        CASE c.vin_level WHEN 'exact' THEN w.vin_exact WHEN 'different' THEN w.vin_different ELSE 0 END
            AS vin_weight
    FROM compared AS c CROSS JOIN identity_weights AS w
),
prior AS (
    SELECT log2((c.records_per_person - 1) / greatest(t.n - c.records_per_person, 1)) AS weight
    FROM identity_config AS c CROSS JOIN total AS t
)
SELECT
    left_id,
    right_id,
    rules,
    email_level, phone_level, first_level, last_level, zip_level, street_level, birth_level, vin_level,
    email_weight, phone_weight, first_weight, last_weight, zip_weight, street_weight, birth_weight, vin_weight,
    prior.weight AS prior_weight,
    prior.weight + email_weight + phone_weight + first_weight + last_weight + zip_weight + street_weight
        + birth_weight + vin_weight AS match_weight,
    (first_level = 'different' OR birth_level = 'different') AS conflicting
FROM weighted CROSS JOIN prior
