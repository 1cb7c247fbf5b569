-- Identity resolution, step 3: the pairs that link. A scored pair (scored_pairs) links when its
-- match probability, 1 / (1 + 2^-match_weight), reaches identity_config.threshold and nothing in it
-- conflicts. The persons are the
-- connected components of these edges (propagate_labels.sql, repeated until nothing changes).
SELECT s.left_id, s.right_id, s.match_weight
FROM scored_pairs AS s CROSS JOIN identity_config AS c
WHERE s.match_weight >= log2(c.threshold / (1 - c.threshold)) AND NOT s.conflicting
