"""The web page in a real browser (Debian's headless Chromium driven by Selenium through
Debian's chromedriver; nothing is downloaded at run time), against the real service processes
on moto: sign in with the one-time link, a bad field shows the API's message next to it,
submit a prompt and watch it reach completed without a reload, the player reports the video's
duration and plays, the download link serves the video, a second user cannot see the job, the
phone-size viewport has no sideways scrolling, and the browser console has no errors.

Screenshots of every page go to the test's tmp dir, and to `out/screenshots/` when
OMNIGEN_SCREENSHOTS is set."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select

from omnigen.testing import upload_samples as samples
from omnigen.testing.browser import (
    Shots,
    chromium,
    console_errors,
    text_of,
    unlabelled_controls,
    wait_for,
)
from omnigen.testing.e2e import running_pipeline
from omnigen.testing.fixtures import Stack

PROMPT = "A lighthouse keeper's last night on a stormy island, told in three calm scenes"
EDITED = "The keeper lights the lamp one last time."
NEW_PICTURE = "A winter storm breaks over the old lighthouse lamp at dusk, waves on the rocks"
PHONE = (390, 844)
# how many scene pictures the job page shows, once each has loaded (null until then)
PICTURES_SHOWN = (
    "const p = [...document.querySelectorAll('.scenes .scene-picture:not(.empty)')];"
    "const loaded = (e) => e.tagName === 'IMG' ? e.complete && e.naturalWidth > 0"
    " : e.readyState >= 1 && e.videoWidth > 0 && !e.error;"
    "return p.length && p.every(loaded) ? p.length : null"
)
DESKTOP = (1280, 900)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    with chromium(tmp_path / "chromium-profile", DESKTOP) as driver:
        yield driver


def heading(driver: WebDriver) -> str:
    return text_of(driver, "main h1")


async def test_the_web_page_makes_watches_plays_and_downloads_a_video(
    moto_stack: Stack, tmp_path: Path, browser: webdriver.Chrome
) -> None:
    shots = Shots(browser, tmp_path / "screenshots")
    async with running_pipeline(moto_stack, tmp_path / "stack") as pipeline:
        base = pipeline.api_url
        # the page itself: public, same origin, strict CSP, no sniffing
        async with httpx.AsyncClient(base_url=base, timeout=30) as anonymous:
            page = await anonymous.get("/")
            assert page.status_code == 200
            csp = page.headers["content-security-policy"]
            assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert "'unsafe-inline'" not in csp
            assert page.headers["x-content-type-options"] == "nosniff"
            assert '<script type="module" src="/web/app.js">' in page.text
            script = await anonymous.get("/web/app.js")
            assert script.status_code == 200
            assert script.headers["content-type"].startswith("text/javascript")
            assert (await anonymous.get("/web/../settings.py")).status_code == 404

        # sign in with the one-time link; the code leaves the address bar
        link = pipeline.signin_link("web-user")
        code = link.split("#signin=", 1)[1]
        browser.get(link)
        wait_for(browser, lambda d: heading(d) == "My videos")
        assert "signin" not in browser.current_url
        shots.take("01-my-videos-empty")
        # a reload keeps the user signed in (the tab's one-time resume code), on the same page
        browser.refresh()
        wait_for(browser, lambda d: heading(d) == "My videos")
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#jobs li.muted"))
        assert browser.find_element(By.ID, "signout").is_displayed()
        async with httpx.AsyncClient(base_url=base, timeout=30) as anonymous:
            again = await anonymous.post("/v1/auth/signin", json={"code": code})
            assert again.status_code == 400, again.text
            assert again.json()["error"]["field"] == "code"
            as_bearer = await anonymous.get("/v1/jobs", headers={"Authorization": f"Bearer {code}"})
            assert as_bearer.status_code == 401

        # a bad field: the API's message next to it, nothing created
        browser.get(f"{base}/#/new")  # same document: only the hash changes
        wait_for(browser, lambda d: heading(d) == "New video")
        browser.execute_script("window.__sameDocument = true")
        prompt = browser.find_element(By.ID, "prompt")
        prompt.send_keys("too short")
        browser.find_element(By.ID, "submit").click()
        message = wait_for(browser, lambda d: d.find_element(By.ID, "prompt-error").text)
        assert message == "prompt: String should have at least 10 characters, not 9", message
        assert browser.find_element(By.ID, "prompt").get_attribute("aria-invalid") == "true"
        shots.take("02-new-video-bad-field")
        assert unlabelled_controls(browser) == []
        headers = {"Authorization": f"Bearer {pipeline.mint_token('web-user')}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as owner:
            assert (await owner.get("/v1/jobs")).json()["jobs"] == []

        # a good request with options, by keyboard-reachable controls
        prompt.clear()
        prompt.send_keys(PROMPT)
        # editing the field takes its message away
        assert browser.find_element(By.ID, "prompt-error").text == ""
        assert browser.find_element(By.ID, "prompt").get_attribute("aria-invalid") is None
        duration = browser.find_element(By.ID, "duration")
        duration.clear()
        duration.send_keys("10")
        Select(browser.find_element(By.ID, "captions_mode")).select_by_value("both")
        Select(browser.find_element(By.ID, "style")).select_by_value("cinematic")
        # keyframes: every scene's picture is drawn first, and the page shows them as they come
        Select(browser.find_element(By.ID, "continuity")).select_by_value("keyframes")
        browser.find_element(By.ID, "title").send_keys("Lighthouse")
        browser.find_element(By.ID, "review").click()  # review the script before it renders
        shots.take("03-new-video-filled")
        browser.find_element(By.ID, "submit").click()
        wait_for(browser, lambda d: "#/job/" in d.current_url)
        job_id = re.search(r"#/job/([0-9a-f]{32})", browser.current_url)
        assert job_id is not None

        # the script waits for review: edit scene 1's narration, save (If-Match), render
        narration = wait_for(
            browser, lambda d: d.find_elements(By.ID, "script-scenes-0-narration"), timeout=60
        )[0]
        shots.take("04-video-review")
        assert unlabelled_controls(browser) == []
        narration.clear()
        narration.send_keys(EDITED)
        browser.find_element(By.CSS_SELECTOR, "#review button[type=submit]").click()
        wait_for(browser, lambda d: not d.find_elements(By.ID, "script-scenes-0-narration"))
        shots.take("05-video-in-progress")
        try:
            wait_for(
                browser,
                lambda d: text_of(d, "#job-status") in ("completed", "failed"),
                timeout=240,
            )
        except TimeoutException:
            shots.take("05-video-stuck")
            raise
        assert text_of(browser, "#job-status") == "completed", text_of(browser, "#job-view")
        assert browser.execute_script("return window.__sameDocument === true"), "page reloaded"

        # the player reports the duration and plays
        duration_s = wait_for(
            browser,
            lambda d: d.execute_script(
                "const v = document.getElementById('player');"
                "return v && v.readyState >= 1 && isFinite(v.duration) ? v.duration : null"
            ),
        )
        assert 8.0 <= duration_s <= 12.5, duration_s
        browser.execute_script(
            "const v = document.getElementById('player'); v.muted = true; v.play()"
        )
        wait_for(
            browser,
            lambda d: d.execute_script(
                "const v = document.getElementById('player');return v.currentTime > 0.3 && !v.error"
            ),
        )
        browser.execute_script("document.getElementById('player').pause()")
        shots.take("06-video-completed")

        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as owner:
            job = (await owner.get(f"/v1/jobs/{job_id[1]}")).json()
        assert job["scenes"][0]["narration"] == EDITED
        assert job["options"]["style"] == "cinematic" and job["title"] == "Lighthouse"
        assert job["options"]["continuity"] == "keyframes"

        # every scene's picture, shown as the keyframes were drawn (images)
        total = job["render"]["scenes_total"]
        assert [s["picture_kind"] for s in job["render"]["scenes"]] == ["image"] * total
        shown = wait_for(browser, lambda d: d.execute_script(PICTURES_SHOWN))
        assert shown == total, f"{shown} scene pictures for {total} scenes"
        kinds = browser.execute_script(
            "return [...document.querySelectorAll('.scenes .scene-picture')].map(e => e.tagName)"
        )
        assert kinds == ["IMG"] * total, kinds
        before = {
            s["scene_number"]: s["picture_url"].split("?", 1)[0] for s in job["render"]["scenes"]
        }

        # the download links serve the video and the captions
        href = str(browser.find_element(By.ID, "download-video").get_attribute("href"))
        srt = str(browser.find_element(By.ID, "download-srt").get_attribute("href"))
        async with httpx.AsyncClient(timeout=60) as plain:
            video = await plain.get(href)
            assert video.status_code == 200
            assert video.content[4:8] == b"ftyp"
            captions = await plain.get(srt)
            assert captions.status_code == 200 and "-->" in captions.text

        # regenerate scene 2: a bad length shows the API's 422 next to the field, nothing made
        Select(browser.find_element(By.ID, "regen-scene")).select_by_value("2")
        seconds = browser.find_element(By.ID, "regen-duration")
        seconds.clear()
        seconds.send_keys("0")
        browser.find_element(By.CSS_SELECTOR, "#regenerate button[type=submit]").click()
        message = wait_for(browser, lambda d: d.find_element(By.ID, "regen-duration-error").text)
        assert message.startswith("duration:") and "greater than 0" in message, message
        seconds.clear()
        seconds.send_keys(str(job["scenes"][1]["duration"]))
        # then with a new picture and a shot of its own: version 2 plays, version 1 stays
        move = "handheld" if job["scenes"][1]["camera_move"] != "handheld" else "static"
        Select(browser.find_element(By.ID, "regen-camera_move")).select_by_value(move)
        picture = browser.find_element(By.ID, "regen-generation_prompt")
        picture.clear()
        picture.send_keys(NEW_PICTURE)
        browser.find_element(By.CSS_SELECTOR, "#regenerate button[type=submit]").click()
        wait_for(browser, lambda d: "version 2" in text_of(d, "#job-view section"))
        wait_for(
            browser,
            lambda d: text_of(d, "#job-status") == "completed" and d.find_elements(By.ID, "player"),
            timeout=240,
        )
        old = wait_for(
            browser,
            lambda d: d.find_elements(By.CSS_SELECTOR, "a[aria-label='Download version 1']"),
        )[0]
        assert "v2 (newest)" in text_of(browser, "section[aria-label=versions]")
        shots.take("07-video-version-2")
        assert unlabelled_controls(browser) == []
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as owner:
            regenerated = (await owner.get(f"/v1/jobs/{job_id[1]}")).json()
        assert regenerated["scenes"][1]["camera_move"] == move
        assert regenerated["versions"][-1]["changes"]["camera_move"] == move
        assert regenerated["scenes"][1]["generation_prompt"] == NEW_PICTURE
        # a new picture is a new keyframe for scene 2 alone; the other scenes keep theirs
        assert regenerated["versions"][-1]["keyframes_redrawn"] == [2]
        after = {
            s["scene_number"]: s["picture_url"].split("?", 1)[0]
            for s in regenerated["render"]["scenes"]
        }
        assert after[2] != before[2]
        assert all(after[n] == before[n] for n in before if n != 2), (before, after)
        async with httpx.AsyncClient(timeout=60) as plain:
            first = await plain.get(str(old.get_attribute("href")))
            assert first.status_code == 200 and first.content == video.content
        assert browser.execute_script("return window.__sameDocument === true"), "page reloaded"

        # my videos lists it, with its poster
        browser.get(f"{base}/#/videos")
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"[data-job='{job_id[1]}']"))
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "img.thumb"))
        shots.take("08-my-videos")
        assert unlabelled_controls(browser) == []

        # phone width: no sideways scrolling on the list and the video page
        browser.set_window_size(*PHONE)
        for name, route in (
            ("09-phone-my-videos", "#/videos"),
            ("10-phone-video", f"#/job/{job_id[1]}"),
            ("11-phone-new", "#/new"),
        ):
            browser.get(f"{base}/{route}")
            wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "main h1"))
            time.sleep(0.5)
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"{route} scrolls sideways by {overflow}px at phone width"
            shots.take(name)
        browser.set_window_size(*DESKTOP)

        # a second user cannot see the first user's job
        browser.get(pipeline.signin_link("other-user"))
        wait_for(browser, lambda d: heading(d) == "My videos")
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#jobs li.muted"))
        assert not browser.find_elements(By.CSS_SELECTOR, f"[data-job='{job_id[1]}']")
        browser.get(f"{base}/#/job/{job_id[1]}")
        alert = wait_for(browser, lambda d: text_of(d, "#job-view .error"))
        assert "not found" in alert.lower(), alert
        assert not browser.find_elements(By.ID, "player")
        shots.take("12-other-user-denied")

        refused = "- Failed to load resource: the server responded with a status of"
        # the browser logs the refusals this test provoked (the 422, the other user's 404)
        expected = [
            f"/v1/jobs {refused} 422",
            f"/v1/jobs/{job_id[1]}/scenes/2/regenerate {refused} 422",
            f"/v1/jobs/{job_id[1]} {refused} 404",
        ]
        errors = console_errors(browser, expected)
        assert errors == [], errors


async def test_the_web_page_uploads_photos_and_makes_a_video_of_them(
    moto_stack: Stack, tmp_path: Path, browser: webdriver.Chrome
) -> None:
    """Two generated JPEGs and a text file named .jpg through the page's file input: each goes
    to storage by its presigned POST (cross-origin, from the browser), the page follows them to
    ready (the text file to rejected, with the reason), two scenes of a script of one's own show
    the photos, the job completes; then one upload is deleted."""
    shots = Shots(browser, tmp_path / "screenshots")
    photos = [samples.photo(tmp_path / f"photo-{i}.jpg", 1280, 720, seed=i) for i in range(2)]
    fake = tmp_path / "notes.jpg"
    fake.write_text("a text file renamed .jpg\n" * 40)
    async with running_pipeline(moto_stack, tmp_path / "stack") as pipeline:
        base = pipeline.api_url
        browser.get(pipeline.signin_link("web-uploader"))
        wait_for(browser, lambda d: heading(d) == "My videos")
        browser.get(f"{base}/#/new")
        wait_for(browser, lambda d: heading(d) == "New video")
        files = browser.find_element(By.ID, "upload-files")
        files.send_keys("\n".join(str(p) for p in [*photos, fake]))
        try:
            wait_for(
                browser,
                lambda d: (
                    sorted(
                        e.text for e in d.find_elements(By.CSS_SELECTOR, "#uploads [data-status]")
                    )
                    == ["ready", "ready", "rejected"]
                ),
                timeout=90,
            )
        except TimeoutException:
            shots.take("20-uploads-stuck")
            raise
        shots.take("20-uploads-ready")
        assert unlabelled_controls(browser) == []
        ids = [
            str(row.get_attribute("data-upload"))
            for row in browser.find_elements(By.CSS_SELECTOR, "#uploads li")
        ]
        assert all(i.startswith("up_") for i in ids), ids
        assert "the file is not a readable JPEG" in text_of(browser, "#uploads"), text_of(
            browser, "#uploads"
        )
        # only ready uploads are offered (the pickers refresh just after the list does)
        wanted = ["(none)", "photo-0.jpg (image)", "photo-1.jpg (image)"]
        try:
            wait_for(
                browser,
                lambda d: (
                    sorted(o.text for o in d.find_elements(By.CSS_SELECTOR, "#start_image option"))
                    == wanted
                ),
            )
        except TimeoutException:
            offered = [
                o.text for o in browser.find_elements(By.CSS_SELECTOR, "#start_image option")
            ]
            raise AssertionError(f"offered {offered}, not {wanted}") from None

        browser.find_element(By.ID, "own-script").click()
        browser.find_element(By.ID, "script-title").send_keys("By the sea")
        browser.find_element(By.ID, "add-scene").click()
        for i, photo in enumerate(photos):
            browser.find_element(By.ID, f"script-scenes-{i}-narration").send_keys(
                f"Our photo number {i + 1}, by the sea."
            )
            browser.find_element(By.ID, f"script-scenes-{i}-duration").clear()
            browser.find_element(By.ID, f"script-scenes-{i}-duration").send_keys("5")
            Select(browser.find_element(By.ID, f"script-scenes-{i}-media")).select_by_visible_text(
                f"{photo.name} (image)"
            )
        # scene 1's shot: the fields fold away under a summary (keyboard: Enter opens it)
        browser.find_element(By.CSS_SELECTOR, "[data-scene] details.shot summary").send_keys(
            Keys.ENTER
        )
        Select(browser.find_element(By.ID, "script-scenes-0-camera_move")).select_by_value(
            "pan_left"
        )
        Select(browser.find_element(By.ID, "script-scenes-0-lighting")).select_by_value(
            "golden_hour"
        )
        browser.find_element(By.ID, "script-scenes-0-location").send_keys("A pebble beach")
        Select(browser.find_element(By.ID, "continuity")).select_by_value("none")
        Select(browser.find_element(By.ID, "captions_mode")).select_by_value("none")
        shots.take("21-new-video-with-uploads")
        browser.find_element(By.ID, "submit").click()
        try:
            wait_for(browser, lambda d: "#/job/" in d.current_url)
        except TimeoutException:
            errors = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".error") if e.text]
            raise AssertionError(f"not submitted: {errors}") from None
        job_id = re.search(r"#/job/([0-9a-f]{32})", browser.current_url)
        assert job_id is not None
        try:
            wait_for(
                browser,
                lambda d: text_of(d, "#job-status") in ("completed", "failed"),
                timeout=240,
            )
        except TimeoutException:
            shots.take("22-video-stuck")
            raise
        assert text_of(browser, "#job-status") == "completed", text_of(browser, "#job-view")
        assert wait_for(browser, lambda d: d.execute_script(PICTURES_SHOWN)) == 2
        shots.take("22-video-of-uploads")
        headers = {"Authorization": f"Bearer {pipeline.mint_token('web-uploader')}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as owner:
            job = (await owner.get(f"/v1/jobs/{job_id[1]}")).json()
            by_name = {
                u["filename"]: u["id"] for u in (await owner.get("/v1/uploads")).json()["uploads"]
            }
        # the API does not echo a scene's media; the page describes a scene it fills with an
        # upload by that upload (only when the scene has one), and the API checked the ids
        assert [s["generation_prompt"] for s in job["scenes"]] == [
            f"The user's own image {p.name}, shown full frame as the picture of this scene"
            for p in photos
        ]
        assert set(by_name) == {p.name for p in [*photos, fake]}
        assert job["options"]["continuity"] == "none"
        first_scene = job["scenes"][0]
        assert (first_scene["camera_move"], first_scene["lighting"]) == ("pan_left", "golden_hour")
        assert first_scene["location"] == "A pebble beach"
        assert job["scenes"][1]["camera_move"] == "dolly_in"  # the default, left alone

        # my uploads: delete one
        browser.get(f"{base}/#/new")
        wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#uploads li")) == 3)
        first = by_name[photos[0].name]

        def delete_first(d: WebDriver) -> bool:
            try:  # the list is drawn again as the page learns of the uploads
                d.find_element(By.CSS_SELECTOR, f"[data-upload='{first}'] button").click()
            except StaleElementReferenceException:
                return False
            return True

        wait_for(browser, delete_first)
        wait_for(browser, expected_conditions.alert_is_present()).accept()
        wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#uploads li")) == 2)
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as owner:
            assert (await owner.get(f"/v1/uploads/{first}")).status_code == 404
        shots.take("23-upload-deleted")
        assert console_errors(browser, []) == []
