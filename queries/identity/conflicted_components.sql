-- Identity resolution, step 5: components that hold a conflict. Linking is transitive, so a chain
-- of links can join two records that were compared and found to conflict (different first names
-- or birth dates: a household, a parent and child). Each such component is listed with its links
-- (kind 'link', with the match weight) and its conflicts (kind 'conflict'); resolve re-forms it by
-- taking the links strongest first and skipping any that would join a conflicting pair.
WITH conflicted AS (
    SELECT DISTINCT a.label
    FROM scored_pairs AS s
    JOIN identity_labels AS a ON a.record_id = s.left_id
    JOIN identity_labels AS b ON b.record_id = s.right_id
    WHERE s.conflicting AND a.label = b.label
)
SELECT a.label, 'link' AS kind, e.left_id, e.right_id, e.match_weight
FROM match_edges AS e
JOIN identity_labels AS a ON a.record_id = e.left_id
JOIN conflicted AS c ON c.label = a.label
UNION ALL
SELECT a.label, 'conflict' AS kind, s.left_id, s.right_id, s.match_weight
FROM scored_pairs AS s
JOIN identity_labels AS a ON a.record_id = s.left_id
JOIN identity_labels AS b ON b.record_id = s.right_id
JOIN conflicted AS c ON c.label = a.label
WHERE s.conflicting AND a.label = b.label
