"""The core: every decision the clients make, with no network I/O in it (it never opens a connection).

Floors above it: the shells ([`blocking`][ckan_api_client.blocking] on requests,
[`asyncio`][ckan_api_client.asyncio] on httpx) only send bytes and wait; the engines
([`engines`][ckan_api_client.engines]) and the command line ([`cli`][ckan_api_client.cli]) build on them.

| module | what it holds |
|---|---|
| ``options`` | [`ClientOptions`][ckan_api_client.core.options.ClientOptions], the retry policy, the token as a secret that never shows |
| ``site`` | the site's URL checked, where the token may go, [`Capabilities`][ckan_api_client.core.site.Capabilities] |
| ``calls`` | an action call described (GET or POST, JSON or a form, may it be repeated), uploads |
| ``answers`` | what an answer means: the envelope, malformed answers, typed errors |
| ``codec`` | JSON decoded by msgspec (the ``fast`` extra) with exactly ``json``'s values, else by ``json`` |
| ``retry`` | whether and when to try again (a pure function) |
| ``exchange`` | one request as both shells send it: headers, deadline, redirects, waits, counters |
| ``operation`` | the protocol of operations (``Call``, ``Emit``, questions) and their drivers |
| ``entities`` | the low-level client's operations (the original client's interface): datasets, groups, ... |
| ``highlevel`` | the high-level client's operations: objects, updates of only what changed |
| ``writes`` | the write protocol: creates, revises and removals through unknown outcomes |
| ``api`` | the client API declared once, inherited by all four clients |
| ``objects`` | ``Dataset``, ``Resource``, ``Organization``, ``Group``, ``License``; ``diff`` |
| ``shapes`` | the original client's input shapes converted on write |
| ``datastore`` | DataStore reads (keyset paging) and writes cut into chunks |
| ``files`` | the download state machine: ranges, checks, ``.part`` files |
| ``streams`` | local JSON Lines in and out, ``-`` for stdin/stdout, ``.part`` then rename |
"""
