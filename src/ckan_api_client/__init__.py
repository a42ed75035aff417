"""ckan-api-client: the Python client for CKAN open-data portals.

Everything a user needs is importable from here (loaded on first use, so that importing the async
client never loads requests)::

    from ckan_api_client import CkanLowlevelClient, CkanHighlevelClient, SynchronizationClient, Mirror, Harvest

The package is built in floors, each using only the ones below it:

* [`ckan_api_client.core`][ckan_api_client.core]: every decision, without network I/O: options, requests described,
  answers decoded, retries decided, the operations of every client method (written once), the write
  protocol, the download state machine, the objects;
* [`ckan_api_client.blocking`][ckan_api_client.blocking] (requests) and [`ckan_api_client.asyncio`][ckan_api_client.asyncio] (httpx): the shells
  that send and wait, with the clients, DataStore and downloads;
* [`ckan_api_client.engines`][ckan_api_client.engines]: the bulk engine, the sync engine, the mirror,
  the DCAT harvest and the exports (DCAT, Data Packages), over
  [`ckan_api_client.dcat`][ckan_api_client.dcat] (needs the ``dcat`` extra);
* [`ckan_api_client.cli`][ckan_api_client.cli]: the ``ckan-api-client`` command.

Errors are in [`ckan_api_client.exceptions`][ckan_api_client.exceptions]; ``ckan_api_client.low_level.CkanLowlevelClient`` is
the import path of the original ckan-api-client, kept.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .exceptions import (BadApiError, CkanError, ConcurrentModification, DestinationExists, DownloadError,
                         HTTPError, InvalidInput, InvalidToken, MalformedAnswer, MassDeleteRefused, NotAuthorized,
                         NotFound, RequestTimeout, TransportError, ValidationError)

if TYPE_CHECKING:  # the lazy names below, for type checkers and readers
    # ``X as X``: re-exported explicitly, for type checkers in strict mode
    from .asyncio.client import (
        AsyncCkanHighlevelClient as AsyncCkanHighlevelClient,
        AsyncCkanLowlevelClient as AsyncCkanLowlevelClient,
    )
    from .asyncio.datastore import AsyncDataStore as AsyncDataStore
    from .blocking.client import CkanHighlevelClient as CkanHighlevelClient, CkanLowlevelClient as CkanLowlevelClient
    from .blocking.datastore import DataStore as DataStore
    from .core.files import DownloadResult as DownloadResult
    from .core.objects import (
        Change as Change,
        Dataset as Dataset,
        Group as Group,
        License as License,
        Organization as Organization,
        Resource as Resource,
        diff as diff,
        format_diff as format_diff,
    )
    from .core.options import ClientOptions as ClientOptions, RetryPolicy as RetryPolicy
    from .core.site import Capabilities as Capabilities
    from .engines.export import export_datapackages as export_datapackages, export_dcat as export_dcat
    from .engines.harvest import Harvest as Harvest
    from .engines.mirror import Mirror as Mirror
    from .engines.report import Report as Report
    from .engines.sync import PlannedWrite as PlannedWrite, SynchronizationClient as SynchronizationClient


_LAZY = {
    "CkanLowlevelClient": ".blocking.client", "CkanHighlevelClient": ".blocking.client",
    "DataStore": ".blocking.datastore",
    "AsyncCkanLowlevelClient": ".asyncio.client", "AsyncCkanHighlevelClient": ".asyncio.client",
    "AsyncDataStore": ".asyncio.datastore",
    "SynchronizationClient": ".engines.sync", "PlannedWrite": ".engines.sync", "Mirror": ".engines.mirror",
    "Harvest": ".engines.harvest", "export_dcat": ".engines.export", "export_datapackages": ".engines.export",
    "Report": ".engines.report",
    "Dataset": ".core.objects", "Resource": ".core.objects", "Organization": ".core.objects",
    "Group": ".core.objects", "License": ".core.objects", "Change": ".core.objects", "diff": ".core.objects",
    "format_diff": ".core.objects",
    "ClientOptions": ".core.options", "RetryPolicy": ".core.options", "Capabilities": ".core.site",
    "DownloadResult": ".core.files",
}

__all__ = ["__version__", *_LAZY, "CkanError", "HTTPError", "NotFound", "NotAuthorized", "ValidationError",
           "ConcurrentModification", "TransportError", "RequestTimeout", "BadApiError", "MalformedAnswer",
           "DownloadError", "DestinationExists", "InvalidToken", "InvalidInput", "MassDeleteRefused"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ckan_api_client' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
