"""Enrichment (ARCHITECTURE §6 ``enrich``): tags per person, the lead score with its reasons, the
suggested owner, customer value, campaign attribution, and per-dealer outbound files of what changed."""
