"""JSON text decoded fast and losslessly: orjson where it gives exactly what ``json.loads`` gives.

Decoding CKAN's answers is most of the client's own CPU on a full read (a ``package_search`` page of
1,000 datasets is ~2.5 MB). With the ``fast`` extra (``pip install ckan-api-client[fast]``) answers
and input lines are decoded by orjson, about twice as fast, but only where its result is the one
``json.loads`` would give:

* an integer beyond 64 bits would come back from orjson as a float, silently (a lossy read), so a
  text with a run of 19 or more digits anywhere (a cheap, conservative scan) goes to ``json``;
* what orjson refuses and ``json`` reads (``NaN``, ``Infinity``, ``1e400``, a lone surrogate escape,
  a byte-order mark, UTF-16 text) goes to ``json`` too, and so does what both refuse, so the error
  raised is always ``json``'s own.

Without the extra, ``json`` decodes everything.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

__all__ = ["loads", "FAST"]

_orjson_loads: Callable[[bytes | str], Any] | None
try:
    from orjson import loads as _orjson_loads
except ImportError:  # the ``fast`` extra is not installed
    _orjson_loads = None

FAST = _orjson_loads is not None
"""Whether orjson is there to decode with."""

_LONG_NUMBER_BYTES = re.compile(rb"\d{19}")
_LONG_NUMBER_TEXT = re.compile(r"\d{19}")


def loads(data: bytes | str) -> Any:
    """``json.loads(data)``, the same value and the same errors, decoded by orjson when that is safe."""
    fast = _orjson_loads
    if fast is not None:
        scan = _LONG_NUMBER_BYTES if isinstance(data, bytes) else _LONG_NUMBER_TEXT
        if scan.search(data) is None:  # type: ignore[arg-type]  # the pattern matches the data's type
            try:
                return fast(data)
            except ValueError:
                pass  # json decides: it reads some of what orjson refuses, and raises its own error
    return json.loads(data)
