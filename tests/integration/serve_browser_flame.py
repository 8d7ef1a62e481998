#!/usr/bin/python3
"""serve --profile's flamegraph tab, and a timer's countdown, in a real browser: headless chromium
driven by Selenium, as serve_browser.py. Run by test_serve.c:

    serve_browser_flame.py ASYNC_INSPECT PROFILED_FIXTURE_BINARY

Starts the fixture (tokio's profiled: a spinner task, a ticker, sleepers) and `serve --pid
--profile` on it. Exit 0: passed; 77: skipped (no chromium, chromedriver or selenium, or perf
events refused: the page then shows why, which is checked first); else failed, the reason on
stderr."""

import re
import shutil
import signal
import subprocess
import sys

SKIP = 77


def fail(msg):
    print("serve_browser_flame: " + msg, file=sys.stderr)
    sys.exit(1)


def skip(msg):
    print("serve_browser_flame: skipped: " + msg, file=sys.stderr)
    sys.exit(SKIP)


try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    skip("python3-selenium is not installed")

chromium = shutil.which("chromium")
driver_path = shutil.which("chromedriver")
if not chromium or not driver_path:
    skip("chromium and chromium-driver are needed")

tool, fixture_bin = sys.argv[1:3]

fixture = subprocess.Popen([fixture_bin], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
serve = None
driver = None
result = None
try:
    ready = fixture.stdout.readline()
    if not ready.startswith("ready "):
        fail("fixture said %r" % ready)
    serve = subprocess.Popen([tool, "serve", "--pid", str(fixture.pid), "--profile", "--interval", "200ms"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = serve.stdout.readline().strip()
    if not re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[0-9a-f]{32}", url):
        fail("serve printed %r" % url)

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    wait = WebDriverWait(driver, 30)
    driver.get(url)
    wait.until(lambda d: "profiled::sleeper" in d.find_element(By.ID, "rows").text)

    def table():
        return driver.execute_script(
            "return [...document.querySelectorAll('#rows tr')].map("
            "tr => [...tr.children].map(td => td.textContent));")

    def sleeper_wait():
        for cells in table():
            if "profiled::sleeper" in cells:
                return next((c for c in cells if c.startswith("sleep")), None)
        return None

    # A sleeper's wait counts down in the page, from the deadline its row carries.
    def left_s():
        m = re.fullmatch(r"sleep, (\d+)m(\d+)s left", sleeper_wait() or "")
        return int(m.group(1)) * 60 + int(m.group(2)) if m else None
    wait.until(lambda d: left_s() is not None)
    first = left_s()
    if not 50 * 60 < first <= 3600:
        fail("a sleep of an hour has %ss left" % first)
    wait.until(lambda d: left_s() is not None and left_s() <= first - 2)

    # f: the flamegraph tab. Without the right to sample it shows the one-line reason.
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys("f")
    note = driver.find_element(By.ID, "flame-note")
    wait.until(lambda d: "perf" in note.text or
               d.execute_script("return document.querySelectorAll('#flame-graph .frame').length") > 0)
    if "perf" in note.text and not driver.find_elements(By.CSS_SELECTOR, "#flame-graph .frame"):
        skip("perf events are not available here: " + note.text)

    def frames():
        return driver.execute_script(
            "return [...document.querySelectorAll('#flame-graph .frame')].map(f => "
            "[f.dataset.name, f.style.top, f.style.width, f.classList.contains('match')]);")

    wait.until(lambda d: any(f[0] == "profiled::spinner" for f in frames()))
    if frames()[0][0] != "all" or frames()[0][1] != "0px":
        fail("the root is not on top: %s" % frames()[:3])

    # The search marks the matching frames, and only those.
    search = driver.find_element(By.ID, "flame-search")
    search.send_keys("profiled::spin")
    marked = [f for f in frames() if f[3]]
    if not marked or any("profiled::spin" not in f[0] for f in marked):
        fail("search marks %s" % marked)
    if not re.search(r"% of them in frames matching", note.text):
        fail("no share of the matches: " + note.text)
    search.clear()

    # A click zooms: the frame is the top one, full width.
    for attempt in range(20):
        try:
            driver.find_element(By.CSS_SELECTOR, "#flame-graph .frame[data-name='profiled::spinner']").click()
            break
        except StaleElementReferenceException:
            continue
    wait.until(lambda d: frames() and frames()[0][0] == "profiled::spinner" and frames()[0][2] == "100%")
    if "zoomed on profiled::spinner" not in note.text:
        fail("zoom note: " + note.text)
    driver.find_element(By.ID, "flame-reset").click()
    wait.until(lambda d: frames() and frames()[0][0] == "all")

    # One task's flamegraph: select the spinner in the table, back to the tab, that task only.
    body.send_keys("t")
    for attempt in range(20):
        try:
            driver.find_element(By.XPATH, "//tbody[@id='rows']/tr[td[normalize-space()='profiled::spinner']]").click()
            break
        except StaleElementReferenceException:
            continue
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys("f")
    driver.find_element(By.ID, "flame-task").click()
    wait.until(lambda d: frames() and frames()[0][0].startswith("task ") and
               any(f[0] == "profiled::spinner" for f in frames()))

    errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    if errors:
        fail("console errors: %s" % errors)
    result = "passed"
finally:
    if driver:
        driver.quit()
    if serve:
        serve.send_signal(signal.SIGINT)
        try:
            rc = serve.wait(120)
        except subprocess.TimeoutExpired:
            serve.kill()
            rc = "timeout"
        if rc != 0 and result:
            print("serve_browser_flame: serve ended with %s: %s" % (rc, serve.stderr.read()), file=sys.stderr)
            result = None
    fixture.kill()
    fixture.wait()

if result != "passed":
    sys.exit(1)
print("serve_browser_flame: passed")
