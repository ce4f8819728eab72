"""DEMO.md step 6 in a real browser: the page follows each task, and its panel shows the pile-up.

Playwright's `expect` polls the page until the condition holds or its timeout
passes; the screenshots land in test-artifacts/.
"""

import itertools
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Request, expect

from tests.support.browser import RECORD_ROW_STATES
from tests.support.poll import wait_until
from tests.support.rabbitmq import HELLO_QUEUE, Depth, VHost
from tests.support.stack import ARTIFACTS, Stack, supervisorctl
from tests.support.timing import CONSEQUENCE, FOLLOWS, HTTP_SLOW, MANAGEMENT_API, SERVICE, TASK


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    context = browser.new_context(base_url=stack.web_url, viewport={"width": 1000, "height": 900})
    context.add_init_script(RECORD_ROW_STATES)
    page = context.new_page()
    # The web app's Content-Security-Policy (app/security.py) must block nothing
    # of the page's own: Chromium logs each violation as a console error.
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto("/")
    yield page
    context.close()
    assert not [error for error in errors if "Content Security Policy" in error], errors


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
    expect(row).to_have_attribute("data-state", "SUCCESS", timeout=TASK * 1000)
    expect(row).to_contain_text("Hello, Ada!")
    expect(row).to_contain_text("routing key hello_queue")
    shown = states_shown(page, row.get_attribute("data-task-id"))
    # In this order, each at most once; a state that lasts less than the page's
    # 500 ms between two questions may be missed (test_step6_tasks.py checks each).
    assert shown == [state for state in ["SENT", "PENDING", "STARTED", "PROGRESS", "SUCCESS"] if state in shown]
    assert shown[0] == "SENT" and shown[-2:] == ["PROGRESS", "SUCCESS"]
    assert page.locator("#tasks li").count() == 1


def test_a_retried_task_shows_retry_then_success(page: Page) -> None:
    """fail_times=2: the row shows RETRY (the retries growing) before SUCCESS."""
    fill_form(page, "Ada", 0, fail_times=2)
    say_hello(page)
    row = page.locator("#tasks li").first
    expect(row).to_have_attribute("data-state", "RETRY", timeout=TASK * 1000)
    expect(row).to_contain_text("retries 1", timeout=TASK * 1000)
    expect(row).to_have_attribute("data-state", "SUCCESS", timeout=TASK * 1000)
    expect(row).to_contain_text("retries 2")
    assert "RETRY" in states_shown(page, row.get_attribute("data-task-id"))
    assert page.locator("#tasks li").count() == 1, "the retries are one task: one row"


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
        expect(page.locator("#queue-ready")).to_have_text("5", timeout=CONSEQUENCE * 1000)
        expect(page.locator("#queue-consumers")).to_have_text("0")
        expect(page.locator('#tasks li[data-state="PENDING"]')).to_have_count(5)
        assert vhost.depth(HELLO_QUEUE).ready == 5  # what the panel shows is what RabbitMQ holds
        # Unacked comes from the management API's statistics, sampled every 5 s.
        expect(page.locator("#queue-unacked")).to_have_text("0", timeout=MANAGEMENT_API * 1000)
        page.screenshot(path=ARTIFACTS / "step6-pile-up.png", full_page=True)
    finally:
        stack.ensure_running("worker_hello")
    expect(page.locator('#tasks li[data-state="SUCCESS"]')).to_have_count(5, timeout=TASK * 1000)
    expect(page.locator("#queue-ready")).to_have_text("0", timeout=CONSEQUENCE * 1000)
    expect(page.locator("#queue-consumers")).to_have_text("1", timeout=CONSEQUENCE * 1000)
    expect(panel.locator('[data-program="worker_hello"]')).to_have_attribute("data-state", "RUNNING")
    page.screenshot(path=ARTIFACTS / "step6-drained.png", full_page=True)


def asked_and_answered(request: Request) -> tuple[float, float]:
    """When the browser sent `request` and when the answer's first byte came, in seconds
    (its own resource timing: Python sees Playwright's events later)."""
    timing = request.timing
    return timing["startTime"] / 1000, (timing["startTime"] + timing["responseStart"]) / 1000


def test_the_blocking_button_is_still_there_for_contrast(page: Page) -> None:
    """The step 1 route stays reachable from the page; while it works, the panel gets no answer."""
    finished: list[Request] = []
    page.on("requestfinished", lambda request: finished.append(request))
    fill_form(page, "Ada", 3)
    page.get_by_role("button", name="Say hello inline (blocking)").click()
    row = page.locator("#tasks li").first
    expect(row).to_have_attribute("data-state", "DONE INLINE", timeout=(HTTP_SLOW + FOLLOWS) * 1000)
    expect(row).to_contain_text("Hello, Ada!")
    (post,) = [request for request in finished if urlsplit(request.url).path == "/hello/blocking"]
    posted, done = asked_and_answered(post)
    assert done - posted >= 3.0
    # A GET /status asked after the POST waits for it: one sync gunicorn worker.
    # (0.2 s of margin: which of two requests sent together is served first is up to the network.)
    overtaking = [
        answered - posted
        for asked, answered in map(asked_and_answered, finished)
        if posted + 0.2 < asked and answered < done
    ]
    assert not overtaking, f"a GET asked after the POST was answered first, {overtaking} s after it"


def test_a_row_asks_at_most_every_half_second_and_the_panel_every_second(page: Page) -> None:
    """The polling rates: a row asks for its task at most every 500 ms and stops at SUCCESS;
    the panel asks for /status at most every second."""
    finished: list[Request] = []
    page.on("requestfinished", lambda request: finished.append(request))
    fill_form(page, "Ada", 3)
    say_hello(page)
    row = page.locator("#tasks li").first
    expect(row).to_have_attribute("data-state", "SUCCESS", timeout=TASK * 1000)
    task_path = f"/tasks/{row.get_attribute('data-task-id')}"
    row_questions = sum(urlsplit(request.url).path == task_path for request in finished)
    # Two more questions of the panel: a second has passed since SUCCESS.
    for _ in range(2):
        with page.expect_request(lambda request: urlsplit(request.url).path == "/status", timeout=FOLLOWS * 1000):
            pass
    asked: dict[str, list[float]] = {}
    for request in finished:
        asked.setdefault(urlsplit(request.url).path, []).append(asked_and_answered(request)[0])
    assert len(asked[task_path]) == row_questions, "the row kept asking after SUCCESS"
    for path, interval in ((task_path, 0.5), ("/status", 1.0)):
        times = sorted(asked[path])
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert len(gaps) >= 3, f"{path} was asked only {len(times)} times"
        assert min(gaps) >= interval, f"{path} was asked {min(gaps):.3f} s after the time before"


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
    expect(page.locator("#tasks li").first).to_have_attribute("data-state", "SUCCESS", timeout=TASK * 1000)


def test_the_page_fits_a_phone_screen(page: Page) -> None:
    """At a phone's width (390 CSS px) nothing scrolls sideways."""
    page.set_viewport_size({"width": 390, "height": 844})
    fill_form(page, "Ada", 0)
    say_hello(page)
    expect(page.locator("#tasks li").first).to_have_attribute("data-state", "SUCCESS", timeout=TASK * 1000)
    page.screenshot(path=ARTIFACTS / "step6-phone.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_poison_click_ends_in_failure_that_names_the_dead_letter_queue(page: Page, vhost: VHost) -> None:
    """Step 9: the Poison checkbox; the row does not stay STARTED forever but reaches
    FAILURE, whose text says where the message went (TROUBLESHOOTING.md, case 5).

    The dead letter it leaves is purged (a queue of this run's own vhost): case 5's
    test expects hello_queue.dlq to hold its own message only.
    """
    fill_form(page, "Ada", 1)
    page.get_by_label("Poison").check()
    say_hello(page)
    row = page.locator("#tasks li").first
    expect(row).to_contain_text("poison")
    try:
        expect(row).to_have_attribute("data-state", "FAILURE", timeout=3 * TASK * 1000)
        # The row stops at the first FAILURE: Celery's own (WorkerLostError), or the one
        # worker/dead_letters.py stores a moment later, which names hello_queue.dlq.
        expect(row).to_contain_text("WorkerLostError")
        expect(row).to_contain_text("retries 4")
        shown = states_shown(page, row.get_attribute("data-task-id"))
        assert "RETRY" in shown and shown[-1] == "FAILURE", shown
    finally:
        page.get_by_label("Poison").uncheck()
        wait_until(lambda: (vhost.depth("hello_queue.dlq") or Depth(0, 0)).ready == 1, SERVICE, "the dead letter")
        vhost.purge("hello_queue.dlq")
