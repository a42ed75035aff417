"""A real CKAN on loopback for tests and benchmarks: PostgreSQL, Redis, Apache Solr 9 and CKAN.

Standard library only, so ``scripts/ckan-stack`` runs it before any virtualenv exists. Beside the
library, not inside it: nothing in ``ckan_api_client`` depends on it.

* :class:`StackConfig` (``config.py``): every setting, built once (from the environment or by hand).
* one class per component (``components.py``): :class:`Postgres`, :class:`Redis`, :class:`Solr`,
  :class:`Ckan`, :class:`Worker`, each with ``start()``, ``stop()``, ``running()`` and ``ready()``.
* :class:`Stack` (``stack.py``): installs what is missing and drives the components in order.
* ``cli.py``: the ``up|down|status|env|reset`` command behind ``scripts/ckan-stack``.
"""

from .components import Ckan, Component, Postgres, Redis, Solr, Worker
from .config import DEFAULT_VERSION, Ports, StackConfig
from .process import StackError
from .stack import Site, Stack

__all__ = ["DEFAULT_VERSION", "Ckan", "Component", "Ports", "Postgres", "Redis", "Site", "Solr", "Stack", "StackConfig", "StackError", "Worker"]
