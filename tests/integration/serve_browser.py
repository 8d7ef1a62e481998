#!/usr/bin/python3
"""serve's page in a real browser: headless chromium driven by Selenium (Debian's chromium,
chromium-driver, python3-selenium). Run by test_serve.c:

    serve_browser.py ASYNC_INSPECT FIXTURE_BINARY SOURCE_DIR
    serve_browser.py ASYNC_INSPECT PEER_SERVER SOURCE_DIR --processes PEER_CLIENT
    serve_browser.py ASYNC_INSPECT PEER_SERVER SOURCE_DIR --processes-links PEER_CLIENT

Starts the fixture (tokio's deadlock_abba) and `serve --pid` on it, opens the printed URL and
checks what a user sees; with --processes, peer_server (mutex) and a peer_client of it under
`serve --pid C --pid S`: the process column and filter, and the graph across the processes;
with --processes-links, the same pair: deep links #task=PID:N and the graph's process headings
($AI_SCREENSHOT=FILE also saves the page as a PNG there). Exit 0: passed; 77: skipped (no chromium, chromedriver or selenium);
anything else: failed, with the reason on stderr."""

import os
import re
import shutil
import signal
import subprocess
import sys

SKIP = 77


def fail(msg):
    print("serve_browser: " + msg, file=sys.stderr)
    sys.exit(1)


try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    print("serve_browser: skipped: python3-selenium is not installed", file=sys.stderr)
    sys.exit(SKIP)

chromium = shutil.which("chromium")
driver_path = shutil.which("chromedriver")
if not chromium or not driver_path:
    print("serve_browser: skipped: chromium and chromium-driver are needed", file=sys.stderr)
    sys.exit(SKIP)

tool, fixture_bin, source = sys.argv[1:4]


def marker_line(relpath, marker):
    with open(os.path.join(source, "tests/fixtures", relpath)) as f:
        for n, line in enumerate(f, 1):
            if marker in line:
                return n
    fail("no marker " + marker)


def parse_ms(text):
    """The page's durations: 850ms, 12s, 3m05s, 1h02m."""
    m = re.fullmatch(r"(\d+)ms", text)
    if m:
        return int(m.group(1))
    m = re.fullmatch(r"(\d+)s", text)
    if m:
        return int(m.group(1)) * 1000
    m = re.fullmatch(r"(\d+)m(\d+)s", text)
    if m:
        return (int(m.group(1)) * 60 + int(m.group(2))) * 1000
    m = re.fullmatch(r"(\d+)h(\d+)m", text)
    if m:
        return (int(m.group(1)) * 60 + int(m.group(2))) * 60000
    fail("not a duration: %r" % text)


def tracer_pid(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    return -1


def new_driver():
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=options)


def start_serve(pids):
    args = [tool, "serve"]
    for pid in pids:
        args += ["--pid", str(pid)]
    proc = subprocess.Popen(args + ["--interval", "200ms"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    if not re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[0-9a-f]{32}", url):
        proc.kill()
        fail("serve printed %r" % url)
    return proc, url


def stop_serve(proc):
    """Ctrl-C: serve detaches and ends with 0."""
    proc.send_signal(signal.SIGINT)
    try:
        rc = proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = "timeout"
    return rc


def processes_case(server_bin, client_bin):
    """serve of two processes: the client's request waits on the server's handle_conn (which
    waits on a Mutex the holder keeps). The table says each row's process and filters by it;
    the graph draws the tasks of both and the edge across them."""
    server = subprocess.Popen([server_bin, "mutex"], stdout=subprocess.PIPE, text=True)
    client = None
    proc = None
    driver = None
    try:
        m = re.fullmatch(r"listening (\S+)\n", server.stdout.readline())
        if not m:
            fail("peer_server did not say its port")
        client = subprocess.Popen([client_bin, m.group(1)], stdout=subprocess.PIPE, text=True)
        for who, p in (("peer_client", client), ("peer_server", server)):
            line = p.stdout.readline()
            if not line.startswith("ready"):
                fail("%s said %r" % (who, line))
        proc, url = start_serve([client.pid, server.pid])
        driver = new_driver()
        wait = WebDriverWait(driver, 30)
        driver.get(url)
        wait.until(lambda d: "peer_server::holder" in d.find_element(By.ID, "rows").text)

        def table():
            return driver.execute_script(
                "return [...document.querySelectorAll('#rows tr')].map("
                "tr => [...tr.children].map(td => td.textContent));")

        client_label, server_label = "%d peer_client" % client.pid, "%d peer_server" % server.pid
        # The id column names each row's process.
        rows = table()
        fut_col = 9 if len(rows[0]) > 10 else 6
        futures = {c[fut_col]: c[0] for c in rows}
        for future, label in (("peer_client::request", client_label), ("peer_server::handle_conn", server_label),
                              ("peer_server::holder", server_label)):
            if future not in futures or not futures[future].endswith("\u00b7 " + label):
                fail("the row of %s does not say %r: %s" % (future, label, rows))
        if "processes 2" not in driver.find_element(By.ID, "process").text.replace(":", ""):
            fail("the header does not count 2 processes: " + driver.find_element(By.ID, "process").text)
        # The filter matches the process column: the client's pid keeps its rows only.
        body = driver.find_element(By.TAG_NAME, "body")
        body.send_keys("/")
        driver.switch_to.active_element.send_keys(client_label)
        wait.until(lambda d: all(c[0].endswith(client_label) for c in table()) and table())
        kept = sorted(c[fut_col] for c in table())
        if "peer_client::request" not in kept or any(f.startswith("peer_server::") for f in kept):
            fail("filtering by %r kept %s" % (client_label, kept))
        driver.find_element(By.ID, "filter").clear()
        driver.find_element(By.ID, "filter").send_keys(" ")
        driver.find_element(By.ID, "filter").send_keys(Keys.BACKSPACE)
        wait.until(lambda d: len(table()) == len(rows))

        # The graph: tasks of both processes, the socket edge from the client's task to the
        # server's, and the server's lock edges.
        driver.find_element(By.ID, "filter").send_keys(Keys.ESCAPE)
        body.send_keys("g")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#graph-svg .node.task"))
        labels = driver.execute_script(
            "return [...document.querySelectorAll('#graph-svg .node title')].map(t => t.textContent);")
        want_client = "[pid %d peer_client] " % client.pid
        want_server = "[pid %d peer_server] " % server.pid
        if not any(l.startswith(want_client) and l.endswith("peer_client::request") for l in labels) or \
           not any(l.startswith(want_server) and l.endswith("peer_server::handle_conn") for l in labels) or \
           not any(l.startswith("Mutex<u64>") for l in labels):
            fail("graph nodes: %s" % labels)
        edges = driver.execute_script(
            "return [...document.querySelectorAll('#graph-svg .edge text')].map(t => t.textContent);")
        if edges.count("reads from the socket's other end") != 1 or "held by" not in edges or "waits for" not in edges:
            fail("graph edges: %s" % edges)
        if driver.find_elements(By.CSS_SELECTOR, "#graph-svg .edge.red"):
            fail("a red edge, with no cycle")
        # A click on the server's task opens it, from the row of its own process.
        for attempt in range(20):
            try:
                node = driver.find_element(By.XPATH, "//*[name()='g'][contains(@class,'task')][*[name()='title'][contains(., 'peer_server::handle_conn')]]")
                node.click()
                break
            except StaleElementReferenceException:
                continue
        wait.until(lambda d: d.find_element(By.ID, "detail").is_displayed() and
                   "peer_server.rs:" in d.find_element(By.ID, "tree").text)
        if os.environ.get("AI_SCREENSHOT_PROCESSES"):
            driver.save_screenshot(os.environ["AI_SCREENSHOT_PROCESSES"])
        errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        if errors:
            fail("console errors: %s" % errors)
    finally:
        if driver:
            driver.quit()
        rc = stop_serve(proc) if proc else 0
        for p in (client, server):
            if p and p.poll() is None and tracer_pid(p.pid) != 0:
                print("serve_browser: pid %d is still traced" % p.pid, file=sys.stderr)
                rc = rc or "traced"
            if p:
                p.kill()
                p.wait()
    if rc != 0:
        fail("serve ended with %s: %s" % (rc, proc.stderr.read()))
    print("serve_browser: passed (several processes)")
    sys.exit(0)


def processes_links_case(server_bin, client_bin):
    """serve of two processes, by deep link and graph: #task=PID:N opens that process's task
    (task ids repeat across processes); the graph draws each process's tasks under a heading
    that names it, the socket edge across them; a click on a node opens its task and the
    address says PID:N; a hash change opens the other process's task."""
    server = subprocess.Popen([server_bin, "mutex"], stdout=subprocess.PIPE, text=True)
    client = None
    proc = None
    driver = None
    try:
        m = re.fullmatch(r"listening (\S+)\n", server.stdout.readline())
        if not m:
            fail("peer_server did not say its port")
        client = subprocess.Popen([client_bin, m.group(1)], stdout=subprocess.PIPE, text=True)
        for who, p in (("peer_client", client), ("peer_server", server)):
            line = p.stdout.readline()
            if not line.startswith("ready"):
                fail("%s said %r" % (who, line))
        proc, url = start_serve([client.pid, server.pid])
        driver = new_driver()
        wait = WebDriverWait(driver, 30)
        driver.get(url)
        wait.until(lambda d: "peer_server::handle_conn" in d.find_element(By.ID, "rows").text)
        tasks = driver.execute_script("return state.tasks.tasks.map(t => [t.pid, t.label, t.future]);")
        ids = {(pid, future): label for pid, label, future in tasks}
        handler = ids.get((server.pid, "peer_server::handle_conn"))
        request = ids.get((client.pid, "peer_client::request"))
        if handler is None or request is None:
            fail("the rows of handle_conn and request: %s" % tasks)

        # A deep link to the server's task, in a fresh page (the token is in the cookie now).
        base = url.split("?")[0]
        driver.get(base + "?fresh=1#task=%d:%s" % (server.pid, handler))
        title = lambda d: d.find_element(By.ID, "detail-title").text
        wait.until(lambda d: d.find_element(By.ID, "detail").is_displayed() and
                   ("in %d peer_server" % server.pid) in title(d) and "peer_server.rs:" in d.find_element(By.ID, "tree").text)
        if ("Task %s" % handler) not in title(driver):
            fail("the deep link opened %r" % title(driver))

        # The graph: a heading per process, the tasks of both, the edge across them.
        driver.find_element(By.TAG_NAME, "body").send_keys("g")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#graph-svg text.process")) == 2)
        headings = driver.execute_script(
            "return [...document.querySelectorAll('#graph-svg text.process')].map(t => t.textContent);")
        if headings != ["pid %d peer_client" % client.pid, "pid %d peer_server" % server.pid]:
            fail("graph headings: %s" % headings)
        labels = driver.execute_script(
            "return [...document.querySelectorAll('#graph-svg .node.task title')].map(t => t.textContent);")
        if not any(l.startswith("[pid %d peer_client] " % client.pid) for l in labels) or \
           not any(l.startswith("[pid %d peer_server] " % server.pid) for l in labels):
            fail("graph task nodes: %s" % labels)
        edges = driver.execute_script(
            "return [...document.querySelectorAll('#graph-svg .edge text')].map(t => t.textContent);")
        if edges.count("reads from the socket's other end") != 1:
            fail("graph edges: %s" % edges)
        # The client's node opens the client's task; the address names it by pid.
        for attempt in range(20):
            try:
                node = driver.find_element(By.XPATH, "//*[name()='g'][contains(@class,'task')][*[name()='title'][contains(., 'peer_client::request')]]")
                node.click()
                break
            except StaleElementReferenceException:
                continue
        wait.until(lambda d: ("in %d peer_client" % client.pid) in title(d))
        want = "#task=%d:%s" % (client.pid, request)
        wait.until(lambda d: d.execute_script("return location.hash;") == want)
        # Back to the server's task by changing the address alone.
        driver.execute_script("location.hash = arguments[0];", "#task=%d:%s" % (server.pid, handler))
        wait.until(lambda d: ("in %d peer_server" % server.pid) in title(d))
        errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        if errors:
            fail("console errors: %s" % errors)
    finally:
        if driver:
            driver.quit()
        rc = stop_serve(proc) if proc else 0
        for p in (client, server):
            if p and p.poll() is None and tracer_pid(p.pid) != 0:
                print("serve_browser: pid %d is still traced" % p.pid, file=sys.stderr)
                rc = rc or "traced"
            if p:
                p.kill()
                p.wait()
    if rc != 0:
        fail("serve ended with %s: %s" % (rc, proc.stderr.read()))
    print("serve_browser: passed (several processes: deep links and the graph)")
    sys.exit(0)


if len(sys.argv) > 5 and sys.argv[4] == "--processes":
    processes_case(fixture_bin, sys.argv[5])
if len(sys.argv) > 5 and sys.argv[4] == "--processes-links":
    processes_links_case(fixture_bin, sys.argv[5])

fixture = subprocess.Popen([fixture_bin], stdout=subprocess.PIPE, text=True)
serve = None
driver = None
try:
    ready = fixture.stdout.readline()
    if not ready.startswith("ready "):
        fail("fixture said %r" % ready)
    serve = subprocess.Popen([tool, "serve", "--pid", str(fixture.pid), "--interval", "200ms"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = serve.stdout.readline().strip()
    if not re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[0-9a-f]{32}", url):
        fail("serve printed %r" % url)

    driver = new_driver()
    wait = WebDriverWait(driver, 30)

    driver.get(url)
    # The table lists the fixture's tasks by their root future.
    wait.until(lambda d: "deadlock_abba::task_a" in d.find_element(By.ID, "rows").text)
    rows = driver.find_element(By.ID, "rows").text
    if "deadlock_abba::task_b" not in rows:
        fail("task_b not in the table: " + rows)
    # The token left the address bar once the cookie held it.
    if "token=" in driver.current_url:
        fail("the token stays in the URL: " + driver.current_url)
    # The deadlock banner.
    banner = driver.find_element(By.ID, "banner")
    wait.until(lambda d: banner.is_displayed() and "deadlock" in banner.text)
    # The header names the runtime.
    if "tokio" not in driver.find_element(By.ID, "process").text:
        fail("no runtime in the header: " + driver.find_element(By.ID, "process").text)

    # Live updates come by the event stream, with no reload: a mark set in the page stays while
    # the header's sample count grows.
    driver.execute_script("window.aiNoReload = 1;")
    def samples():
        m = re.search(r"samples (\d+)", driver.find_element(By.ID, "process").text)
        return int(m.group(1)) if m else -1
    first_samples = samples()
    wait.until(lambda d: samples() >= first_samples + 3)
    if driver.execute_script("return window.aiNoReload") != 1:
        fail("the page reloaded")
    if driver.execute_script("return document.body.dataset.live") != "events":
        fail("the page does not update from /api/events: %r" % driver.execute_script("return document.body.dataset.live"))

    # Past the first event, the stream sends only the rows that changed: the table the page
    # builds from them is /api/tasks of the same sample, row for row (blocked-for and history
    # included).
    same = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        (async () => {
          for (let i = 0; i < 100; i++) {
            const r = await fetch("/api/tasks", { credentials: "same-origin", cache: "no-store" });
            const doc = await r.json();
            const mine = state.tasks;
            if (mine && mine.captured_at === doc.captured_at && mine.samples > 1)
              return done(JSON.stringify(mine.tasks) === JSON.stringify(doc.tasks) ? "same"
                          : "differ: " + JSON.stringify(mine.tasks).slice(0, 300) + " / " + JSON.stringify(doc.tasks).slice(0, 300));
            await new Promise((ok) => setTimeout(ok, 20));
          }
          done("no sample seen by both");
        })();
    """)
    if same != "same":
        fail("the table from the changes events is not /api/tasks: " + same)

    # The table is redrawn every sample: read it in one go, in the page.
    def table():
        return driver.execute_script(
            "return [...document.querySelectorAll('#rows tr')].map("
            "tr => [...tr.children].map(td => td.textContent));")

    def selected():
        return driver.execute_script(
            "const tr = document.querySelector('#rows tr.selected'); return tr && tr.dataset.address;")

    # Blocked-for grows between two reads.
    def blocked_for(future):
        for cells in table():
            if cells[6] == future:
                return parse_ms(cells[3])
        fail(future + " not in the table")

    first = blocked_for("deadlock_abba::task_a")
    wait.until(lambda d: blocked_for("deadlock_abba::task_a") >= first + 1000)

    # A click opens the task: its await tree with the right file:line.
    line = marker_line("tokio/src/bin/deadlock_abba.rs", "@await: abba-a-lock2")
    for attempt in range(20):
        try:
            tr = driver.find_element(By.XPATH, "//tbody[@id='rows']/tr[td[7]='deadlock_abba::task_a']")
            tr.click()
            break
        except StaleElementReferenceException:
            continue
    tree = driver.find_element(By.ID, "tree")
    wait.until(lambda d: "deadlock_abba.rs:%d" % line in tree.text)
    if "#task=" not in driver.current_url:
        fail("no deep link after opening a task: " + driver.current_url)
    task_a_id = driver.current_url.split("#task=")[1]

    # A click on the frame's file:line shows its source with that line marked.
    for attempt in range(20):
        try:
            loc = driver.find_element(By.XPATH, "//div[@id='tree']//span[contains(@class,'loc')][contains(., 'deadlock_abba.rs:%d')]" % line)
            loc.click()
            break
        except StaleElementReferenceException:
            continue
    wait.until(lambda d: d.find_element(By.ID, "source").is_displayed() and
               "@await: abba-a-lock2" in d.execute_script(
                   "const m = document.querySelector('#source .mark'); return m ? m.textContent : '';"))
    if driver.execute_script("return document.querySelectorAll('#source .mark').length") != 1:
        fail("not one marked line in the source")

    # j moves the selection and the pane follows; Esc closes it.
    body = driver.find_element(By.TAG_NAME, "body")
    before = selected()
    body.send_keys("j")
    if selected() == before:
        fail("j did not move the selection")
    body.send_keys("k")
    if selected() != before:
        fail("k did not move back")
    body.send_keys(Keys.ESCAPE)
    wait.until(lambda d: not d.find_element(By.ID, "detail").is_displayed())

    # / focuses the filter; typing keeps the matching rows only.
    body.send_keys("/")
    driver.switch_to.active_element.send_keys("task_b")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rows tr")) == 1)
    if "task_b" not in driver.find_element(By.ID, "rows").text:
        fail("the filter kept the wrong row")

    # Sorting by a column header: twice reverses.
    driver.find_element(By.ID, "filter").clear()
    driver.find_element(By.ID, "filter").send_keys(" ")
    driver.find_element(By.ID, "filter").send_keys(Keys.BACKSPACE)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rows tr")) == 3)
    header = driver.find_element(By.CSS_SELECTOR, "th[data-key=id]")
    header.click()
    ids = [cells[0] for cells in table()]
    header.click()
    rev = [cells[0] for cells in table()]
    if ids != list(reversed(rev)):
        fail("sorting by id twice did not reverse: %s %s" % (ids, rev))

    # A deep link opens that task, from a fresh load (the cookie carries the token).
    driver.get(url.split("?")[0] + "#task=" + task_a_id)
    wait.until(lambda d: d.find_element(By.ID, "detail").is_displayed() and
               "deadlock_abba.rs:%d" % line in d.find_element(By.ID, "tree").text)

    if os.environ.get("AI_SCREENSHOT"):
        driver.save_screenshot(os.environ["AI_SCREENSHOT"])

    # The timeline (l): each task's state letter per sample; the deadlocked ones are D.
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ESCAPE)
    body.send_keys("l")
    wait.until(lambda d: any(c[7].strip("\u00b7").endswith("DD") for c in table() if c[6] == "deadlock_abba::task_a"))

    # The graph (g): the two tasks and two mutexes, the cycle's edges in red; a click on a task
    # opens it.
    body.send_keys("g")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#graph-svg .edge.red")) == 4)
    labels = driver.execute_script(
        "return [...document.querySelectorAll('#graph-svg .node title')].map(t => t.textContent);")
    if not any("deadlock_abba::task_b" in l for l in labels) or sum("Mutex<" in l for l in labels) != 2:
        fail("graph nodes: %s" % labels)
    if os.environ.get("AI_SCREENSHOT_GRAPH"):
        driver.save_screenshot(os.environ["AI_SCREENSHOT_GRAPH"])
    for attempt in range(20):
        try:
            node = driver.find_element(By.XPATH, "//*[name()='g'][contains(@class,'task')][*[name()='title'][contains(., 'task_b')]]")
            node.click()
            break
        except StaleElementReferenceException:
            continue
    line_b = marker_line("tokio/src/bin/deadlock_abba.rs", "@await: abba-b-lock2")
    wait.until(lambda d: d.find_element(By.ID, "detail").is_displayed() and
               "deadlock_abba.rs:%d" % line_b in d.find_element(By.ID, "tree").text)

    # No errors in the console (a CSP violation would show there).
    errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    if errors:
        fail("console errors: %s" % errors)
finally:
    if driver:
        driver.quit()
    if serve:
        serve.send_signal(signal.SIGINT)
        try:
            rc = serve.wait(60)
        except subprocess.TimeoutExpired:
            serve.kill()
            rc = "timeout"
        if rc != 0 and sys.exc_info()[0] is None:
            print("serve_browser: serve ended with %s: %s" % (rc, serve.stderr.read()), file=sys.stderr)
            fixture.kill()
            sys.exit(1)
    if sys.exc_info()[0] is not None:
        fixture.kill()

# After Ctrl-C the fixture runs on, untraced.
if fixture.poll() is not None:
    fail("the fixture died")
if tracer_pid(fixture.pid) != 0:
    fail("the fixture is still traced")
fixture.kill()
fixture.wait()
print("serve_browser: passed")
