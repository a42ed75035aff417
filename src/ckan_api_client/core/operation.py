"""Operations: what a client does, written once as generators that ask and never perform I/O.

An operation yields a [`Call`][ckan_api_client.core.operation.Call] (an action to call: the answer's ``result`` is sent back in, or
its exception thrown in), [`CAPABILITIES`][ckan_api_client.core.operation.CAPABILITIES] (the site's
[`Capabilities`][ckan_api_client.core.site.Capabilities] come back), [`FACTS`][ckan_api_client.core.operation.FACTS] (the client's
[`ClientFacts`][ckan_api_client.core.operation.ClientFacts]: its site, options and caches), or an [`Emit`][ckan_api_client.core.operation.Emit] (an item for the caller,
when the operation is a listing), or [`Together`][ckan_api_client.core.operation.Together] (independent calls a shell may
send at once). A shell drives it: [`drive`][ckan_api_client.core.operation.drive] / [`drive_iter`][ckan_api_client.core.operation.drive_iter] with a
blocking answer, [`adrive`][ckan_api_client.core.operation.adrive] / [`adrive_iter`][ckan_api_client.core.operation.adrive_iter] with an awaited one. So paging, fill-ins,
404 handling, the write protocol and the token check cannot drift between the two clients.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, Union

from ..exceptions import CkanError
from .options import ClientOptions

T = TypeVar("T")
Item = TypeVar("Item")


@dataclass(frozen=True)
class Call:
    """An action to call; the operation receives its ``result``."""

    action: str
    data: Mapping[str, Any] | None = None
    method: str = "POST"
    read_only: bool | None = None
    """May it be repeated after it may have reached the server (default: by the action's name)."""
    files: Mapping[str, Any] | None = None
    """Files to upload (see [`UploadFile`][ckan_api_client.core.calls.UploadFile]): sent as a streamed multipart body."""
    progress: Callable[[int], None] | None = None


class _Ask:
    """A question an operation asks its driver (no request of its own, or a cached one)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


CAPABILITIES = _Ask("CAPABILITIES")
"""Yielded to ask for the site's [`Capabilities`][ckan_api_client.core.site.Capabilities] (read once per client)."""
FACTS = _Ask("FACTS")
"""Yielded to ask for the client's [`ClientFacts`][ckan_api_client.core.operation.ClientFacts]."""


@dataclass(frozen=True)
class Emit(Generic[Item]):
    """An item a listing hands to its caller."""

    value: Item


@dataclass(frozen=True)
class Together:
    """Calls that do not depend on each other: a shell may send them at once (the async client does, the
    blocking one sends them in turn). The operation receives a list in the same order, each entry the
    call's ``result`` or the [`CkanError`][ckan_api_client.exceptions.CkanError] it raised."""

    calls: tuple[Call, ...]


Step = Union[Call, _Ask, Together, Emit[Any]]
Operation = Generator[Step, Any, T]
"""An operation that ends with a result of type ``T``."""
Listing = Generator[Union[Call, _Ask, Together, Emit[Item]], Any, None]
"""An operation that emits items of type ``Item``, one at a time."""


@dataclass
class ClientFacts:
    """What a client knows of itself, for the operations that ask ([`FACTS`][ckan_api_client.core.operation.FACTS])."""

    base_url: str
    options: ClientOptions
    resolved: dict[tuple[str, str], Any] = field(default_factory=dict)
    """Organizations and groups found by name or id (None: known not to exist), for ``resolve_*``."""
    walks: int = 1
    """Id ranges a full listing walks at once (see ``iter_datasets``): 1 for a blocking client, which sends
    one request at a time; more for the async client, so a portal far away costs fewer round trips."""
    token_checked: bool = False
    """The server recognised the token (checked once per client, see ``check_token``)."""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def page_size(self) -> int | None:
        return self.options.page_size


class Stepper:
    """One operation being driven: hands out its next step, takes the answer or the error back.

    The drivers below only add the waiting (none, or ``await``)."""

    def __init__(self, operation: Generator[Any, Any, Any]) -> None:
        self.operation = operation
        self.done = False
        self.result: Any = None
        self._reply: Any = None
        self._failure: BaseException | None = None

    def next(self) -> Step | None:
        """The next step, or None when the operation has finished (its value in ``result``)."""
        try:
            if self._failure is not None:
                step = self.operation.throw(self._failure)
            else:
                step = self.operation.send(self._reply)
        except StopIteration as finished:
            self.done, self.result = True, finished.value
            return None
        self._reply, self._failure = None, None
        return step  # type: ignore[no-any-return]

    def answer(self, reply: Any) -> None:
        self._reply = reply

    def fail(self, error: CkanError) -> None:
        self._failure = error


Answer = Callable[[Union[Call, _Ask, Together]], Any]
AsyncAnswer = Callable[[Union[Call, _Ask, Together]], Awaitable[Any]]


def drive(operation: Operation[T], answer: Answer) -> T:
    """Run an operation to its result with a blocking ``answer`` (an operation that emits is refused)."""
    stepper = Stepper(operation)
    for _ in _steps(stepper, answer):
        raise TypeError("a listing needs drive_iter")
    result: T = stepper.result
    return result


def drive_iter(operation: Listing[Item], answer: Answer) -> Iterator[Item]:
    """The items a listing emits, driven with a blocking ``answer``."""
    return _steps(Stepper(operation), answer)


def _steps(stepper: Stepper, answer: Answer) -> Iterator[Any]:
    while (step := stepper.next()) is not None:
        if isinstance(step, Emit):
            yield step.value
            continue
        try:
            stepper.answer(answer(step))
        except CkanError as error:
            stepper.fail(error)


async def adrive(operation: Operation[T], answer: AsyncAnswer) -> T:
    """Run an operation to its result with an awaited ``answer``."""
    stepper = Stepper(operation)
    async for _ in _asteps(stepper, answer):
        raise TypeError("a listing needs adrive_iter")
    result: T = stepper.result
    return result


def adrive_iter(operation: Listing[Item], answer: AsyncAnswer) -> AsyncIterator[Item]:
    """The items a listing emits, driven with an awaited ``answer``."""
    return _asteps(Stepper(operation), answer)


async def _asteps(stepper: Stepper, answer: AsyncAnswer) -> AsyncIterator[Any]:
    while (step := stepper.next()) is not None:
        if isinstance(step, Emit):
            yield step.value
            continue
        try:
            stepper.answer(await answer(step))
        except CkanError as error:
            stepper.fail(error)


def forward(inner: Generator[Any, Any, T], on_emit: Callable[[Any], Iterable[Step]]) -> Generator[Step, Any, T]:
    """Run ``inner`` within an operation: its calls pass out and their answers (or errors) back in;
    each item it emits is replaced by the steps ``on_emit`` gives for it (none, to keep it)."""
    stepper = Stepper(inner)
    while (step := stepper.next()) is not None:
        if isinstance(step, Emit):
            yield from on_emit(step.value)
            continue
        try:
            stepper.answer((yield step))
        except CkanError as error:
            stepper.fail(error)
    result: T = stepper.result
    return result
