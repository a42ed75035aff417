"""JSON text decoded fast and losslessly: msgspec where it gives exactly what ``json.loads`` gives.

Decoding CKAN's answers is most of the client's own CPU on a full read (a ``package_search`` page of
1,000 datasets is ~2.5 MB). With the ``fast`` extra (``pip install ckan-api-client[fast]``) answers
and input lines are decoded by msgspec, 1.3-2x faster. msgspec keeps integers of any size exact (orjson,
measured, turns one beyond 64 bits into a float without a word, which is why it is not used); what it
refuses and ``json`` reads (``NaN``, ``Infinity``, ``1e400``, a lone surrogate escape, a byte-order
mark, UTF-16 text) goes to ``json``, and so does what both refuse, so the error raised is always
``json``'s own. Without the extra, ``json`` decodes everything.
"""

from __future__ import annotations

import json
from typing import Any, Callable

__all__ = ["loads", "FAST"]

_fast_loads: Callable[[bytes | str], Any] | None
try:
    from msgspec.json import decode as _fast_loads
except ImportError:  # the ``fast`` extra is not installed
    _fast_loads = None

FAST = _fast_loads is not None
"""Whether msgspec is there to decode with."""


def loads(data: bytes | str) -> Any:
    """``json.loads(data)``, the same value and the same errors, decoded by msgspec when it can."""
    fast = _fast_loads
    if fast is not None:
        try:
            return fast(data)
        except (ValueError, RecursionError):  # msgspec's DecodeError is a ValueError
            pass  # json decides: it reads some of what msgspec refuses, and raises its own error
    return json.loads(data)
