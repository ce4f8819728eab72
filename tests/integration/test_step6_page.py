"""DEMO.md step 6 in a real browser: the page follows each task, and its panel shows the pile-up.

Playwright's `expect` polls the page until the condition holds or its timeout
passes; the screenshots land in test-artifacts/.
"""

import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.browser import RECORD_ROW_STATES, launch_chromium
from tests.support.rabbitmq import HELLO_QUEUE, VHost
from tests.support.stack import ARTIFACTS, Stack, supervisorctl


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    context = browser.new_context(base_url=stack.web_url, viewport={"width": 1000, "height": 900})
    context.add_init_script(RECORD_ROW_STATES)
    page = context.new_page()
    page.goto("/")
    yield page
    context.close()


def fill_form(page: Page, name: str, duration: float, fail_times: int = 0) -> None:
    page.get_by_label("Name").fill(name)
    page.get_by_label("Duration (seconds)").fill(str(duration))
    page.get_by_label("Failing attempts (0 to 5)").fill(str(fail_times))


def say_hello(page: Page) -> None:
    page.get_by_role("button", name="Say hello", exact=True).click()


def states_shown(page: Page, task_id: str) -> list[str]:
    """The states the row of `task_id` showed, in order, repeats collapsed."""
    shown: list[str] = []
    for record in page.evaluate("window.rowStates"):
        if record["task"] == task_id and (not shown or shown[-1] != record["state"]):
            shown.append(record["state"])
    return shown


def test_a_click_becomes_a_row_that_follows_its_task_to_success(page: Page) -> None:
    """One click, one row: it shows the task started, its progress, then SUCCESS with the greeting."""
    fill_form(page, "Ada", 3)
    say_hello(page)
    row = page.locator("#tasks li").first
    expect(row).to_have_attribute("data-state", "SUCCESS", timeout=30_000)
    expect(row).to_contain_text("Hello, Ada!")
    expect(row).to_contain_text("routing key hello_queue")
    task_id = row.get_attribute("data-task-id")
    assert states_shown(page, task_id) == ["PENDING", "STARTED", "PROGRESS", "SUCCESS"]
    assert page.locator("#tasks li").count() == 1


def test_a_retried_task_shows_retry_then_success(page: Page) -> None:
    """fail_times=2: the row shows RETRY (the retries growing) before SUCCESS."""
    fill_form(page, "Ada", 0, fail_times=2)
    say_hello(page)
    row = page.locator("#tasks li").first
    expect(row).to_have_attribute("data-state", "RETRY", timeout=30_000)
    expect(row).to_contain_text("retries 1", timeout=30_000)
    expect(row).to_have_attribute("data-state", "SUCCESS", timeout=30_000)
    expect(row).to_contain_text("retries 2")
    assert "RETRY" in states_shown(page, row.get_attribute("data-task-id"))


def test_the_panel_shows_the_pile_up_and_the_drain(page: Page, stack: Stack, vhost: VHost) -> None:
    """Worker stopped, 5 clicks: the panel shows 5 Ready and worker_hello STOPPED; started: 0 Ready, 5 SUCCESS."""
    panel = page.locator("#broker")
    expect(panel.locator('[data-program="worker_hello"]')).to_have_attribute("data-state", "RUNNING")
    try:
        assert supervisorctl("stop", "worker_hello").stdout == "worker_hello: stopped\n"
        expect(panel.locator('[data-program="worker_hello"]')).to_have_attribute("data-state", "STOPPED")
        fill_form(page, "Ada", 0.5)
        for _ in range(5):
            say_hello(page)
        rows = page.locator("#tasks li")
        expect(rows).to_have_count(5)
        expect(page.locator("#queue-ready")).to_have_text("5", timeout=10_000)
        expect(page.locator("#queue-consumers")).to_have_text("0")
        expect(page.locator('#tasks li[data-state="PENDING"]')).to_have_count(5)
        assert vhost.depth(HELLO_QUEUE).ready == 5  # what the panel shows is what RabbitMQ holds
        # Unacked comes from the management API's statistics, sampled every 5 s.
        expect(page.locator("#queue-unacked")).to_have_text("0", timeout=15_000)
        page.screenshot(path=ARTIFACTS / "step6-pile-up.png", full_page=True)
    finally:
        supervisorctl("start", "worker_hello")
        stack.wait_for_state("worker_hello", "RUNNING")
    expect(page.locator('#tasks li[data-state="SUCCESS"]')).to_have_count(5, timeout=30_000)
    expect(page.locator("#queue-ready")).to_have_text("0", timeout=10_000)
    expect(page.locator("#queue-consumers")).to_have_text("1", timeout=10_000)
    expect(panel.locator('[data-program="worker_hello"]')).to_have_attribute("data-state", "RUNNING")
    page.screenshot(path=ARTIFACTS / "step6-drained.png", full_page=True)


def test_the_blocking_button_is_still_there_for_contrast(page: Page) -> None:
    """The step 1 route stays reachable from the page; while it works, the panel gets no answer."""
    answered: list[tuple[float, str]] = []
    page.on("response", lambda response: answered.append((time.monotonic(), urlsplit(response.url).path)))
    fill_form(page, "Ada", 3)
    clicked = time.monotonic()
    page.get_by_role("button", name="Say hello inline (blocking)").click()
    row = page.locator("#tasks li").first
    expect(row).to_have_attribute("data-state", "DONE INLINE", timeout=15_000)
    expect(row).to_contain_text("Hello, Ada!")
    (done,) = [at for at, path in answered if path == "/hello/blocking"]
    assert done - clicked >= 3.0
    # One GET /status may have been served just before the POST; none while it ran.
    during = [at - clicked for at, path in answered if path == "/status" and clicked + 0.5 < at < done]
    assert not during, f"GET /status was answered {during} s after the click, while the blocking POST ran"


def test_the_page_works_with_the_keyboard_alone(page: Page) -> None:
    """Tab to the "Say hello" button and press Enter: a row appears and reaches SUCCESS."""
    page.get_by_label("Duration (seconds)").fill("0")
    page.locator("body").focus()
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Say hello":
            break
    else:
        pytest.fail("the Say hello button never got the keyboard focus")
    page.keyboard.press("Enter")
    expect(page.locator("#tasks li").first).to_have_attribute("data-state", "SUCCESS", timeout=30_000)


def test_the_page_fits_a_phone_screen(page: Page) -> None:
    """At a phone's width (390 CSS px) nothing scrolls sideways."""
    page.set_viewport_size({"width": 390, "height": 844})
    fill_form(page, "Ada", 0)
    say_hello(page)
    expect(page.locator("#tasks li").first).to_have_attribute("data-state", "SUCCESS", timeout=30_000)
    page.screenshot(path=ARTIFACTS / "step6-phone.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
