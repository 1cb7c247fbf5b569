"""Privacy: the suppression list (and, to come, erasure) - ARCHITECTURE §6 ``privacy``."""
