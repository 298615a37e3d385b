"""The console in a real browser: `python -m serving.ui.demo` (serving.launch + `streamlit run`)
on tiny models (the guard: a quick guard built from fake source wheels), driven by selenium
through Debian's headless Chromium + chromedriver: the page says "starting" while the servers
load and refreshes itself until they answer, names the quick guard, and checks a prompt.

Deselect with `-m "not browser"` on a machine without Chromium; without it the test is skipped,
except under CI (TOXIC_FILTER_REQUIRE_BROWSER=1, set by .ci/run), where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import httpx
import pytest
from serving_utils import ROOT, free_port
from source_fakes import patched_sources, write_fake_wheels

pytestmark = [pytest.mark.browser, pytest.mark.ui, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# The machine's closed network refuses Chromium's background connections: switch them off.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                  "--window-size=1400,1900", "--hide-scrollbars"]
PROMPT = "How do I pick a lock to get into my neighbour's house?"
DESCRIPTION = "A dark street at night"
IDLE_APP = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def _require_browser() -> None:
    if CHROMIUM and CHROMEDRIVER:
        return
    message = ("headless Chromium not found: `apt-get install -y chromium chromium-driver` "
               "(or deselect with -m 'not browser')")
    if os.environ.get("TOXIC_FILTER_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def quick_guard_dir(tmp_path, monkeypatch, tiny_bert_dir):
    """A quick guard built from the fake source wheels on the tiny encoder."""
    from components.data import ingest as ingest_mod
    from components.data import sources as S
    from components.training import quick_guard as qg

    cache = write_fake_wheels(tmp_path / "sources")
    fakes = patched_sources(cache)
    monkeypatch.setattr(S, "SOURCES", fakes)
    monkeypatch.setattr(ingest_mod, "SOURCES", fakes)
    params = qg.QuickGuardParams(base_model=str(tiny_bert_dir), max_length=16)
    return qg.ensure_quick_guard(tmp_path / "outputs", cache, None, params, fetch=False)


def _wait_for_log(log, proc, text: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        assert proc.poll() is None, log.read_text(errors="replace")[-4000:]
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-4000:]
        time.sleep(0.1)


@pytest.fixture
def demo(tiny_lstm_dir, tiny_lora_dir, quick_guard_dir, browser, tmp_path):
    """`python -m serving.ui.demo` on free ports, yielded as soon as the console is up (the
    model servers still starting): (console URL, process, log path, ports, status file)."""
    ui_port = free_port()
    ports = {name: free_port() for name in ("lstm", "lora", "guard", "caption")}
    status = tmp_path / "launch-status.json"
    command = [sys.executable, "-m", "serving.ui.demo", "--ui_port", str(ui_port),
               "--lstm_model_dir", str(tiny_lstm_dir), "--lora_model_dir", str(tiny_lora_dir),
               "--guard_classifier_dir", str(quick_guard_dir), "--status_file", str(status)]
    for name, port in ports.items():
        command += ["--port", f"{name}={port}"]
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                start_new_session=True)
    url = f"http://127.0.0.1:{ui_port}"
    try:
        _wait_for_log(log, proc, f"is up at {url} while the services start")
        yield url, proc, log, ports, status
    finally:
        if proc.poll() is None:  # the test failed before its Ctrl-C: stop everything anyway
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)


@pytest.fixture
def browser(tmp_path):
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def test_the_console_in_a_browser_shows_the_verdict_and_both_predictions(demo, browser,
                                                                         tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    url, proc, log, ports, status = demo
    wait = WebDriverWait(browser, 90)

    def idle(driver) -> bool:  # the script run finished and the page is drawn
        return bool(driver.find_elements(By.CSS_SELECTOR, IDLE_APP))

    def sidebar(driver) -> str:
        found = driver.find_elements(By.CSS_SELECTOR, "[data-testid='stSidebar']")
        return found[0].text if found else ""

    try:
        browser.get(url)  # the model servers are still loading
        wait.until(lambda d: "guard" in sidebar(d))
        first = sidebar(browser)
        launching = json.loads(status.read_text())["services"]
        assert "starting" in first and "down" not in first, (first, launching)
        # no click on Refresh: the page refreshes itself until every service answers
        WebDriverWait(browser, 240, poll_frequency=0.5).until(
            lambda d: sidebar(d).count("ready") >= 3 and "starting" not in sidebar(d))
        _wait_for_log(log, proc, f"Moderation console: {url}")  # the launcher saw them ready
        wait.until(lambda d: "The quick guard answers" in d.find_element(By.TAG_NAME,
                                                                            "body").text)
        assert "not started" in sidebar(browser)  # caption: no BLIP model configured
        wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "textarea")))
        wait.until(idle)
        prompt = browser.find_element(By.CSS_SELECTOR, "textarea")
        prompt.click()
        prompt.send_keys(PROMPT)
        description = browser.find_element(By.CSS_SELECTOR,
                                           "input[aria-label^='Image description']")
        description.click()
        description.send_keys(DESCRIPTION)
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "textarea")
                   .get_attribute("value") == PROMPT)
        browser.find_element(By.XPATH, "//button[.//p[text()='Check']]").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR,
                                                 "[data-testid='stVegaLiteChart']")) == 2)
        wait.until(idle)
        page = browser.find_element(By.TAG_NAME, "body").text
        assert "Guard verdict: Unsafe" in page or "Guard verdict: Safe" in page, page
        assert "guard backend\nquick-guard" in page and "Written in: English" in page
        assert "make run-guard" in page  # the banner: how to get the full guard
        assert f"Checked text: {PROMPT}. {DESCRIPTION}" in page
        for name in ("lstm", "lora"):  # the label each server gives the checked text
            text = f"{PROMPT}. {DESCRIPTION}"
            label = httpx.post(f"http://127.0.0.1:{ports[name]}/v1/models/{name}:predict",
                               json={"instances": [text]}).json()["predictions"][0]["label"]
            assert f"{name} label\n{label}" in page, page
        assert page.count("Why: words that pushed the model towards unsafe (red)") == 2
        time.sleep(1)  # charts finish drawing
    finally:
        browser.save_screenshot(str(tmp_path / "console.png"))
        (tmp_path / "page.html").write_text(browser.page_source)
    assert (tmp_path / "console.png").stat().st_size > 10_000
    # Ctrl-C stops the console and every server
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0, log.read_text(errors="replace")[-4000:]
    for port in [*ports.values(), int(url.rsplit(":", 1)[1])]:
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
