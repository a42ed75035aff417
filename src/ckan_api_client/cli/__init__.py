"""The ``ckan-api-client`` command, by domain: each module registers its commands on `main`.

| module | its commands |
|---|---|
| ``action`` | ``action``: call any action (ckanapi's argument forms too); ``batch``: many, from a file |
| ``records`` | ``search``, ``dump``, ``load``, ``delete``: the bulk engine |
| ``harvest`` | ``sync`` (a JSON Lines source), ``harvest`` (a DCAT catalogue), ``mirror`` (another portal) |
| ``export`` | ``export dcat`` and ``export datapackage`` |
| ``files`` | ``resource upload`` / ``resource download`` |
| ``datastore`` | ``datastore dump`` / ``datastore load`` |
| ``app`` | the global options, settings, the report rendering, the entry point |

The commands only parse arguments and print: the work is done by the engines
([`ckan_api_client.engines`][ckan_api_client.engines]) over one shared client, so ``--timeout``, retries, ``--insecure``
and ``--max-rps`` reach every worker. Machine-readable output goes to stdout, progress and messages
to stderr (a progress bar only when stderr is a terminal, and never with ``-q``). Exit codes: 0 all
done, 1 usage, token or connection error, 3 some records failed, 130 interrupted.
"""

from __future__ import annotations

from . import action, datastore, export, files, harvest, records  # noqa: F401  (they register their commands)
from .app import hoist_global_options, main, run

__all__ = ["main", "run", "hoist_global_options"]
