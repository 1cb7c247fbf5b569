-- Identity resolution, step 5: components that hold a conflict. Linking is transitive, so a chain
-- of links can join two records that were compared and found to conflict (different first names
-- or birth dates: a household, a parent and child), or that a person was split apart by hand
-- (identity_cannot_link: left_id, right_id, from `forecourt identity split`). Each such component
-- is listed with its links (kind 'link', with the match weight) and its conflicts (kind
-- 'conflict'); resolve re-forms it by taking the links strongest first and skipping any that would
-- join a conflicting pair.
WITH conflicts AS (
    SELECT left_id, right_id, match_weight FROM scored_pairs WHERE conflicting
    UNION ALL
    SELECT left_id, right_id, CAST(NULL AS double) FROM identity_cannot_link
),
inside AS (  -- the conflicts whose two records are in one component
    SELECT a.label, s.left_id, s.right_id, s.match_weight
    FROM conflicts AS s
    JOIN identity_labels AS a ON a.record_id = s.left_id
    JOIN identity_labels AS b ON b.record_id = s.right_id
    WHERE a.label = b.label
),
conflicted AS (
    SELECT DISTINCT label FROM inside
)
SELECT a.label, 'link' AS kind, e.left_id, e.right_id, e.match_weight
FROM match_edges AS e
JOIN identity_labels AS a ON a.record_id = e.left_id
JOIN conflicted AS c ON c.label = a.label
UNION ALL
SELECT label, 'conflict' AS kind, left_id, right_id, match_weight FROM inside
