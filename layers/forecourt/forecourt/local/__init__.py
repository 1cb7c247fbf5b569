"""Running Forecourt without AWS: the local stack (moto server on loopback), the event pump, demo data."""
