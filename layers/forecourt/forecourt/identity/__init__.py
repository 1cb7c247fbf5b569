"""Identity resolution (One-ID): which records are one person, and why (ARCHITECTURE §6 ``resolve``).

``features`` folds a record's people fields into comparison keys; ``resolve`` runs the SQL of
``queries/identity/`` (blocking, Fellegi-Sunter comparison, connected components) and names the
persons.
"""
