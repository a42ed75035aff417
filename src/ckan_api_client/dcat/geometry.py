"""A dataset's geometry between CKAN (GeoJSON in ``spatial``, as ckanext-spatial keeps it) and DCAT.

DCAT-AP 3 puts an exact geometry in ``locn:geometry`` as a ``locn:Geometry`` node, which ckanext-dcat
(2.4.4) cannot read: one such node stops its whole harvest. The literals ``dcat:centroid`` and
``dcat:bbox`` are valid DCAT-AP 3 and read by every harvester, so a point is written as its centroid
and any other shape as its bounding box (the envelope, which is what a catalogue's spatial search
indexes), both in WKT (``gsp:wktLiteral``). Reading takes GeoJSON, and WKT points, line strings and
polygons, back to GeoJSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

__all__ = ["as_dcat", "to_geojson"]

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PAIR = re.compile(rf"({_NUMBER})\s+({_NUMBER})")
_WKT = re.compile(r"^\s*(?:<[^>]*>\s*)?(POINT|LINESTRING|POLYGON)\s*\((.*)\)\s*$", re.IGNORECASE | re.DOTALL)


def _positions(coordinates: Any) -> Iterator[tuple[float, float]]:
    if isinstance(coordinates, (list, tuple)) and len(coordinates) >= 2 and \
            all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in coordinates[:2]):
        yield float(coordinates[0]), float(coordinates[1])
    elif isinstance(coordinates, (list, tuple)):
        for item in coordinates:
            yield from _positions(item)


def _number(value: float) -> str:
    return repr(value) if value != int(value) else str(int(value))


def as_dcat(geojson: Any) -> tuple[str, str] | None:
    """``("centroid", WKT)`` for a GeoJSON point, ``("bbox", WKT)`` with the envelope of any other
    geometry; None when the text is not a GeoJSON geometry with coordinates."""
    try:
        geometry = json.loads(geojson) if isinstance(geojson, str) else geojson
    except ValueError:
        return None
    if not isinstance(geometry, dict):
        return None
    coordinates: Any = geometry.get("coordinates")
    if geometry.get("type") == "GeometryCollection":
        coordinates = [g.get("coordinates") for g in geometry.get("geometries") or [] if isinstance(g, dict)]
    points = list(_positions(coordinates))
    if not points:
        return None
    if geometry.get("type") == "Point":
        x, y = points[0]
        return "centroid", f"POINT ({_number(x)} {_number(y)})"
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    west, south, east, north = map(_number, (min(xs), min(ys), max(xs), max(ys)))
    return "bbox", (f"POLYGON (({west} {south}, {east} {south}, {east} {north}, {west} {north}, "
                    f"{west} {south}))")


def to_geojson(text: str) -> str | None:
    """GeoJSON as it came, or a WKT point, line string or polygon as GeoJSON (compact); None otherwise."""
    text = text.strip()
    if text.startswith("{"):
        try:
            return text if isinstance(json.loads(text), dict) else None
        except ValueError:
            return None
    match = _WKT.match(text)
    if match is None:
        return None
    kind, body = match.group(1).upper(), match.group(2)
    if kind == "POLYGON":
        rings = [[[float(x), float(y)] for x, y in _PAIR.findall(ring)] for ring in re.findall(r"\(([^()]*)\)", body)]
        if not rings or not all(rings):
            return None
        return json.dumps({"type": "Polygon", "coordinates": rings}, separators=(",", ":"))
    positions = [[float(x), float(y)] for x, y in _PAIR.findall(body)]
    if not positions:
        return None
    if kind == "POINT":
        return json.dumps({"type": "Point", "coordinates": positions[0]}, separators=(",", ":"))
    return json.dumps({"type": "LineString", "coordinates": positions}, separators=(",", ":"))
