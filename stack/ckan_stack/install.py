"""Installing what the stack runs: Debian packages, CKAN in its own virtualenv, Solr from Maven Central.

Each step is skipped when a previous run finished it (a ``.complete`` marker in the cache)."""

from __future__ import annotations

import os
import shutil
from string import Template

from .components import template
from .config import EXTENSIONS, StackConfig
from .process import log, run

APT_PACKAGES = ["postgresql", "redis-server", "libpq-dev", "libmagic1", "gcc"]
APT_COMMANDS = {"javac": "default-jdk-headless", "mvn": "maven"}
"""Tools the machine may already have from elsewhere: the Debian package only when the command is missing."""


def ensure_apt_packages(config: StackConfig) -> None:
    missing = []
    for package in APT_PACKAGES:
        status = run(["dpkg-query", "-W", "-f=${Status}", package], check=False, capture=True).stdout
        if "install ok installed" not in status:
            missing.append(package)
    missing += [package for command, package in APT_COMMANDS.items() if shutil.which(command) is None]
    if not missing:
        return
    log(config.version, f"installing Debian packages: {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-q"], env=env)
    run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], env=env)


def ensure_ckan_venv(config: StackConfig) -> None:
    venv = config.venv
    marker = venv / ".complete"
    if marker.exists():
        return
    log(config.version, f"installing ckan[requirements]=={config.version} into {venv}")
    shutil.rmtree(venv, ignore_errors=True)
    run([config.python, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    run([*pip, "--upgrade", "pip", "setuptools<81", "wheel"])
    run([*pip, f"ckan[requirements]=={config.version}", "gunicorn"])
    marker.write_text(config.version)


def ensure_extensions(config: StackConfig) -> None:
    """The extensions the stack runs, installed into CKAN's virtualenv (once each)."""
    pip = [str(config.venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    for name in config.plugins:
        requirement = EXTENSIONS[name][0]
        marker = config.venv / f".extension-{requirement}"
        if marker.exists():
            continue
        log(config.version, f"installing {requirement} into {config.venv}")
        run([*pip, requirement])
        marker.write_text(requirement)


def ensure_solr(config: StackConfig) -> None:
    """Solr's jars resolved by Maven from a one-dependency POM, and the small launcher compiled."""
    cache = config.solr_cache
    marker = cache / ".complete"
    if marker.exists():
        return
    log(config.version, f"resolving Apache Solr {config.solr_version} from Maven Central into {cache}")
    shutil.rmtree(cache, ignore_errors=True)
    (cache / "launcher").mkdir(parents=True)
    (cache / "pom.xml").write_text(Template(template("pom.xml")).substitute(solr_version=config.solr_version))
    run(["mvn", "-q", "-B", "-f", str(cache / "pom.xml"), "dependency:copy-dependencies",
         f"-DoutputDirectory={cache / 'lib'}"])
    source = cache / "launcher" / "CkanSolr.java"
    source.write_text(template("CkanSolr.java"))
    run(["javac", "-cp", f"{cache / 'lib'}/*", "-d", str(cache / "launcher"), str(source)])
    marker.write_text(config.solr_version)


def install(config: StackConfig) -> None:
    ensure_apt_packages(config)
    ensure_ckan_venv(config)
    ensure_extensions(config)
    ensure_solr(config)
