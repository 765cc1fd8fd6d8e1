"""Bearer JWT auth: RS256 against a JWKS served on 127.0.0.1, HS256 for local use, every failure
a 401 in the error shape, and users never seeing each other's jobs."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import httpx
import jwt
import pytest

from .helpers import HS_SECRET, Api, ApiFactory, hs_token, job_body
from .jwks import AUDIENCE, ISSUER, JwksServer, SigningKey


def assert_unauthorized(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    error = response.json()["error"]
    assert error["code"] == "unauthorized"
    assert error["field"] == "Authorization"
    assert reason in error["message"]


async def post_with(api: Api, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return await api.client.post("/v1/jobs", json=job_body(), headers=headers)


@pytest.fixture(scope="module")
def signing_key() -> SigningKey:
    return SigningKey.generate("key-1")


@pytest.fixture
def jwks(signing_key: SigningKey) -> Iterator[JwksServer]:
    with JwksServer(signing_key) as server:
        yield server


@pytest.fixture
async def rs_api(make_api: ApiFactory, jwks: JwksServer) -> AsyncIterator[Api]:
    yield await make_api(
        auth_jwks_url=jwks.url,
        auth_issuer=ISSUER,
        auth_audience=AUDIENCE,
        auth_hs256_secret=None,
        auth_jwks_refresh_min_s=0,
    )


# -- HS256 (local mode) ---------------------------------------------------------------------


async def test_hs256_token_is_accepted_and_its_subject_owns_the_job(api: Api) -> None:
    response = await post_with(api, hs_token("hs-user"))
    assert response.status_code == 202, response.text
    job = await (await api.stack.repository()).get_job(response.json()["job_id"])
    assert job.user_id == "hs-user"


async def test_hs256_failures_are_401(api: Api) -> None:
    assert_unauthorized(await post_with(api, None), "bearer token is required")
    basic = await api.client.get("/v1/jobs", headers={"Authorization": "Basic YWxpY2U6cHc="})
    assert_unauthorized(basic, "bearer token is required")
    assert_unauthorized(await post_with(api, "not.a.jwt"), "malformed")
    expired = hs_token("alice", exp=int(time.time()) - 3600)
    assert_unauthorized(await post_with(api, expired), "expired")
    forged = hs_token("alice", secret=HS_SECRET[::-1])
    assert_unauthorized(await post_with(api, forged), "signature")
    unsigned = jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, None, algorithm="none")
    assert_unauthorized(await post_with(api, unsigned), "HS256")
    no_subject = jwt.encode({"exp": int(time.time()) + 60}, HS_SECRET, algorithm="HS256")
    assert_unauthorized(await post_with(api, no_subject), "'sub'")
    no_expiry = jwt.encode({"sub": "alice"}, HS_SECRET, algorithm="HS256")
    assert_unauthorized(await post_with(api, no_expiry), "'exp'")


async def test_hs256_with_an_issuer_refuses_other_issuers(make_api: ApiFactory) -> None:
    api = await make_api(auth_issuer="omnigen-local", auth_audience="omnigen")
    good = hs_token("alice", iss="omnigen-local", aud="omnigen")
    assert (await post_with(api, good)).status_code == 202
    assert_unauthorized(
        await post_with(api, hs_token("alice", iss="elsewhere", aud="omnigen")), "issuer"
    )
    assert_unauthorized(
        await post_with(api, hs_token("alice", iss="omnigen-local", aud="other")), "audience"
    )


# -- RS256 through a JWKS URL ---------------------------------------------------------------


async def test_rs256_token_from_the_jwks_is_accepted(
    rs_api: Api, signing_key: SigningKey, jwks: JwksServer
) -> None:
    for _ in range(3):
        response = await post_with(rs_api, signing_key.token("rs-user"))
        assert response.status_code == 202, response.text
    listed = await rs_api.client.get(
        "/v1/jobs", headers={"Authorization": f"Bearer {signing_key.token('rs-user')}"}
    )
    assert len(listed.json()["jobs"]) == 3
    assert jwks.requests == 1  # keys are cached


async def test_rs256_failures_are_401(rs_api: Api, signing_key: SigningKey) -> None:
    now = int(time.time())
    expired = signing_key.token(exp=now - 3600)
    assert_unauthorized(await post_with(rs_api, expired), "expired")
    impostor = SigningKey.generate(signing_key.kid)  # same kid, another private key
    assert_unauthorized(await post_with(rs_api, impostor.token()), "signature")
    assert_unauthorized(await post_with(rs_api, signing_key.token(iss="https://evil")), "issuer")
    assert_unauthorized(await post_with(rs_api, signing_key.token(aud="other-app")), "audience")
    assert_unauthorized(await post_with(rs_api, signing_key.token(aud=None)), "'aud'")
    assert_unauthorized(await post_with(rs_api, signing_key.token(kid="nope")), "unknown key")
    assert_unauthorized(await post_with(rs_api, hs_token("alice")), "RS256")
    assert_unauthorized(await post_with(rs_api, signing_key.token(sub=None)), "'sub'")
    too_long = signing_key.token(sub="u" * 201)
    assert_unauthorized(await post_with(rs_api, too_long), "subject")


async def test_rs256_picks_up_a_rotated_key(
    rs_api: Api, signing_key: SigningKey, jwks: JwksServer
) -> None:
    assert (await post_with(rs_api, signing_key.token("rotating"))).status_code == 202
    rotated = SigningKey.generate("key-2")
    jwks.keys.append(rotated)
    response = await post_with(rs_api, rotated.token("rotating"))
    assert response.status_code == 202, response.text
    assert jwks.requests == 2


async def test_unreachable_jwks_is_503_not_401(make_api: ApiFactory) -> None:
    with JwksServer() as server:
        url = server.url
    api = await make_api(
        auth_jwks_url=url,
        auth_issuer=ISSUER,
        auth_audience=AUDIENCE,
        auth_hs256_secret=None,
        auth_jwks_timeout_s=1,
    )
    response = await post_with(api, SigningKey.generate("k").token())
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "auth_unavailable"


# -- isolation between users ----------------------------------------------------------------


async def test_a_user_never_sees_another_users_job(api: Api) -> None:
    alice_job = (await api.submit("alice")).json()["job_id"]
    for i in range(3):
        await api.submit("alice", duration=11 + i)
    await api.submit("bob")
    bob = api.auth("bob")

    for method, path in (
        ("GET", f"/v1/jobs/{alice_job}"),
        ("GET", f"/v1/jobs/{alice_job}/events"),
        ("GET", f"/v1/jobs/{alice_job}/video"),
        ("DELETE", f"/v1/jobs/{alice_job}"),
    ):
        response = await api.client.request(method, path, headers=bob)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"] == {
            "code": "not_found",
            "message": f"job {alice_job} not found",
            "field": "job_id",
            "request_id": response.headers["X-Trace-Id"],
        }
    still = await (await api.stack.repository()).get_job(alice_job)
    assert (still.status.value, still.error_message) == ("pending", None)

    bobs = (await api.client.get("/v1/jobs", headers=bob)).json()
    assert alice_job not in [j["job_id"] for j in bobs["jobs"]]
    assert len(bobs["jobs"]) == 1

    alices_page = await api.client.get("/v1/jobs", params={"limit": 2}, headers=api.auth("alice"))
    cursor = alices_page.json()["next_cursor"]
    assert cursor
    stolen = await api.client.get("/v1/jobs", params={"cursor": cursor}, headers=bob)
    assert stolen.status_code == 400
    assert stolen.json()["error"]["code"] == "invalid_cursor"
    assert stolen.json()["error"]["field"] == "cursor"
