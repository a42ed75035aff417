"""The original ckan-api-client's import path: ``from ckan_api_client.low_level import CkanLowlevelClient`` keeps working.

The client lives in [`ckan_api_client.blocking.client`][ckan_api_client.blocking.client]; the package root exports it too.
"""

from .blocking.client import CkanLowlevelClient
from .exceptions import HTTPError

__all__ = ["CkanLowlevelClient", "HTTPError"]
