"""US zip code locations and the distance between two zips, offline.

The coordinates come from the ``zipcodes`` package (MIT; its latitudes and longitudes are GeoNames
data, CC BY 4.0), which compiles the whole US dataset into its extension module: no network and no
data file at run time. It decompresses the dataset on its first query (~0.4 s), so it is imported
here only when a distance is asked for — never on the webhook's or ingest's cold path — and each
zip's location is cached after its first lookup.

Distances are great-circle (haversine) miles between zip centroids: what "nearest dealer" means in
OEM lead routing, not a driving distance.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

EARTH_RADIUS_MILES = 3958.8
"""The Earth's mean radius (IUGG), in statute miles."""
_ZIP5 = re.compile(r"^\d{5}$")


@lru_cache(maxsize=65_536)
def location(zip_code: str) -> tuple[float, float] | None:
    """(latitude, longitude) of a US zip's centroid, or None when the zip is unknown or not 5 digits."""
    if not _ZIP5.match(zip_code or ""):
        return None
    import zipcodes

    try:
        found = zipcodes.matching(zip_code)
    except ValueError:
        return None
    if not found or not found[0].get("lat") or not found[0].get("long"):
        return None
    return float(found[0]["lat"]), float(found[0]["long"])


def haversine_miles(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in miles between two (latitude, longitude) points in degrees."""
    lat1, lon1 = map(math.radians, a)
    lat2, lon2 = map(math.radians, b)
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * math.asin(min(1.0, math.sqrt(h)))


def miles_between(zip_a: str, zip_b: str) -> float | None:
    """Miles between two zips' centroids, or None when either zip is unknown."""
    a, b = location(zip_a), location(zip_b)
    if a is None or b is None:
        return None
    return haversine_miles(a, b)
