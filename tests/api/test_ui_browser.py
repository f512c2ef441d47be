"""The pages in a real browser: headless Chromium (the distribution's package) driven by Selenium,
against uvicorn on 127.0.0.1 serving the session's demo app. Screenshots land in the pytest tmp dir."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from dataclasses import replace

import pytest

from helpers.service import app_over, copy_store

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install '.[dev]')")
from selenium.webdriver.common.by import By  # noqa: E402 - only once importorskip found selenium
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402 - only once importorskip found selenium

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM and DRIVER), reason="needs the chromium and chromium-driver packages (.ci/run installs them)"
    ),
]


@pytest.fixture(scope="module")
def service(shared_service, tmp_path_factory):
    """This module's own copy of the session store (same models and keys): its reviews stay here."""
    url = copy_store(shared_service, tmp_path_factory.mktemp("ui-browser") / "perfml.db")
    with app_over(shared_service, url, warm=False) as (app, client):
        yield replace(shared_service, app=app, client=client)


@pytest.fixture(scope="module")
def server(service):
    """uvicorn on a free loopback port, serving the already started app (its lifespan ran in the fixture)."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(service.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = tmp_path_factory.mktemp("screenshots")
    print(f"\nscreenshots: {folder}")
    return folder


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1200,1600",
        "--lang=en-US",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def click_and_load(driver, element_id: str) -> None:
    """Click a submit button and wait until the next page has replaced this one."""
    from selenium.webdriver.support import expected_conditions as EC

    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, element_id).click()
    WebDriverWait(driver, 20).until(EC.staleness_of(old))


def sign_in(driver, server: str, key: str) -> None:
    driver.get(f"{server}/ui/sign-in")
    driver.find_element(By.ID, "key").send_keys(key)
    click_and_load(driver, "sign-in")


def shot(driver, folder, name: str) -> None:
    """A full-page screenshot (the window grows to the page's height)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1200, min(max(height, 800), 6000))
    driver.save_screenshot(str(folder / f"{name}.png"))


def test_manager_reviews_an_alert_of_their_team(service, server, browser, shots):
    sign_in(browser, server, service.keys["manager_a"])
    assert browser.current_url.endswith("/ui/alerts")
    teams = {row.get_attribute("data-team") for row in browser.find_elements(By.CSS_SELECTOR, "#alerts tbody tr")}
    assert teams == {service.team_a}
    shot(browser, shots, "1-inbox-manager")
    browser.get(f"{server}/ui/alerts?type=transfer_anomaly&status=open&sort=score")
    browser.get(browser.find_element(By.CSS_SELECTOR, "#alerts tbody tr td a").get_attribute("href"))
    alert_id = int(browser.current_url.rsplit("/", 1)[1])
    assert browser.find_elements(By.CSS_SELECTOR, "svg.waterfall rect")  # the chart is drawn
    reasons = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#reasons li")]
    assert reasons and all(re.search(r"\([+-]\d+\.\d points\)$", r) for r in reasons)
    assert browser.find_element(By.ID, "status").text == "open"
    shot(browser, shots, "2-alert-detail")
    browser.find_element(By.ID, "decision-confirm").click()
    browser.find_element(By.ID, "note").send_keys("checked with the customer: a parked deal")
    click_and_load(browser, "save-review")
    assert browser.find_element(By.ID, "status").text == "confirmed"
    assert "checked with the customer" in browser.find_element(By.ID, "reviews").text
    shot(browser, shots, "3-alert-confirmed")
    api = service.client.get(f"/v1/alerts/{alert_id}", headers=service.h("manager_a")).json()
    assert api["status"] == "confirmed" and api["reviews"][-1]["decision"] == "confirm"
    other = service.client.get(
        "/v1/alerts", params={"team_id": service.team_b, "limit": 1}, headers=service.h("admin")
    ).json()["items"][0]["id"]
    browser.get(f"{server}/ui/alerts/{other}")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
    browser.get(f"{server}/ui/team")
    assert browser.find_element(By.ID, "team").text == service.team_a
    assert browser.find_elements(By.CSS_SELECTOR, "#members tbody tr")
    shot(browser, shots, "4-team")


def test_language_switch_changes_summary_and_reasons(service, server, browser, shots):
    sign_in(browser, server, service.keys["manager_a"])
    browser.get(f"{server}/ui/alerts?type=transfer_anomaly")
    browser.get(browser.find_element(By.CSS_SELECTOR, "#alerts tbody tr td a").get_attribute("href"))
    en_summary = browser.find_element(By.ID, "summary").text
    en_reasons = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#reasons li")]
    click_and_load(browser, "lang-switch")
    zh_summary = browser.find_element(By.ID, "summary").text
    zh_reasons = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#reasons li")]
    assert zh_summary != en_summary and "客户归属变更" in zh_summary
    assert len(zh_reasons) == len(en_reasons) and zh_reasons != en_reasons
    shot(browser, shots, "5-alert-zh")
    click_and_load(browser, "lang-switch")
    assert browser.find_element(By.ID, "summary").text == en_summary


def test_employee_sees_own_payout_and_not_another(service, server, browser, shots):
    sign_in(browser, server, service.keys["employee_a"])
    assert browser.current_url.endswith(f"/ui/payout/{service.employee_a}")
    assert browser.find_element(By.ID, "person").text == service.employee_a
    assert browser.find_elements(By.CSS_SELECTOR, "#trace tbody tr")
    shot(browser, shots, "6-payout-employee")
    browser.get(f"{server}/ui/payout/{service.employee_b}")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
    shot(browser, shots, "7-payout-other-404")


def test_admin_models_page(service, server, browser, shots):
    sign_in(browser, server, service.keys["admin"])
    browser.get(f"{server}/ui/models")
    assert len(browser.find_elements(By.CSS_SELECTOR, "section.model")) == 3
    images = browser.find_elements(By.CSS_SELECTOR, "details[open] .images img")
    assert images and all(browser.execute_script("return arguments[0].naturalWidth", i) > 0 for i in images[:3])
    shot(browser, shots, "8-models")


def test_a_form_post_without_the_token_is_refused(service, server, browser, shots):
    sign_in(browser, server, service.keys["manager_a"])
    alert_id = service.client.get(
        "/v1/alerts", params={"limit": 1, "status": "open"}, headers=service.h("manager_a")
    ).json()["items"][0]["id"]
    browser.get(f"{server}/ui/alerts/{alert_id}")
    browser.execute_script("document.querySelector('form[action$=\"/review\"] input[name=csrf]').remove()")
    browser.find_element(By.ID, "decision-dismiss").click()
    browser.find_element(By.ID, "note").send_keys("no token")
    click_and_load(browser, "save-review")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Refused"
    shot(browser, shots, "9-csrf-refused")
    api = service.client.get(f"/v1/alerts/{alert_id}", headers=service.h("manager_a")).json()
    assert api["status"] == "open"
