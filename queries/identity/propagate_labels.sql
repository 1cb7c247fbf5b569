-- Identity resolution, step 4: one round of connected components. Every record takes the smallest
-- label among its own and its linked neighbours' (identity_labels holds the current labels, first
-- each record's own id; match_edges the links). Repeated until no label changes, every record of a
-- component carries the component's smallest record id.
WITH neighbour AS (
    SELECT e.left_id AS record_id, l.label FROM match_edges AS e JOIN identity_labels AS l ON l.record_id = e.right_id
    UNION ALL
    SELECT e.right_id AS record_id, l.label FROM match_edges AS e JOIN identity_labels AS l ON l.record_id = e.left_id
),
best AS (
    SELECT record_id, min(label) AS label FROM neighbour GROUP BY record_id
)
SELECT l.record_id, CASE WHEN b.label < l.label THEN b.label ELSE l.label END AS label
FROM identity_labels AS l LEFT JOIN best AS b ON b.record_id = l.record_id
