"""Transport behaviour on real sockets: timeouts, retries, Retry-After, odd bodies, redirects, tokens."""

from __future__ import annotations

from typing import Any

import pytest

from ckan_api_client import exceptions as exc
from ckan_api_client import RetryPolicy
from async_facade import MODES, make_client
from loopback_servers import Reply, ScriptedServer, free_port, ok, timed

FAST = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.05)
TOKEN = "secret-token-for-transport-tests"


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """Each test with a client runs for the sync client and for the async one."""
    return str(request.param)


def client_for(server: ScriptedServer, mode: str, **options: object) -> Any:
    options.setdefault("retry", FAST)
    return make_client(mode, server.url, TOKEN, **options)


def test_timeout_fires_on_a_server_that_never_answers(mode: str) -> None:
    with ScriptedServer([Reply(hang=True)]) as server:
        client = client_for(server, mode, timeout=(2, 0.5), retry=RetryPolicy(max_attempts=2, backoff_base=0.01))
        elapsed, error = timed(lambda: client.get_dataset("x"))
    assert isinstance(error, exc.RequestTimeout)
    assert error.request_sent is True and error.action == "package_show"
    assert len(server.requests) == 2  # a read is retried once more, then the timeout is final
    assert elapsed < 5


def test_a_write_that_timed_out_is_not_sent_again(mode: str) -> None:
    with ScriptedServer([Reply(hang=True)]) as server:
        client = client_for(server, mode, timeout=(2, 0.5))
        _, error = timed(lambda: client.post_dataset({"name": "x"}))
    assert isinstance(error, exc.RequestTimeout) and error.request_sent is True
    assert len(server.requests) == 1  # its outcome is unknown: the caller must read back


def test_503_then_200_is_retried(mode: str) -> None:
    with ScriptedServer([Reply(503, "<html><title>Service Unavailable</title></html>"), ok({"id": "x"})]) as server:
        client = client_for(server, mode)
        assert client.get_dataset("x") == {"id": "x"}
    assert len(server.requests) == 2
    assert client.transport.stats.retries == 1 and client.transport.stats.retry_reasons == {"HTTP 503": 1}


def test_429_waits_for_retry_after_even_for_writes(mode: str) -> None:
    with ScriptedServer([Reply(429, {"success": False}, {"Retry-After": "1"}), ok({"id": "new"})]) as server:
        client = client_for(server, mode)
        elapsed, result = timed(lambda: client.post_dataset({"name": "n"}))
    assert result == {"id": "new"}
    assert len(server.requests) == 2
    assert elapsed >= 0.95


def test_429_with_too_long_retry_after_is_raised(mode: str) -> None:
    with ScriptedServer([Reply(429, "slow down", {"Retry-After": "3600"})]) as server:
        client = client_for(server, mode)
        _, error = timed(lambda: client.get_dataset("x"))
    assert isinstance(error, exc.RateLimited)
    assert error.retry_after == 3600 and error.status_code == 429
    assert len(server.requests) == 1


def test_a_write_is_not_retried_on_503_unless_asked(mode: str) -> None:
    with ScriptedServer([Reply(503, "busy"), ok({"id": "y"})]) as server:
        client = client_for(server, mode)
        _, error = timed(lambda: client.post_dataset({"name": "y"}))
        assert isinstance(error, exc.ServerError) and error.status_code == 503
        assert len(server.requests) == 1
        opted_in = client_for(server, mode, retry=RetryPolicy(max_attempts=3, backoff_base=0.01, retry_writes=True))
        assert opted_in.post_dataset({"name": "y"}) == {"id": "y"}


def test_gives_up_after_max_attempts(mode: str) -> None:
    with ScriptedServer([Reply(502, "bad gateway")]) as server:
        client = client_for(server, mode)
        _, error = timed(lambda: client.list_licenses())
    assert isinstance(error, exc.ServerError) and error.status_code == 502
    assert len(server.requests) == 3


def test_connection_refused_is_retried_even_for_writes(mode: str) -> None:
    client = make_client(mode, f"http://127.0.0.1:{free_port()}", TOKEN, retry=FAST)
    _, error = timed(lambda: client.post_dataset({"name": "z"}))
    assert isinstance(error, exc.TransportError) and not isinstance(error, exc.RequestTimeout)
    assert error.request_sent is False  # never reached a server: safe to send again
    assert client.transport.stats.requests == 3
    assert TOKEN not in str(error)


def test_dropped_connection_after_a_write_is_final(mode: str) -> None:
    with ScriptedServer([Reply(drop=True), ok({"id": "w"})]) as server:
        client = client_for(server, mode)
        _, error = timed(lambda: client.post_dataset({"name": "w"}))
        assert isinstance(error, exc.TransportError) and error.request_sent is True
        assert len(server.requests) == 1
        # ... while a read is simply retried.
        server.requests.clear()
        server.script = [Reply(drop=True), ok({"id": "w"})]
        assert client.get_dataset("w") == {"id": "w"}
        assert len(server.requests) == 2


@pytest.mark.parametrize("reply, error_type, text", [
    (Reply(500, "<!DOCTYPE html><html><head><title>Internal Server Error</title></head><body>x</body></html>",
           {"Content-Type": "text/html"}), exc.ServerError, "HTML page: Internal Server Error"),
    (Reply(400, '"Bad request - Action name not known: foo"'), exc.BadRequest, "Action name not known"),
    (Reply(404, "plain words, no JSON"), exc.NotFound, "plain words, no JSON"),
    (Reply(409, {"success": False, "error": {"__type": "Validation Error", "name": ["That URL is already in use."]}}),
     exc.ValidationError, "That URL is already in use."),
    (Reply(409, {"success": False, "error": {"__type": "Search Query Error", "message": "bad fq"}}),
     exc.SearchQueryError, "bad fq"),
    (Reply(403, {"success": False, "error": {"__type": "Authorization Error", "message": "nope"}}),
     exc.NotAuthorized, "nope"),
    (Reply(418, ""), exc.HTTPError, "HTTP 418"),
])
def test_error_bodies_become_typed_errors(mode: str, reply: Reply, error_type: type, text: str) -> None:
    with ScriptedServer([reply, ok({"id": "after"})]) as server:
        client = client_for(server, mode)
        _, error = timed(lambda: client.call_action("foo"))
        assert type(error) is error_type
        assert text in str(error)
        assert error.status_code == reply.status
        # The client stays usable afterwards.
        assert client.call_action("package_show", {"id": "after"}) == {"id": "after"}


@pytest.mark.parametrize("reply, text", [
    (Reply(200, "{not json"), "not JSON"),
    (Reply(200, "<html><title>Login</title></html>", {"Content-Type": "text/html"}), "HTML page: Login"),
    (Reply(200, {"result": {"id": "x"}}), "no 'success'"),
    (Reply(200, {"success": False}), "gives no error"),
    (Reply(200, ["a", "list"]), "no 'success'"),
    (Reply(200, {"success": True}), "no 'result'"),
])
def test_ok_answers_of_the_wrong_shape_raise_bad_api_error(mode: str, reply: Reply, text: str) -> None:
    with ScriptedServer([reply]) as server:
        _, error = timed(lambda: client_for(server, mode).call_action("package_show", {"id": "x"}))
    assert isinstance(error, exc.BadApiError)
    assert text in str(error)


def test_return_values_are_checked(mode: str) -> None:
    with ScriptedServer([ok(["not", "a", "dataset"])]) as server:
        client = client_for(server, mode)
        with pytest.raises(exc.BadApiError, match="package_show"):
            client.get_dataset("x")
        server.script = [ok({"no": "list"})]
        with pytest.raises(exc.BadApiError):
            client.list_licenses()
        server.script = [ok({"count": 1, "results": [{"name": "no id"}]})]
        with pytest.raises(exc.BadApiError):
            client.list_datasets()


def test_a_redirect_on_a_write_is_an_error_that_explains_itself(mode: str) -> None:
    with ScriptedServer([Reply(302, "", {"Location": "https://elsewhere.example/api/3/action/package_create"})]) as s:
        _, error = timed(lambda: client_for(s, mode).post_dataset({"name": "r"}))
    assert isinstance(error, exc.RedirectError)
    assert "elsewhere.example" in str(error) and "base_url" in str(error)
    assert TOKEN not in str(error)


def test_get_redirects_keep_the_token_on_the_host_and_drop_it_elsewhere(mode: str) -> None:
    with ScriptedServer([ok({"id": "there"})]) as other:
        def home(recorded):  # type: ignore[no-untyped-def]
            if recorded.path.startswith("/moved"):
                return Reply(302, "", {"Location": other.url + "/api/3/action/package_show?id=x"})
            if recorded.path.startswith("/api/3/action/package_show"):
                return Reply(301, "", {"Location": "/moved"})
            return Reply(404, "?")

        with ScriptedServer(home) as server:
            client = client_for(server, mode)
            assert client.call_action("package_show", {"id": "x"}, method="GET") == {"id": "there"}
    assert [r.headers.get("Authorization") for r in server.requests] == [TOKEN, TOKEN]
    assert "Authorization" not in other.requests[0].headers


def test_a_custom_auth_header_is_dropped_off_host_too(mode: str) -> None:
    with ScriptedServer([ok({"id": "there"})]) as other:
        with ScriptedServer([Reply(302, "", {"Location": other.url + "/x"})]) as server:
            client = make_client(mode, server.url, TOKEN, auth_header="X-CKAN-API-Key")
            client.request("GET", "/api/3/action/status_show")
    assert server.requests[0].headers["X-CKAN-API-Key"] == TOKEN
    assert "X-CKAN-API-Key" not in other.requests[0].headers


def test_token_over_plain_http_to_a_remote_host_is_refused(mode: str) -> None:
    with pytest.raises(exc.InvalidInput, match="plain http") as refused:
        make_client(mode, "http://data.example.org", TOKEN)
    assert TOKEN not in str(refused.value)
    # Allowed when asked, over https, anonymously, and on loopback.
    make_client(mode, "http://data.example.org", TOKEN, allow_insecure_http=True)
    make_client(mode, "https://data.example.org", TOKEN)
    make_client(mode, "http://data.example.org")
    make_client(mode, "http://localhost:5000", TOKEN)
    make_client(mode, "http://[::1]:5000", TOKEN)


def test_user_agent_and_no_cookies(mode: str) -> None:
    with ScriptedServer([Reply(200, {"success": True, "result": {"id": "c"}}, {"Set-Cookie": "ckan=abc; Path=/"})]) as s:
        client = client_for(s, mode)
        client.get_dataset("c")
        client.get_dataset("c")
    assert s.requests[0].headers["User-Agent"].startswith("ckan-api-client/")
    assert "Cookie" not in s.requests[1].headers
