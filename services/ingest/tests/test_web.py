"""The web page ingest serves at `/` (public, same origin as the API, a strict CSP that names
only the storage origin of presigned links besides its own) and the local sign-in: a one-time
code is exchanged once for an access token, and is never itself accepted as a bearer token."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path
from typing import Any

import jwt
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from omnigen.cli.tokens import mint_signin_code
from omnigen.testing.browser import Shots, chromium, console_errors, text_of, wait_for
from omnigen.testing.fake_idp import FakeHostedSignIn

from .helpers import HS_SECRET, Api, ApiFactory, hs_token


def signin_code(user_id: str, *, secret: str = HS_SECRET, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "sub": user_id,
        "iat": now,
        "exp": now + 600,
        "jti": secrets.token_urlsafe(8),
        "token_use": "signin",
        **claims,
    }
    return jwt.encode(payload, secret, algorithm="HS256")


async def test_the_page_is_public_with_a_strict_policy_naming_the_storage_origin(
    api: Api,
) -> None:
    page = await api.client.get("/")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp
    storage = api.stack.settings.endpoint_url
    assert directives["media-src"] == f"'self' {storage}"
    assert directives["connect-src"] == f"'self' {storage}"  # uploads' presigned POSTs
    assert page.headers["x-content-type-options"] == "nosniff"
    assert '<script type="module" src="/web/app.js"></script>' in page.text
    assert "<script>" not in page.text and " on" not in page.text.split("<body>")[1].split(">")[0]


async def test_the_static_files_are_served_and_nothing_else_under_web(api: Api) -> None:
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
        response = await api.client.get(f"/web/{name}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(kind)
        assert response.headers["x-content-type-options"] == "nosniff"
    for path in ("/web/index.py", "/web/..%2Fsignin.py", "/web/%2e%2e/auth.py"):
        missing = await api.client.get(path)
        assert missing.status_code == 404, path
        assert missing.json()["error"]["code"] == "not_found"


async def test_a_signin_code_is_exchanged_once_for_a_working_token(api: Api) -> None:
    user = api.user_id("walt")
    code = mint_signin_code(HS_SECRET, user)

    first = await api.client.post("/v1/auth/signin", json={"code": code})
    again = await api.client.post("/v1/auth/signin", json={"code": code})

    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["user_id"] == user and answer["token_type"] == "Bearer"
    assert answer["expires_in"] > 0
    mine = await api.client.get(
        "/v1/jobs", headers={"Authorization": f"Bearer {answer['access_token']}"}
    )
    assert mine.status_code == 200
    assert again.status_code == 400
    assert again.json()["error"] | {"request_id": None} == {
        "code": "invalid_signin_code",
        "message": "this sign-in code was already used; start again for a new one",
        "field": "code",
        "request_id": None,
    }


async def test_each_exchange_answers_a_fresh_resume_code_that_works_once(api: Api) -> None:
    """The page keeps the resume code in its tab's storage for a reload: a sign-in code like
    the link's (once, minutes long, no bearer token), and its exchange answers the next one."""
    user = api.user_id("walt")
    answer = (
        await api.client.post("/v1/auth/signin", json={"code": mint_signin_code(HS_SECRET, user)})
    ).json()
    resume = answer["resume_code"]
    claims = jwt.decode(resume, HS_SECRET, algorithms=["HS256"], options={"verify_aud": False})
    assert claims["token_use"] == "signin" and claims["sub"] == user
    assert claims["exp"] - claims["iat"] == 600
    as_bearer = await api.client.get("/v1/jobs", headers={"Authorization": f"Bearer {resume}"})
    assert as_bearer.status_code == 401

    resumed = await api.client.post("/v1/auth/signin", json={"code": resume})
    again = await api.client.post("/v1/auth/signin", json={"code": resume})

    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["user_id"] == user
    assert resumed.json()["resume_code"] not in (resume, answer["resume_code"])
    token = resumed.json()["access_token"]
    mine = await api.client.get("/v1/jobs", headers={"Authorization": f"Bearer {token}"})
    assert mine.status_code == 200
    assert again.status_code == 400 and "already used" in again.json()["error"]["message"]


async def test_a_reload_keeps_the_user_signed_in_on_the_local_stack(
    api: Api, tmp_path: Path
) -> None:
    """Debian's headless Chromium: signed in with the link, a reload of the new-video page
    comes back to it signed in (the tab's resume code, exchanged once); storage never holds
    an access token, and the code the reload used is spent."""
    link = f"{api.url}/#signin={mint_signin_code(HS_SECRET, api.user_id('rae'))}"

    before, after = await asyncio.to_thread(reload_signed_in, link, tmp_path)

    for code in (before, after):
        bearer = {"Authorization": f"Bearer {code}"}
        assert (await api.client.get("/v1/jobs", headers=bearer)).status_code == 401
    spent = await api.client.post("/v1/auth/signin", json={"code": before})
    assert spent.status_code == 400 and "already used" in spent.json()["error"]["message"]


def reload_signed_in(link: str, tmp_path: Path) -> tuple[str, str]:
    with chromium(tmp_path / "profile", (1024, 768)) as browser:
        shots = Shots(browser, tmp_path / "screenshots")
        browser.get(link)
        wait_for(browser, lambda d: text_of(d, "main h1") == "My videos")
        browser.get(link.split("#")[0] + "#/new")
        wait_for(browser, lambda d: text_of(d, "main h1") == "New video")
        stored = browser.execute_script("return Object.keys(sessionStorage)")
        assert stored == ["omnigen.resume"], stored
        before = str(browser.execute_script("return sessionStorage.getItem('omnigen.resume')"))
        for _ in range(2):
            browser.refresh()
            wait_for(browser, lambda d: text_of(d, "main h1") == "New video")
            wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#voice option"))
        assert browser.current_url.endswith("/#/new")
        assert not browser.find_element(By.ID, "nav").get_attribute("hidden")
        shots.take("45-new-video-after-reload")
        after = str(browser.execute_script("return sessionStorage.getItem('omnigen.resume')"))
        # signing out forgets it: a reload then shows the sign-in page
        browser.find_element(By.ID, "signout").click()
        wait_for(browser, lambda d: text_of(d, "main h1") == "Sign in")
        assert browser.execute_script("return sessionStorage.length") == 0
        browser.refresh()
        wait_for(browser, lambda d: text_of(d, "main h1") == "Sign in")
        assert console_errors(browser, []) == []
        return before, after


async def test_a_signin_code_is_not_a_bearer_token(api: Api) -> None:
    response = await api.client.get(
        "/v1/jobs", headers={"Authorization": f"Bearer {signin_code('walt')}"}
    )

    assert response.status_code == 401
    assert "sign-in code" in response.json()["error"]["message"]


async def test_bad_codes_are_refused_naming_the_field(api: Api) -> None:
    now = int(time.time())
    cases = {
        "expired": signin_code("walt", iat=now - 700, exp=now - 100),
        "not a valid": signin_code("walt", secret="another-secret-0123456789abcdef-xyz"),
        "lives too long": signin_code("walt", exp=now + 3600),
        "not a sign-in code": hs_token("walt", iat=now, jti="x"),
        "not a valid ": "garbage",
    }
    for reason, code in cases.items():
        response = await api.client.post("/v1/auth/signin", json={"code": code})
        assert response.status_code == 400, reason
        error = response.json()["error"]
        assert error["field"] == "code" and reason.strip() in error["message"], error
    empty = await api.client.post("/v1/auth/signin", json={"code": ""})
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "code"


async def test_with_an_identity_provider_there_is_no_local_signin(make_api: ApiFactory) -> None:
    api = await make_api(
        auth_jwks_url="http://127.0.0.1:9/.well-known/jwks.json",
        auth_issuer="https://issuer.example",
        auth_audience="omnigen",
        auth_hs256_secret=None,
    )

    response = await api.client.post(
        "/v1/auth/signin", json={"code": mint_signin_code(HS_SECRET, "walt")}
    )

    assert response.status_code == 404
    assert response.json()["error"]["field"] == "code"
    assert (await api.client.get("/")).status_code == 200


async def test_the_config_names_the_hosted_signin_and_the_page_may_reach_it(
    make_api: ApiFactory,
) -> None:
    api = await make_api(auth_signin_url="https://idp.example", auth_client_id="web-client")

    config = (await api.client.get("/v1/auth/config")).json()
    csp = (await api.client.get("/")).headers["content-security-policy"]

    assert config == {
        "local_signin": True,
        "hosted": {
            "authorize_url": "https://idp.example/oauth2/authorize",
            "token_url": "https://idp.example/oauth2/token",
            "client_id": "web-client",
            "scope": "openid",
        },
    }
    connect = dict(part.strip().split(" ", 1) for part in csp.split(";"))["connect-src"]
    assert connect.startswith("'self' ") and connect.endswith(" https://idp.example"), connect


async def test_hosted_signin_with_pkce_in_a_real_browser(
    make_api: ApiFactory, tmp_path: Path
) -> None:
    """Debian's headless Chromium: the page's Sign in goes to the identity provider with an
    S256 challenge, comes back with a code, exchanges it with the verifier at the token
    endpoint, and calls the API with the ID token; the code leaves the address bar."""
    with FakeHostedSignIn(client_id="web-client", user="hosted-alice") as idp:
        api = await make_api(
            auth_jwks_url=idp.jwks_url,
            auth_issuer=idp.origin,
            auth_audience="web-client",
            auth_hs256_secret=None,
            auth_signin_url=idp.origin,
            auth_client_id="web-client",
        )
        # the app serves from this event loop: the blocking browser runs in a thread
        await asyncio.to_thread(sign_in_through_the_browser, api.url, tmp_path)
        first, after_reload = idp.token_requests
        for exchange in (first, after_reload):
            assert exchange["grant_type"] == "authorization_code"
            assert len(exchange["code_verifier"]) >= 43
        assert first["code_verifier"] != after_reload["code_verifier"]


async def test_an_ended_hosted_token_signs_in_again_and_comes_back(
    make_api: ApiFactory, tmp_path: Path
) -> None:
    """The ID token ends (here after 12 s, no clock leeway): the API's 401 sends the page
    through the hosted sign-in again (silent: the provider's session) and back to the page
    the user asked for, instead of signing out."""
    with FakeHostedSignIn(client_id="web-client", user="hosted-bo", token_ttl_s=12) as idp:
        api = await make_api(
            auth_jwks_url=idp.jwks_url,
            auth_issuer=idp.origin,
            auth_audience="web-client",
            auth_hs256_secret=None,
            auth_signin_url=idp.origin,
            auth_client_id="web-client",
            auth_leeway_s=0.0,
        )
        await asyncio.to_thread(outlive_the_token, api.url, tmp_path)
        assert len(idp.token_requests) == 2


def outlive_the_token(url: str, tmp_path: Path) -> None:
    with chromium(tmp_path / "profile", (1024, 768)) as browser:
        browser.get(f"{url}/")
        wait_for(browser, lambda d: d.find_elements(By.ID, "hosted-signin"))[0].click()
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#jobs li"))
        time.sleep(13.5)  # the token has ended
        browser.get(f"{url}/#/new")  # the voices' request is refused: sign in again
        wait_for(
            browser, lambda d: d.current_url == f"{url}/#/new" and "state=" not in d.current_url
        )
        wait_for(browser, lambda d: text_of(d, "main h1") == "New video")
        wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#voice option")) > 1)
        refused = "the server responded with a status of 401"
        assert console_errors(browser, [refused]) == []


def sign_in_through_the_browser(url: str, tmp_path: Path) -> None:
    with chromium(tmp_path / "profile", (1024, 768)) as browser:
        shots = Shots(browser, tmp_path / "screenshots")
        browser.get(f"{url}/")
        button = wait_for(browser, lambda d: d.find_elements(By.ID, "hosted-signin"))[0]
        shots.take("20-hosted-signin")
        button.click()
        wait_for(browser, lambda d: text_of(d, "main h1") == "My videos")
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#jobs li"))
        assert "code=" not in browser.current_url and "state=" not in browser.current_url
        # no token in storage: only the mark that a reload signs in again
        stored = browser.execute_script("return Object.entries(sessionStorage)")
        assert stored == [["omnigen.hosted", "1"]], stored
        shots.take("21-hosted-signed-in")
        # a reload runs the hosted sign-in again (silent: the provider's session) and comes
        # back to the same page
        browser.get(f"{url}/#/new")
        wait_for(browser, lambda d: text_of(d, "main h1") == "New video")
        browser.refresh()
        wait_for(browser, lambda d: text_of(d, "main h1") == "New video")
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#voice option"))
        assert browser.current_url == f"{url}/#/new"
        shots.take("22-hosted-after-reload")
        assert console_errors(browser, []) == []


async def test_my_videos_pages_filters_cancels_and_deletes_in_a_real_browser(
    api: Api, tmp_path: Path
) -> None:
    """Twelve jobs (no workers run here: they stay pending): ten on the first page, two on the
    next; the status filter; Cancel fails a pending job "cancelled", Delete removes it."""
    for number in range(12):
        submitted = await api.submit("pat", prompt=f"Video {number:02d}: a lighthouse at dusk")
        assert submitted.status_code == 202, submitted.text
    link = f"{api.url}/#signin={mint_signin_code(HS_SECRET, api.user_id('pat'))}"

    await asyncio.to_thread(browse_my_videos, link, tmp_path)

    jobs = (await api.client.get("/v1/jobs?limit=100", headers=api.auth("pat"))).json()["jobs"]
    assert len(jobs) == 11
    assert not [job for job in jobs if job["prompt"].startswith("Video 11")]


def rows(driver: Any) -> list[str]:
    """The listed videos' names, e.g. "Video 11"."""
    names = driver.execute_script(
        "return [...document.querySelectorAll('#jobs li[data-job] a')].map(a => a.textContent)"
    )
    return [name.split(":")[0] for name in names]


def browse_my_videos(link: str, tmp_path: Path) -> None:
    with chromium(tmp_path / "profile", (1024, 768)) as browser:
        shots = Shots(browser, tmp_path / "screenshots")
        browser.get(link)
        wait_for(browser, lambda d: len(rows(d)) == 10)
        assert rows(browser)[0] == "Video 11"  # newest first
        shots.take("30-my-videos-page-1")
        browser.find_element(By.ID, "older").click()
        wait_for(browser, lambda d: rows(d) == ["Video 01", "Video 00"])
        browser.find_element(By.LINK_TEXT, "Newer").click()
        wait_for(browser, lambda d: len(rows(d)) == 10)

        # cancel the newest: it fails "cancelled" and the failed filter shows it
        browser.find_element(By.CSS_SELECTOR, "button[aria-label^='Cancel Video 11']").click()
        browser.switch_to.alert.accept()
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#jobs .badge.failed"))
        Select(browser.find_element(By.ID, "status-filter")).select_by_value("failed")
        wait_for(browser, lambda d: rows(d) == ["Video 11"])
        shots.take("31-my-videos-failed")

        # delete it (finished now): the failed list is empty
        browser.find_element(By.CSS_SELECTOR, "button[aria-label^='Delete Video 11']").click()
        browser.switch_to.alert.accept()
        wait_for(browser, lambda d: rows(d) == [] and d.find_elements(By.CSS_SELECTOR, "#jobs li"))
        assert console_errors(browser, []) == []


async def test_a_script_of_your_own_from_the_scene_editor_in_a_real_browser(
    api: Api, tmp_path: Path
) -> None:
    """The new-video page's scene editor: a bad scene field shows the API's message next to
    that scene's control; fixed, the job runs the given script (its length is the scenes')."""
    link = f"{api.url}/#signin={mint_signin_code(HS_SECRET, api.user_id('sam'))}"

    job_id = await asyncio.to_thread(write_a_script, link, tmp_path)

    job = (await api.client.get(f"/v1/jobs/{job_id}", headers=api.auth("sam"))).json()
    assert job["duration"] == 10
    stored = await (await api.stack.repository()).get_job(job_id)
    assert stored.given_script is not None
    assert [scene.narration for scene in stored.given_script.scenes] == [
        "The lamp is lit.",
        "Then night falls.",
    ]


def write_a_script(link: str, tmp_path: Path) -> str:
    with chromium(tmp_path / "profile", (1024, 768)) as browser:
        shots = Shots(browser, tmp_path / "screenshots")
        browser.get(link)
        wait_for(browser, lambda d: text_of(d, "main h1") == "My videos")
        browser.get(link.split("#")[0] + "#/new")
        wait_for(browser, lambda d: text_of(d, "main h1") == "New video")
        browser.find_element(By.ID, "own-script").click()
        browser.find_element(By.ID, "script-title").send_keys("The lamp")
        browser.find_element(By.ID, "script-scenes-0-narration").send_keys("The lamp is lit.")
        browser.find_element(By.ID, "script-scenes-0-generation_prompt").send_keys(
            "A lighthouse lamp glowing at dusk over a calm sea"
        )
        browser.find_element(By.ID, "add-scene").click()
        browser.find_element(By.ID, "script-scenes-1-narration").send_keys("Then night falls.")
        browser.find_element(By.ID, "script-scenes-1-generation_prompt").send_keys(
            "Dark waves under a starry sky beside the lighthouse"
        )
        seconds = browser.find_element(By.ID, "script-scenes-1-duration")
        seconds.clear()
        seconds.send_keys("0")
        browser.find_element(By.ID, "submit").click()
        message = wait_for(browser, lambda d: text_of(d, "#script-scenes-1-duration-error"))
        assert message.startswith("script.scenes[1].duration:"), message
        shots.take("40-new-video-script-bad-scene")
        seconds.clear()
        seconds.send_keys("5")
        browser.find_element(By.ID, "submit").click()
        wait_for(browser, lambda d: "#/job/" in d.current_url)
        refused = "Failed to load resource: the server responded with a status of 422"
        assert console_errors(browser, [refused]) == []
        return str(browser.current_url.rsplit("/", 1)[1])
