"""Usage: scripts/ckan-stack up|down|status|env|reset

`up` installs what is missing (Debian packages, CKAN into its own virtualenv, Solr from Maven
Central) and starts what is not running, then waits until CKAN answers status_show. It is
idempotent. `down` stops, by pid, every process that `up` started and keeps the data. `env`
prints `CKAN_URL=...` and `CKAN_API_TOKEN=...` (the sysadmin's token) and nothing else on stdout.
`status` says what runs. `reset` wipes the data of the selected version and brings it up anew.

Environment (all optional):
  CKAN_VERSION          CKAN release from PyPI (default 2.12.0); each version has its own state
  CKAN_STACK_DIR        state folder (default: .ckan-stack/ in the repository)
  CKAN_STACK_CACHE      download/build cache reused by later runs (default ~/.cache/ckan-stack)
  CKAN_STACK_CKAN_PORT, CKAN_STACK_PG_PORT, CKAN_STACK_REDIS_PORT, CKAN_STACK_SOLR_PORT
                        ports on 127.0.0.1 (defaults differ per CKAN minor version so that
                        several versions can run side by side)
  CKAN_STACK_WORKERS    gunicorn worker processes (default 2)
  CKAN_STACK_THREADS    threads per worker, with keep-alive connections (gthread); default 0: sync workers
  CKAN_STACK_CONFIG     extra ckan.ini settings, "key=value" separated by newlines or ';'
  CKAN_STACK_PYTHON     interpreter for CKAN's virtualenv (default: the one running this script)
  CKAN_STACK_PLUGINS    extensions to install and enable: dcat (ckanext-dcat 2.4.4), harvest
                        (ckanext-harvest 1.6.3 with its DCAT RDF harvester); off by default
"""

from __future__ import annotations

import os
import sys

from .config import StackConfig
from .process import StackError, log
from .stack import Stack

COMMANDS = ("up", "down", "status", "env", "reset")


def print_status(stack: Stack) -> int:
    config = stack.config
    ports = {"postgres": config.ports.postgres, "redis": config.ports.redis, "solr": config.ports.solr,
             "ckan": config.ports.ckan}
    pids = stack.status()
    for name, pid in pids.items():
        state = f"running  pid {pid}" if pid else "stopped"
        where = f"127.0.0.1:{ports[name]}" if name in ports else "(jobs from Redis)"
        print(f"{name:9} {state:18} {where}")
    print(f"version   {config.version}\nstate     {config.state}\nurl       {config.ckan_url}")
    return 0 if all(pids.values()) else 1


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    command = argv[0]
    version = os.environ.get("CKAN_VERSION", "")
    try:
        stack = Stack(StackConfig.from_env())
        version = stack.config.version
        if os.geteuid() != 0 and command in ("up", "reset"):
            log(version, "warning: not root; apt-get and runuser postgres will need root")
        if command == "up":
            stack.up()
        elif command == "reset":
            stack.reset()
        elif command == "down":
            stack.down()
        elif command == "status":
            return print_status(stack)
        else:
            site = stack.site()
            print(f"CKAN_URL={site.url}\nCKAN_API_TOKEN={site.token}")
    except StackError as exc:
        log(version or "?", f"error: {exc}")
        return 1
    return 0
