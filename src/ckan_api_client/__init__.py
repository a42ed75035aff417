"""ckan-api-client: a Python client for CKAN open-data portals.

Layers, each in one module and each using only the ones before it: ``core`` (sans-IO: options,
request building, answer decoding, the retry decision) → ``transport`` (the requests shell:
send, read, stream) → ``actions``
(``call_action``, capabilities) → ``low_level`` (per-entity operations, the seed's interface).
Errors are in ``exceptions``.
"""

from ._version import __version__
from .actions import ActionClient
from .core import Capabilities, ClientOptions, RetryPolicy
from .exceptions import CkanError, HTTPError
from .low_level import CkanLowlevelClient
from .transport import Transport

__all__ = ["__version__", "ActionClient", "Capabilities", "ClientOptions", "CkanError", "HTTPError", "CkanLowlevelClient",
           "RetryPolicy", "Transport"]
