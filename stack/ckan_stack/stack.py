"""The stack as a whole: install, then start the components in order; stop them in reverse."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass

from .components import Ckan, Component, Postgres, Redis, Solr, Worker
from .config import StackConfig
from .install import install
from .process import StackError, log


@dataclass(frozen=True)
class Site:
    """A running CKAN: its URL and the sysadmin's API token."""

    url: str
    token: str

    def __repr__(self) -> str:
        return f"Site(url={self.url!r})"


class Stack:
    """PostgreSQL, Redis, Solr, CKAN and its job worker for one :class:`StackConfig`."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.postgres = Postgres(config)
        self.redis = Redis(config)
        self.solr = Solr(config)
        self.ckan = Ckan(config, self.postgres)
        self.worker = Worker(config)

    @property
    def components(self) -> tuple[Component, ...]:
        """In start order."""
        return (self.postgres, self.redis, self.solr, self.ckan, self.worker)

    def up(self) -> Site:
        """Install what is missing, start what is not running, wait until CKAN answers. Idempotent."""
        started = time.monotonic()
        config = self.config
        for folder in (config.state, config.logs, config.pids, config.state / "storage"):
            folder.mkdir(parents=True, exist_ok=True)
        install(config)
        self.postgres.start()
        self.redis.start()
        self.solr.start()
        self.ckan.prepare()
        self.ckan.start()
        self.worker.start()
        log(config.version, f"CKAN {config.version} is up at {config.ckan_url} ({time.monotonic() - started:.1f}s)")
        return self.site()

    def down(self) -> None:
        """Stop every process ``up`` started (by pid); the data stays."""
        if self.config.state.exists():
            for component in reversed(self.components):
                component.stop()

    def reset(self) -> Site:
        """Wipe this version's data and bring it up anew."""
        self.down()
        postgres_root = self.postgres.root if self.config.state.exists() else None
        log(self.config.version, f"wiping {self.config.state}")
        shutil.rmtree(self.config.state, ignore_errors=True)
        if postgres_root is not None:
            shutil.rmtree(postgres_root, ignore_errors=True)
        return self.up()

    def site(self) -> Site:
        """The URL and sysadmin token of an initialised stack (StackError when there is none)."""
        token_file = self.config.token_file
        if not token_file.exists():
            raise StackError(f"no stack initialised in {self.config.state}; run `scripts/ckan-stack up` first")
        return Site(self.config.ckan_url, token_file.read_text().strip())

    def status(self) -> dict[str, int | None]:
        """Each component's pid, or None when it does not run."""
        exists = self.config.state.exists()
        return {component.name: component.pid() if exists else None for component in self.components}
