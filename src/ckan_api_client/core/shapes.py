"""The original client's input shapes, converted to what the Action API takes.

The original client (API v2) accepted ``extras`` as a plain dict, ``tags`` as a list of strings
and ``groups`` as a list of ids or names. The Action API wants lists of dicts. These functions
convert on write, never change their input, and reject what cannot be meant with
[`InvalidInput`][ckan_api_client.exceptions.InvalidInput] before any request is sent.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..exceptions import InvalidInput

__all__ = ["dataset_for_write", "group_for_write", "extras_to_list", "refs_to_dicts"]


def extras_to_list(extras: Any) -> list[dict[str, Any]]:
    """``{"k": "v"}`` or ``[{"key": "k", "value": "v"}]`` → ``[{"key": "k", "value": "v"}]``."""
    if isinstance(extras, Mapping):
        return [{"key": str(key), "value": value} for key, value in extras.items()]
    if isinstance(extras, (list, tuple)):
        result = []
        for item in extras:
            if not isinstance(item, Mapping) or "key" not in item:
                raise InvalidInput(f"each extra must be a dict with a 'key', got {item!r}")
            result.append(dict(item))
        return result
    raise InvalidInput(f"extras must be a dict or a list of {{'key', 'value'}} dicts, not {type(extras).__name__}")


def refs_to_dicts(field: str, items: Any) -> list[dict[str, Any]]:
    """Tags, groups: ``["a", {"name": "b"}]`` → ``[{"name": "a"}, {"name": "b"}]``."""
    if not isinstance(items, (list, tuple)):
        raise InvalidInput(f"{field} must be a list, not {type(items).__name__}")
    result = []
    for item in items:
        if isinstance(item, str):
            result.append({"name": item})
        elif isinstance(item, Mapping):
            result.append(dict(item))
        else:
            raise InvalidInput(f"each item of {field} must be a name or a dict, got {item!r}")
    return result


def dataset_for_write(dataset: Any) -> dict[str, Any]:
    """A copy of ``dataset`` in Action API shape (extras, tags and groups converted)."""
    if not isinstance(dataset, Mapping):
        raise InvalidInput(f"a dataset must be a dict, not {type(dataset).__name__}")
    result = dict(dataset)
    if result.get("extras") is not None:
        result["extras"] = extras_to_list(result["extras"])
    for field in ("tags", "groups"):
        if result.get(field) is not None:
            result[field] = refs_to_dicts(field, result[field])
    if result.get("resources") is not None:
        resources = result["resources"]
        if not isinstance(resources, (list, tuple)) or not all(isinstance(r, Mapping) for r in resources):
            raise InvalidInput("resources must be a list of dicts")
        result["resources"] = [dict(r) for r in resources]
    return result


def group_for_write(group: Any, kind: str = "group") -> dict[str, Any]:
    """A copy of a group or organization dict in Action API shape (extras converted)."""
    if not isinstance(group, Mapping):
        raise InvalidInput(f"an {kind} must be a dict, not {type(group).__name__}")
    result = dict(group)
    if result.get("extras") is not None:
        result["extras"] = extras_to_list(result["extras"])
    return result
