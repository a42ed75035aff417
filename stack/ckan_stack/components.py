"""One class per process of the stack, each with start / stop / running / ready."""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import time
from pathlib import Path
from typing import ClassVar

from .config import ADMIN_NAME, EXTENSIONS, StackConfig
from .process import StackError, http_ok, log, pid_alive, port_open, run, spawn, tail, wait_until

TEMPLATES = Path(__file__).resolve().parent / "templates"


def template(name: str) -> str:
    """A file of ``templates/`` (the POM, the Solr launcher, solrconfig.xml, the WSGI entry)."""
    return (TEMPLATES / name).read_text()


class Component:
    """A server process this stack starts, watches by pid and stops. Subclasses say how to
    launch it and how to tell that it serves."""

    name: ClassVar[str]
    exe_hint: ClassVar[str]
    """A part of the executable's path, to tell our process from a recycled pid."""
    port_env: ClassVar[str | None] = None
    startup_timeout: ClassVar[float] = 60

    def __init__(self, config: StackConfig) -> None:
        self.config = config

    @property
    def port(self) -> int | None:
        return None

    @property
    def logfile(self) -> Path:
        return self.config.logs / f"{self.name}.log"

    @property
    def pidfile(self) -> Path:
        return self.config.pids / f"{self.name}.pid"

    def pid(self) -> int | None:
        """The pid of our running process, or None."""
        try:
            pid = int(self.pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if pid_alive(pid, self.exe_hint) else None

    def running(self) -> bool:
        return self.pid() is not None

    def ready(self) -> bool:
        """True when the process serves; the default is its port accepting connections."""
        return self.port is not None and port_open(self.port)

    def start(self) -> None:
        """Start unless already running, then wait until it serves."""
        if self.running():
            return
        self._check_port_free()
        self._launch()
        wait_until(self.ready, timeout=self.startup_timeout, alive=self.running, what=self.name,
                   logfile=self.logfile)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 30 s; only a process this stack started is touched."""
        pid = self.pid()
        if pid is not None:
            log(self.config.version, f"stopping {self.name} (pid {pid})")
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and pid_alive(pid, self.exe_hint):
                time.sleep(0.1)
            if pid_alive(pid, self.exe_hint):
                os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)

    def _launch(self) -> None:
        raise NotImplementedError

    def _check_port_free(self) -> None:
        if self.port is not None and port_open(self.port):
            raise StackError(f"port {self.port} on 127.0.0.1 (for {self.name}) is already taken by a process this "
                             f"stack did not start; free it or choose another with CKAN_STACK_{self.port_env}_PORT")

    def _log(self, message: str) -> None:
        log(self.config.version, message)


class Postgres(Component):
    """PostgreSQL from Debian's packages, run by the ``postgres`` user with its data in the state folder."""

    name = "postgres"
    exe_hint = "postgres"
    port_env = "PG"

    @property
    def port(self) -> int:
        return self.config.ports.postgres

    @staticmethod
    def bin() -> Path:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not found:
            raise StackError("PostgreSQL server binaries not found under /usr/lib/postgresql")
        return found[-1].parent

    @property
    def root(self) -> Path:
        """The folder the postgres user owns: in the state folder if postgres can reach it, else under /var/lib."""
        state = self.config.state
        probe = run(["runuser", "-u", "postgres", "--", "test", "-x", str(state)], check=False, capture=True)
        if probe.returncode == 0:
            return state / "postgres"
        return Path("/var/lib/postgresql/ckan-stack") / hashlib.sha256(str(state).encode()).hexdigest()[:12]

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "postgres.log"

    def pid(self) -> int | None:
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if pid_alive(pid, self.exe_hint) else None

    def start(self) -> None:
        if self.running():
            return
        self._check_port_free()
        root = self.root
        if not (self.data / "PG_VERSION").exists():
            self._log("initialising PostgreSQL")
            root.mkdir(parents=True, exist_ok=True)
            shutil.chown(root, "postgres", "postgres")
            self._as_postgres("initdb", "-D", str(self.data), "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8",
                              "--auth-local=peer", "--auth-host=scram-sha-256")
        self._log(f"starting PostgreSQL on 127.0.0.1:{self.port}")
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={root} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        proc = run(["runuser", "-u", "postgres", "--", str(self.bin() / "pg_ctl"), "-D", str(self.data), "-l",
                    str(self.logfile), "-w", "-t", "60", "-o", options, "start"], check=False, capture=True)
        if proc.returncode != 0:
            raise StackError(f"PostgreSQL failed to start: {proc.stdout.strip()}\n"
                             f"the tail of {self.logfile}:\n{tail(self.logfile)}")

    def stop(self) -> None:
        if self.running():
            self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the postgres superuser over the stack's own socket; the output, unaligned."""
        return self._as_postgres("psql", "-h", str(self.root), "-p", str(self.port), "-d", database,
                                 "-v", "ON_ERROR_STOP=1", "-qAt", input=sql)

    def _as_postgres(self, program: str, *args: str, input: str | None = None) -> str:
        return run(["runuser", "-u", "postgres", "--", str(self.bin() / program), *args], input=input,
                   capture=True).stdout


class Redis(Component):
    name = "redis"
    exe_hint = "redis"
    port_env = "REDIS"
    startup_timeout = 30

    @property
    def port(self) -> int:
        return self.config.ports.redis

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _launch(self) -> None:
        self._log(f"starting Redis on 127.0.0.1:{self.port}")
        data = self.config.state / "redis"
        data.mkdir(parents=True, exist_ok=True)
        spawn(["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
               "--dir", str(data), "--daemonize", "no"], self.logfile, self.pidfile)


class Solr(Component):
    """Apache Solr 9 from Maven Central, served by its own embedded Jetty runner, with CKAN's schema."""

    name = "solr"
    exe_hint = "java"
    port_env = "SOLR"
    startup_timeout = 90

    @property
    def port(self) -> int:
        return self.config.ports.solr

    def ready(self) -> bool:
        return http_ok(f"{self.config.solr_url}/select?q=*:*&rows=0")

    def home(self) -> Path:
        """The Solr home with one core, ``ckan``, using the schema.xml of the CKAN release."""
        home = self.config.state / "solr"
        conf = home / "ckan" / "conf"
        if not (conf / "schema.xml").exists():
            conf.mkdir(parents=True, exist_ok=True)
            site = run([str(self.config.venv / "bin" / "python"), "-c",
                        "import ckan, os; print(os.path.dirname(ckan.__file__))"], capture=True).stdout.strip()
            shutil.copy(Path(site) / "config" / "solr" / "schema.xml", conf / "schema.xml")
            (conf / "solrconfig.xml").write_text(template("solrconfig.xml"))
            for empty in ("protwords.txt", "synonyms.txt", "stopwords.txt"):
                (conf / empty).write_text("")
            (home / "ckan" / "core.properties").write_text("name=ckan\n")
            (home / "solr.xml").write_text('<?xml version="1.0" encoding="UTF-8" ?>\n<solr></solr>\n')
        return home

    def _launch(self) -> None:
        home = self.home()
        self._log(f"starting Apache Solr {self.config.solr_version} on 127.0.0.1:{self.port}")
        libs = self.config.solr_cache
        spawn(["java", "-Xms128m", "-Xmx512m", f"-Dsolr.log.dir={self.config.logs}",
               "-Dsolr.disableConfigSetsCreateAuthChecks=true", "-cp", f"{libs / 'lib'}/*:{libs / 'launcher'}",
               "CkanSolr", str(home), str(self.port)], self.logfile, self.pidfile)


class Ckan(Component):
    """CKAN under gunicorn, configured by ``prepare()`` (ckan.ini, databases, a sysadmin and its token)."""

    name = "ckan"
    exe_hint = "python"
    port_env = "CKAN"
    startup_timeout = 120

    def __init__(self, config: StackConfig, postgres: Postgres) -> None:
        super().__init__(config)
        self.postgres = postgres

    @property
    def port(self) -> int:
        return self.config.ports.ckan

    def ready(self) -> bool:
        return http_ok(f"{self.config.ckan_url}/api/3/action/status_show")

    def prepare(self) -> None:
        """Everything CKAN needs before it starts; idempotent, so it runs on every ``up``. A running CKAN whose
        settings changed (another ``CKAN_STACK_PLUGINS``, ``CKAN_STACK_CONFIG``) is stopped, to start anew."""
        self._create_databases()
        if self._write_config() and self.running():
            self._log("its settings changed: restarting CKAN")
            self.stop()
        self._initialise()

    def cli(self, *args: str, input: str | None = None) -> str:
        """Run CKAN's own command line against this stack's ckan.ini; its output."""
        return run([str(self.config.venv / "bin" / "ckan"), "-c", str(self.config.ckan_ini), *args], capture=True,
                   env=self._env(), input=input, cwd=self.config.state).stdout

    def _env(self) -> dict[str, str]:
        return dict(os.environ, CKAN_INI=str(self.config.ckan_ini))

    def _secrets(self) -> dict[str, str]:
        path = self.config.state / "secrets.json"
        if path.exists():
            stored: dict[str, str] = json.loads(path.read_text())
            return stored
        values = {key: secrets.token_urlsafe(18) for key in ("ckan_db", "datastore_ro", "admin")}
        path.write_text(json.dumps(values))
        path.chmod(0o600)
        return values

    def _create_databases(self) -> None:
        passwords = self._secrets()
        roles = self.postgres.psql("SELECT rolname FROM pg_roles").split()
        for role, password in (("ckan_default", passwords["ckan_db"]), ("datastore_ro", passwords["datastore_ro"])):
            if role not in roles:
                self.postgres.psql(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        databases = self.postgres.psql("SELECT datname FROM pg_database").split()
        for database in ("ckan_default", "datastore_default"):
            if database not in databases:
                self.postgres.psql(f"CREATE DATABASE {database} OWNER ckan_default ENCODING 'UTF8' TEMPLATE template0")

    def _settings(self) -> dict[str, str]:
        passwords = self._secrets()
        config = self.config
        pg = f"127.0.0.1:{config.ports.postgres}"
        settings = {
            "sqlalchemy.url": f"postgresql://ckan_default:{passwords['ckan_db']}@{pg}/ckan_default",
            "ckan.datastore.write_url": f"postgresql://ckan_default:{passwords['ckan_db']}@{pg}/datastore_default",
            "ckan.datastore.read_url": f"postgresql://datastore_ro:{passwords['datastore_ro']}@{pg}/datastore_default",
            "ckan.datastore.sqlsearch.enabled": "true",
            "solr_url": config.solr_url,
            "ckan.redis.url": f"redis://127.0.0.1:{config.ports.redis}/0",
            "ckan.site_url": config.ckan_url,
            "ckan.site_id": f"ckan-stack-{config.version}",
            "ckan.plugins": " ".join(["activity", "datastore",
                                      *(plugin for name in config.plugins for plugin in EXTENSIONS[name][1])]),
            "ckan.storage_path": str(config.state / "storage"),
            "ckan.max_resource_size": "1024",
            "ckan.auth.create_user_via_api": "false",
            "ckan.hide_version": "false",
            "ckan.devserver.host": "127.0.0.1",
            "ckan.devserver.port": str(config.ports.ckan),
        }
        if "harvest" in config.plugins:  # its queues on the stack's Redis
            settings.update({"ckan.harvest.mq.type": "redis", "ckan.harvest.mq.hostname": "127.0.0.1",
                             "ckan.harvest.mq.port": str(config.ports.redis), "ckan.harvest.mq.redis_db": "1"})
        settings.update(config.extra_ckan_config)
        return settings

    def _write_config(self) -> bool:
        """Write ckan.ini with the stack's settings; True when they changed."""
        ini = self.config.ckan_ini
        if not ini.exists():
            run([str(self.config.venv / "bin" / "ckan"), "generate", "config", str(ini)], capture=True)
        before = ini.read_text()
        parser = configparser.RawConfigParser(strict=False)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read(ini)
        for key, value in self._settings().items():
            parser.set("app:main", key, value)
        with open(ini, "w") as fh:
            parser.write(fh)
        (self.config.state / "wsgi.py").write_text(template("wsgi.py.txt"))
        return ini.read_text() != before

    def _initialise(self) -> None:
        """Once per state: schema, DataStore permissions, a sysadmin and its API token (and once the harvest
        extension is enabled, its tables)."""
        harvest_tables = self.config.state / ".harvest-tables"
        if "harvest" in self.config.plugins and not harvest_tables.exists() and self.config.token_file.exists():
            self.cli("db", "upgrade", "-p", "harvest")
            harvest_tables.write_text("done\n")
        token_file = self.config.token_file
        if token_file.exists():
            return
        self._log("initialising CKAN's database (db init, datastore permissions, sysadmin, API token)")
        self.cli("db", "init")
        self.cli("db", "upgrade")
        self.postgres.psql(self.cli("datastore", "set-permissions"), database="datastore_default")
        if ADMIN_NAME not in self.cli("user", "list"):
            self.cli("user", "add", ADMIN_NAME, "email=admin@ckan-stack.invalid", f"password={self._secrets()['admin']}")
        self.cli("sysadmin", "add", ADMIN_NAME)
        out = self.cli("user", "token", "add", ADMIN_NAME, "ckan-stack")
        token = [line.strip() for line in out.splitlines() if line.strip()][-1]
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
        if "harvest" in self.config.plugins:
            self.cli("db", "upgrade", "-p", "harvest")
            harvest_tables.write_text("done\n")

    def _launch(self) -> None:
        config = self.config
        self._log(f"starting CKAN {config.version} under gunicorn ({config.workers} workers) on 127.0.0.1:{self.port}")
        threads = ["--worker-class", "gthread", "--threads", str(config.threads), "--keep-alive", "30"] \
            if config.threads else []
        spawn([str(config.venv / "bin" / "python"), str(config.venv / "bin" / "gunicorn"), "--workers",
               str(config.workers), *threads, "--bind", f"127.0.0.1:{self.port}", "--timeout", "300",
               "--graceful-timeout", "10",
               "--no-control-socket", "--access-logfile", str(config.logs / "ckan-access.log"), "--chdir",
               str(config.state), "wsgi:application"], self.logfile, self.pidfile, env=self._env(), cwd=config.state)


class Worker(Component):
    """CKAN's background job worker (DataStore record counts, last_modified patches). No port."""

    name = "worker"
    exe_hint = "python"

    def ready(self) -> bool:
        return self.running()

    def start(self) -> None:
        if self.running():
            return
        self._log("starting the CKAN background job worker")
        config = self.config
        spawn([str(config.venv / "bin" / "python"), str(config.venv / "bin" / "ckan"), "-c", str(config.ckan_ini),
               "jobs", "worker"], self.logfile, self.pidfile, env=dict(os.environ, CKAN_INI=str(config.ckan_ini)),
              cwd=config.state)
        time.sleep(0.5)
        if not self.running():
            raise StackError(f"the job worker exited at start; the tail of its log:\n{tail(self.logfile)}")
