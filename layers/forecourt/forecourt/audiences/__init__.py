"""Audiences for advertising platforms (ARCHITECTURE §6 ``audiences``; issue 6).

``people`` normalizes a list of people once (e-mail syntax, E.164 phones by each person's country,
ISO countries, zips); each platform module (``google``, ``meta``) holds that platform's documented
formatting and hashing rules on top of it, and nothing else; ``hashing`` is the SHA-256 they share.
"""
