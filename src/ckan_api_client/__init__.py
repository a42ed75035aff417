"""ckan-api-client: a Python client for CKAN open-data portals.

Layers, each in one module and each using only the ones before it:
``transport`` (HTTP session, auth, timeouts, retries, error mapping) → ``actions``
(``call_action``, capabilities) → ``low_level`` (per-entity operations, the seed's interface).
Errors are in ``exceptions``.
"""

from ._version import __version__
from .actions import ActionClient, Capabilities
from .exceptions import CkanError, HTTPError
from .low_level import CkanLowlevelClient
from .transport import RetryPolicy, Transport

__all__ = ["__version__", "ActionClient", "Capabilities", "CkanError", "HTTPError", "CkanLowlevelClient",
           "RetryPolicy", "Transport"]
