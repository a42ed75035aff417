"""The stack's settings: one frozen object, built once from the environment or by hand."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from .process import StackError

REPO = Path(__file__).resolve().parent.parent.parent
DEFAULT_VERSION = "2.12.0"
SOLR_VERSION = "9.10.1"
ADMIN_NAME = "ckan_admin"


@dataclass(frozen=True)
class Ports:
    """Ports on 127.0.0.1. The defaults are below 32768, outside Linux's ephemeral range, so a
    client connection elsewhere can never hold one as its local port when a server needs it."""

    postgres: int
    redis: int
    solr: int
    ckan: int

    @classmethod
    def for_version(cls, version: str, environ: Mapping[str, str]) -> Ports:
        """Each CKAN minor version gets its own defaults (2.12: 15000, 2.11: 15001, ...) so that
        several can run side by side; ``CKAN_STACK_<NAME>_PORT`` overrides one."""
        offset = _minor_offset(version)

        def port(env_name: str, base: int) -> int:
            raw = environ.get(f"CKAN_STACK_{env_name}_PORT")
            if raw is None:
                return base + offset
            try:
                return int(raw)
            except ValueError:
                raise StackError(f"CKAN_STACK_{env_name}_PORT={raw!r} is not a port number") from None

        return cls(postgres=port("PG", 15432), redis=port("REDIS", 16379), solr=port("SOLR", 18983),
                   ckan=port("CKAN", 15000))


def _minor_offset(version: str) -> int:
    try:
        minor = int(version.split(".")[1])
    except (IndexError, ValueError):
        return 0
    return 12 - minor if 10 <= minor <= 12 else 0


EXTENSIONS = {
    "dcat": ("ckanext-dcat==2.4.4", ("dcat",)),
    "harvest": ("ckanext-harvest==1.6.3", ("harvest", "ckan_harvester", "dcat_rdf_harvester")),
}
"""CKAN extensions a stack can run (``CKAN_STACK_PLUGINS``): the package from PyPI, and the plugins it adds."""


def parse_plugins(raw: str) -> tuple[str, ...]:
    """``dcat,harvest`` (commas or spaces) checked against :data:`EXTENSIONS`; harvesting DCAT needs dcat."""
    names = tuple(dict.fromkeys(n for n in raw.replace(",", " ").split() if n))
    unknown = [n for n in names if n not in EXTENSIONS]
    if unknown:
        raise StackError(f"CKAN_STACK_PLUGINS: unknown {', '.join(unknown)} (known: {', '.join(EXTENSIONS)})")
    if "harvest" in names and "dcat" not in names:
        names = ("dcat", *names)
    return names


def _number(env: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(env.get(name, str(default)))
    except ValueError:
        raise StackError(f"{name}={env[name]!r} is not a number") from None


def parse_extra_config(raw: str) -> dict[str, str]:
    """``key=value`` pairs separated by newlines or ``;`` (the form of ``CKAN_STACK_CONFIG``)."""
    result = {}
    for pair in filter(None, (p.strip() for chunk in raw.split("\n") for p in chunk.split(";"))):
        key, sep, value = pair.partition("=")
        if not sep:
            raise StackError(f"CKAN_STACK_CONFIG entry {pair!r} is not key=value")
        result[key.strip()] = value.strip()
    return result


@dataclass(frozen=True)
class StackConfig:
    """Where one CKAN release's stack lives and how it runs. Paths are absolute."""

    version: str
    state_root: Path
    cache: Path
    ports: Ports
    workers: int = 2
    extra_ckan_config: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    python: str = sys.executable
    """The interpreter CKAN's own virtualenv is made with."""
    plugins: tuple[str, ...] = ()
    """Extensions installed into CKAN's virtualenv and enabled (see :data:`EXTENSIONS`)."""
    threads: int = 0
    """Threads per gunicorn worker (gthread, with keep-alive connections as a portal behind nginx has them);
    0: gunicorn's sync workers, one connection per request."""
    solr_version: str = SOLR_VERSION

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, version: str | None = None) -> StackConfig:
        """The settings the environment asks for (see ``scripts/ckan-stack``'s usage text);
        ``version`` wins over ``CKAN_VERSION``."""
        env = os.environ if environ is None else environ
        chosen = version or env.get("CKAN_VERSION") or DEFAULT_VERSION
        try:
            workers = int(env.get("CKAN_STACK_WORKERS", "2"))
        except ValueError:
            raise StackError(f"CKAN_STACK_WORKERS={env['CKAN_STACK_WORKERS']!r} is not a number") from None
        return cls(
            version=chosen,
            state_root=Path(env.get("CKAN_STACK_DIR", REPO / ".ckan-stack")).resolve(),
            cache=Path(env.get("CKAN_STACK_CACHE", Path.home() / ".cache" / "ckan-stack")).resolve(),
            ports=Ports.for_version(chosen, env),
            workers=workers,
            extra_ckan_config=MappingProxyType(parse_extra_config(env.get("CKAN_STACK_CONFIG", ""))),
            python=env.get("CKAN_STACK_PYTHON", sys.executable),
            plugins=parse_plugins(env.get("CKAN_STACK_PLUGINS", "")),
            threads=_number(env, "CKAN_STACK_THREADS", 0),
        )

    @property
    def state(self) -> Path:
        """This version's data: databases, Solr index, uploads, ckan.ini, token, logs, pids."""
        return self.state_root / self.version

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def pids(self) -> Path:
        return self.state / "pids"

    @property
    def venv(self) -> Path:
        """CKAN's own virtualenv, in the cache (one per CKAN version and Python)."""
        return self.cache / f"ckan-{self.version}-py{sys.version_info.major}{sys.version_info.minor}"

    @property
    def solr_cache(self) -> Path:
        return self.cache / f"solr-{self.solr_version}"

    @property
    def ckan_ini(self) -> Path:
        return self.state / "ckan.ini"

    @property
    def token_file(self) -> Path:
        return self.state / "token"

    @property
    def ckan_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.ckan}"

    @property
    def solr_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.solr}/solr/ckan"
