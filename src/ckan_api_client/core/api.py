"""The client API, declared once: each method a line naming its operation.

[`LowLevelApi`][ckan_api_client.core.api.LowLevelApi] (the original ckan-api-client's interface) and [`HighLevelApi`][ckan_api_client.core.api.HighLevelApi] (objects) list the methods;
the blocking clients ([`client`][ckan_api_client.blocking.client]) and the async ones
([`client`][ckan_api_client.asyncio.client]) inherit the same table and differ only in how they run an
operation: [`BlockingRunner`][ckan_api_client.core.api.BlockingRunner] returns its result, [`AsyncRunner`][ckan_api_client.core.api.AsyncRunner] a coroutine (a listing
gives an iterator or an async iterator). A new method is one line here, and all four clients have it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Generic, ParamSpec, TypeVar, Union, overload

from . import entities, highlevel
from .operation import Call, ClientFacts, Listing, Operation, Together, _Ask, adrive, adrive_iter, drive, drive_iter
from .options import ClientOptions, Secret

P = ParamSpec("P")
T = TypeVar("T")
Item = TypeVar("Item")


class ClientInfo:
    """What every client says of itself, from its [`ClientFacts`][ckan_api_client.core.operation.ClientFacts]."""

    facts: ClientFacts

    @property
    def base_url(self) -> str:
        return self.facts.base_url

    @property
    def api_key(self) -> Secret | None:
        """The key, wrapped so that it never prints (``client.api_key.reveal()`` gives it)."""
        return self.facts.options.api_key

    @property
    def options(self) -> ClientOptions:
        return self.facts.options

    @property
    def page_size(self) -> int | None:
        return self.facts.options.page_size

    def __repr__(self) -> str:
        key = "<set>" if self.api_key is not None else None
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key={key!r})"


class BlockingRunner:
    """Runs operations by blocking: the blocking clients implement [`answer`][ckan_api_client.core.api.BlockingRunner.answer] (one call, or a question)."""

    def answer(self, step: Union[Call, _Ask, Together]) -> Any:
        """What a step of an operation gets back: the result of its call, or the answer to its question."""
        raise NotImplementedError

    def run(self, operation: Operation[T]) -> T:
        """Run an operation of [`ckan_api_client.core`][ckan_api_client.core] with this client; its result."""
        return drive(operation, self.answer)

    def run_iter(self, operation: Listing[Item]) -> Iterator[Item]:
        """The items a listing of [`ckan_api_client.core`][ckan_api_client.core] emits, driven by this client."""
        return drive_iter(operation, self.answer)


class AsyncRunner:
    """Runs operations by awaiting: the async clients implement [`answer`][ckan_api_client.core.api.AsyncRunner.answer]."""

    async def answer(self, step: Union[Call, _Ask, Together]) -> Any:
        """What a step of an operation gets back: the result of its call, or the answer to its question."""
        raise NotImplementedError

    async def run(self, operation: Operation[T]) -> T:
        """Run an operation of [`ckan_api_client.core`][ckan_api_client.core] with this client; its result."""
        return await adrive(operation, self.answer)

    def run_iter(self, operation: Listing[Item]) -> AsyncIterator[Item]:
        """The items a listing of [`ckan_api_client.core`][ckan_api_client.core] emits, driven by this client."""
        return adrive_iter(operation, self.answer)


class _Method:
    """What [`action`][ckan_api_client.core.api.action] and [`listing`][ckan_api_client.core.api.listing] share: the operation factory, its name in the table, and
    the method made from it once per client (kept in the client's ``__dict__``, as a cached property)."""

    factory: Callable[..., Any]
    name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def _signature(self, returns: str) -> inspect.Signature:
        """The factory's signature with the return type a caller sees (``returns`` formats the result type)."""
        signature = inspect.signature(self.factory)
        result = str(signature.return_annotation)
        for wrapper in ("Operation[", "Listing["):
            if result.startswith(wrapper) and result.endswith("]"):
                result = returns.format(result[len(wrapper):-1])
        return signature.replace(return_annotation=result)

    def _bind(self, instance: object, call: Callable[..., Any], returns: str) -> Callable[..., Any]:
        functools.update_wrapper(call, self.factory)
        del call.__wrapped__  # type: ignore[attr-defined]  # its signature is its own, not the operation's
        call.__signature__ = self._signature(returns)  # type: ignore[attr-defined]
        if self.name:
            instance.__dict__[self.name] = call
        return call

    def _unbound(self, owner: type, returns: str, awaited: bool) -> Callable[..., Any]:
        """The method as the class shows it (to ``help()`` and the API reference): a function of ``self``
        with the operation's parameters, docstring and the return type a caller sees."""
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            return getattr(self, method.__name__)(*args, **kwargs)

        async def coroutine(self: Any, *args: Any, **kwargs: Any) -> Any:
            return await getattr(self, coroutine.__name__)(*args, **kwargs)

        shown: Callable[..., Any] = coroutine if awaited else method
        functools.update_wrapper(shown, self.factory)
        del shown.__wrapped__  # type: ignore[attr-defined]
        shown.__name__ = self.name or shown.__name__
        shown.__qualname__ = f"{owner.__qualname__}.{shown.__name__}"
        shown.__module__ = owner.__module__  # a method of the client, wherever its operation is written
        signature = self._signature(returns)
        itself = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
        shown.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[itself, *signature.parameters.values()])
        return shown


class action(_Method, Generic[P, T]):
    """A client method that runs the operation ``factory`` makes: its result, or (async) a coroutine."""

    def __init__(self, factory: Callable[P, Operation[T]]) -> None:
        self.factory = factory
        self.__doc__ = factory.__doc__

    @overload
    def __get__(self, instance: None, owner: type) -> Callable[..., Any]: ...
    @overload
    def __get__(self, instance: BlockingRunner, owner: type) -> Callable[P, T]: ...
    @overload
    def __get__(self, instance: AsyncRunner, owner: type) -> Callable[P, Coroutine[Any, Any, T]]: ...

    def __get__(self, instance: object, owner: type) -> Any:
        if instance is None:
            return self._unbound(owner, "{}", issubclass(owner, AsyncRunner))
        factory = self.factory
        if isinstance(instance, AsyncRunner):
            runner: Any = instance

            async def run_async(*args: Any, **kwargs: Any) -> Any:
                return await runner.run(factory(*args, **kwargs))
            return self._bind(instance, run_async, "{}")
        assert isinstance(instance, BlockingRunner)
        blocking: BlockingRunner = instance

        def run(*args: Any, **kwargs: Any) -> Any:
            return blocking.run(factory(*args, **kwargs))
        return self._bind(instance, run, "{}")


class listing(_Method, Generic[P, Item]):
    """A client method that runs the listing ``factory`` makes: an iterator, or (async) an async iterator."""

    def __init__(self, factory: Callable[P, Listing[Item]]) -> None:
        self.factory = factory
        self.__doc__ = factory.__doc__

    @overload
    def __get__(self, instance: None, owner: type) -> Callable[..., Any]: ...
    @overload
    def __get__(self, instance: BlockingRunner, owner: type) -> Callable[P, Iterator[Item]]: ...
    @overload
    def __get__(self, instance: AsyncRunner, owner: type) -> Callable[P, AsyncIterator[Item]]: ...

    def __get__(self, instance: object, owner: type) -> Any:
        if instance is None:
            iterator = "AsyncIterator[{}]" if issubclass(owner, AsyncRunner) else "Iterator[{}]"
            return self._unbound(owner, iterator, False)
        factory = self.factory
        runner: Any = instance

        def iterate(*args: Any, **kwargs: Any) -> Any:
            return runner.run_iter(factory(*args, **kwargs))
        returns = "AsyncIterator[{}]" if isinstance(instance, AsyncRunner) else "Iterator[{}]"
        return self._bind(instance, iterate, returns)


def api_methods(cls: type) -> dict[str, action[Any, Any] | listing[Any, Any]]:
    """The methods a table declares, by name (for tests and the reference)."""
    found: dict[str, action[Any, Any] | listing[Any, Any]] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, (action, listing)):
                found[name] = value
    return found


class LowLevelApi:
    """The low-level client's methods: the original ckan-api-client's documented interface, on the Action API."""

    check_token = action(entities.check_token)
    search_pages = listing(entities.search_pages)
    list_datasets = action(entities.list_datasets)
    iter_datasets = listing(entities.iter_datasets)
    get_dataset = action(entities.get_dataset)
    post_dataset = action(entities.post_dataset)
    put_dataset = action(entities.put_dataset)
    delete_dataset = action(entities.delete_dataset)
    list_group_summaries = action(entities.list_group_summaries)
    list_groups = action(entities.list_groups)
    iter_groups = listing(entities.iter_groups)
    get_group = action(entities.get_group)
    post_group = action(entities.post_group)
    put_group = action(entities.put_group)
    delete_group = action(entities.delete_group)
    list_organizations = action(entities.list_organizations)
    iter_organizations = listing(entities.iter_organizations)
    get_organization = action(entities.get_organization)
    post_organization = action(entities.post_organization)
    put_organization = action(entities.put_organization)
    delete_organization = action(entities.delete_organization)
    list_licenses = action(entities.list_licenses)
    upload_resource = action(entities.upload_resource)
    replace_resource_file = action(entities.replace_resource_file)


class HighLevelApi:
    """The high-level client's methods: entities as objects, updates that send only what changed."""

    list_datasets = action(entities.list_datasets)
    iter_datasets = listing(highlevel.iter_datasets)
    get_dataset = action(highlevel.get_dataset)
    create_dataset = action(highlevel.create_dataset)
    update_dataset = action(highlevel.update_dataset)
    save_dataset = action(highlevel.save_dataset)
    delete_dataset = action(highlevel.delete_dataset)
    add_resource = action(highlevel.add_resource)
    get_resource = action(highlevel.get_resource)
    update_resource = action(highlevel.update_resource)
    replace_resource_file = action(highlevel.replace_resource_file)
    delete_resource = action(highlevel.delete_resource)
    reorder_resources = action(highlevel.reorder_resources)
    list_organizations = action(entities.list_organizations)
    iter_organizations = listing(highlevel.iter_organizations)
    get_organization = action(highlevel.get_organization)
    create_organization = action(highlevel.create_organization)
    update_organization = action(highlevel.update_organization)
    delete_organization = action(highlevel.delete_organization)
    resolve_organization = action(highlevel.resolve_organization)
    list_groups = action(entities.list_groups)
    iter_groups = listing(highlevel.iter_groups)
    get_group = action(highlevel.get_group)
    create_group = action(highlevel.create_group)
    update_group = action(highlevel.update_group)
    delete_group = action(highlevel.delete_group)
    resolve_group = action(highlevel.resolve_group)
    list_licenses = action(highlevel.list_licenses)
