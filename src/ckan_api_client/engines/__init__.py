"""The engines, built on the blocking clients: the bulk engine ([`dump`][ckan_api_client.engines.dump], [`load`][ckan_api_client.engines.load], [`delete`][ckan_api_client.engines.delete],
[`search`][ckan_api_client.engines.delete.search], [`batch`][ckan_api_client.engines.batch.batch]), the sync engine
([`SynchronizationClient`][ckan_api_client.engines.sync.SynchronizationClient]), the mirror
([`Mirror`][ckan_api_client.engines.mirror.Mirror]), the DCAT harvest
([`Harvest`][ckan_api_client.engines.harvest.Harvest]) and the exports
([`export_dcat`][ckan_api_client.engines.export.export_dcat],
[`export_datapackages`][ckan_api_client.engines.export.export_datapackages]), and the report every one of them fills
([`Report`][ckan_api_client.engines.report.Report])."""

from .batch import batch
from .delete import delete, search
from .dump import dump
from .load import load

__all__ = ["dump", "load", "delete", "search", "batch"]
