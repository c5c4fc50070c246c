#!/usr/bin/env python3
"""ui_browser.py - drives the web interface in headless Chromium (Debian's
chromium and chromium-driver, python3-selenium) against a running hostd; run
by ui_browser.sh, which sets up hostd, the users and the VMs.  Prints one
PASS/FAIL line per check and saves a screenshot of each page.
"""
import argparse
import json
import sys
import time
import traceback

from selenium import webdriver
from selenium.common.exceptions import (NoAlertPresentException, StaleElementReferenceException,
                                        TimeoutException, WebDriverException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

failed = 0
expected_errors = []


def check(name, cond, why=""):
    global failed
    if cond:
        print(f"PASS {name}", flush=True)
    else:
        failed += 1
        print(f"FAIL {name}" + (f" ({why})" if why else ""), flush=True)
    return cond


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--admin", required=True)
    ap.add_argument("--ro", required=True)
    ap.add_argument("--vm", required=True)
    ap.add_argument("--hostile", required=True)
    ap.add_argument("--shots", required=True)
    ap.add_argument("--tokens", required=True)
    a = ap.parse_args()

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1100",
                "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    except WebDriverException as e:
        check("ui-browser-start", False, str(e).splitlines()[0])
        return 1
    tokens = []
    urls = []
    console = []
    try:
        run(d, a, tokens, urls, console)
    except (TimeoutException, WebDriverException, AssertionError) as e:
        tb = traceback.extract_tb(e.__traceback__)
        where = next((f"line {f.lineno} ({f.line})" for f in reversed(tb) if f.filename == __file__), "")
        check("ui-flow", False, f"{type(e).__name__} at {where}: {str(e).splitlines()[0] if str(e) else ''}")
        try:
            d.save_screenshot(f"{a.shots}/failure.png")
            print("page text at the failure:\n" + d.find_element(By.TAG_NAME, "body").text[:2000])
        except WebDriverException:
            pass
    finally:
        collect_console(d, console)
        errors = [e for e in console if e["level"] == "SEVERE"]
        # The one refused request the test makes on purpose: Chromium logs its status.
        for want in expected_errors:
            hit = [e for e in errors if want in e["message"]]
            if hit:
                errors.remove(hit[0])
            else:
                check("ui-expected-console-error", False, f"no console line for {want}")
        check("ui-no-console-errors", not errors, "; ".join(e["message"][:200] for e in errors[:5]))
        with open(a.tokens, "w") as f:
            f.write("\n".join(tokens) + "\n")
        for u in urls:
            for t in tokens:
                if t and t in u:
                    check("ui-token-not-in-url", False, u)
        d.quit()
    return 1 if failed else 0


def collect_console(d, console):
    try:
        console.extend(d.get_log("browser"))
    except WebDriverException:
        pass


def wait(d, cond, timeout=20, what=""):
    # Pages redraw what they poll: an element can go stale between two looks.
    return WebDriverWait(d, timeout, poll_frequency=0.1,
                         ignored_exceptions=(StaleElementReferenceException,)).until(cond, what)


def retry(fn, tries=50):
    """fn() again when the page redrew the element it used (stale reference)."""
    for i in range(tries):
        try:
            return fn()
        except StaleElementReferenceException:
            if i == tries - 1:
                raise
            time.sleep(0.1)


def css(d, sel):
    return d.find_elements(By.CSS_SELECTOR, sel)


def login(d, a, who, tokens, urls):
    user, pw = who.split(":", 1)
    d.get(a.url + "/")
    urls.append(d.current_url)
    wait(d, lambda d: css(d, "#username"), what="the login form")
    css(d, "#username")[0].send_keys(user)
    css(d, "#password")[0].send_keys(pw)
    css(d, "#login-submit")[0].click()
    wait(d, lambda d: css(d, "#vm-rows tr[data-vm]"), what="the VM list after logging in")
    s = d.execute_script("return sessionStorage.getItem('vmx3.session')")
    tokens.append(json.loads(s)["token"])
    urls.append(d.current_url)


def row_of(d, name):
    for r in css(d, "#vm-rows tr[data-vm]"):
        if r.get_attribute("data-name") == name:
            return r
    return None


def run(d, a, tokens, urls, console):
    d.get(a.url + "/")
    wait(d, lambda d: css(d, "#username"), what="the login form")
    check("ui-root-shows-login", d.current_url.endswith("/ui/") or "/ui/" in d.current_url, d.current_url)
    d.save_screenshot(f"{a.shots}/login.png")
    login(d, a, a.admin, tokens, urls)
    check("ui-login-whoami", "admin" in css(d, "#whoami")[0].text, css(d, "#whoami")[0].text)

    # The hostile name: shown as text, never as markup.
    wait(d, lambda d: row_of(d, a.hostile) is not None, what="the hostile VM's row")
    shown = retry(lambda: row_of(d, a.hostile).find_element(By.CSS_SELECTOR, "a.vmname").text)
    check("ui-hostile-name-as-text", shown == a.hostile, shown)
    check("ui-hostile-no-img", d.execute_script("return document.querySelectorAll('img').length") == 0)
    try:
        d.switch_to.alert
        check("ui-hostile-no-alert", False, "an alert opened")
    except NoAlertPresentException:
        check("ui-hostile-no-alert", True)

    # Power on.
    vmid = retry(lambda: row_of(d, a.vm).get_attribute("data-vm"))
    retry(lambda: row_of(d, a.vm).find_element(By.CSS_SELECTOR, "button[data-op=on]").click())
    wait(d, lambda d: row_of(d, a.vm) and "poweredOn" in row_of(d, a.vm).find_element(By.CSS_SELECTOR, "td.power").text
         and not row_of(d, a.vm).find_elements(By.CSS_SELECTOR, "td.power .muted"), 60, "the VM powered on")
    check("ui-power-on", True)
    d.save_screenshot(f"{a.shots}/vms.png")

    # Switch the running VM to stats and watch the phases.
    retry(lambda: row_of(d, a.vm).find_element(By.CSS_SELECTOR, "button.op-switch").click())
    wait(d, lambda d: css(d, "#switch-dialog[open]"), what="the switch dialog")
    # A bad field: the dialog stays open and shows the API's message, naming the field.
    css(d, "#sw-revert")[0].send_keys("soon")
    expected_errors.append(f"/api/v1/vms/{vmid}/buildType - Failed to load resource: the server responded with a status of 400")
    css(d, "#sw-go")[0].click()
    wait(d, lambda d: css(d, "#sw-error")[0].text, 10, "the switch error")
    msg = css(d, "#sw-error")[0].text
    check("ui-switch-error-shown", msg.startswith("revertAfter:") and css(d, "#switch-dialog[open]"), msg)
    css(d, "#sw-revert")[0].clear()
    Select(css(d, "#sw-buildtype")[0]).select_by_value("stats")
    # The fast path hands over Linux guests only (docs/HANDOVER.md); this bare-metal guest is suspended and resumed.
    Select(css(d, "#sw-method")[0]).select_by_value("suspend")
    before = len(css(d, "#task-box .task"))
    css(d, "#sw-go")[0].click()
    seen_running = False
    deadline = time.time() + 90
    state = ""

    def newest_task_state():
        # None before the task's panel appears; the box redraws as it polls.
        panels = css(d, "#task-box .task")
        return panels[0].get_attribute("data-state") if len(panels) > before else None

    def dialog_error():
        # The dialog is removed once the switch is accepted, maybe between the find and the read.
        err = css(d, "#sw-error")
        return err[0].text if err else ""

    while time.time() < deadline:
        state = retry(newest_task_state)
        if state is None:
            msg = retry(dialog_error)
            if msg:
                check("ui-switch-accepted", False, msg)
                break
            state = ""
            time.sleep(0.05)
            continue
        if state == "running":
            seen_running = True
        if state in ("success", "error"):
            break
        time.sleep(0.05)
    check("ui-switch-task-success", state == "success", state or "no task panel")

    def finished_task():
        panel = css(d, "#task-box .task")[0]
        phases = [li.get_attribute("data-phase")
                  for li in panel.find_elements(By.CSS_SELECTOR, "ol.phases li")]
        dt = [e.text for e in panel.find_elements(By.CSS_SELECTOR, "[data-field=downtime]")]
        return phases, dt, panel.text.splitlines()[-1]

    phases, dt, last_line = retry(finished_task)
    check("ui-switch-phases", {"save", "launch", "resume"} <= set(phases) and "fastAttempt" not in phases,
          ",".join(phases))
    check("ui-switch-downtime", bool(dt) and dt[0].endswith(" ms"), dt[0] if dt else "none")
    print(f"# switch: phases {','.join(phases)}; {last_line}; running state seen: {seen_running}")
    wait(d, lambda d: "stats" in (row_of(d, a.vm).find_element(By.CSS_SELECTOR, "td.btcell").text), 10,
         "the list showing build type stats")
    check("ui-list-shows-stats", True)
    d.save_screenshot(f"{a.shots}/switch.png")

    # The stats page: kstats chart and table, locks, counters.
    d.get(f"{a.url}/ui/#/vm/{vmid}/stats")
    urls.append(d.current_url)
    wait(d, lambda d: css(d, "#kstats figure svg rect") and css(d, "#kstat-table tbody tr"), 30, "the kstats chart")
    names = retry(lambda: [r.find_elements(By.TAG_NAME, "td")[0].text for r in css(d, "#kstat-table tbody tr")])
    check("ui-kstats-guest", "GUEST" in names, ",".join(names))
    check("ui-kstats-chart", len(css(d, "#kstats svg rect[data-name]")) >= 1)
    check("ui-locks-table", len(css(d, "#lock-table tbody tr")) >= 1)
    wait(d, lambda d: css(d, "#counter-table tr.grouphead"), 10, "the counters")
    check("ui-counters", True)
    d.save_screenshot(f"{a.shots}/stats.png")

    # Rates over time (the ustats file, every 0.5 s in this VM).
    css(d, "#tab-time")[0].click()
    wait(d, lambda d: css(d, "#series-kstats svg polyline"), 30, "the kstat series")
    check("ui-series-kstats", True)
    check("ui-series-counters", len(css(d, "#series-counters svg polyline")) >= 1)
    d.save_screenshot(f"{a.shots}/time.png")

    # The profile: written 10 s after the stats build starts.
    css(d, "#tab-profile")[0].click()
    deadline = time.time() + 40
    while time.time() < deadline and not css(d, "#flamegraph svg g.fg-cell"):
        time.sleep(1)
        if not css(d, "#flamegraph svg g.fg-cell") and "no callstack profile" in css(d, "#profile-info")[0].text:
            css(d, "#profile-reload")[0].click()
    wait(d, lambda d: css(d, "#flamegraph svg g.fg-cell"), 5, "the flame graph")
    labels = {g.get_attribute("data-label") for g in css(d, "#flamegraph g.fg-cell")}
    check("ui-flame-guest-frames", {"guest:cs_three_quarters", "guest:cs_one_quarter", "guest:cs_driver"} <= labels,
          ",".join(sorted(labels))[:300])
    # The guest's known split: cs_three_quarters has three times cs_one_quarter's samples.
    def total(label):
        for g in css(d, "#flamegraph g.fg-cell"):
            if g.get_attribute("data-label") == label:
                t = d.execute_script("return arguments[0].querySelector('title').textContent", g)
                return int(t.split(": ", 1)[1].split()[0].replace(",", ""))
        return 0
    t3, t1 = total("guest:cs_three_quarters"), total("guest:cs_one_quarter")
    check("ui-flame-split", t3 + t1 > 0 and 0.65 <= t3 / (t3 + t1) <= 0.85, f"{t3} vs {t1}")
    hot = css(d, "#hot-table tbody tr td")
    check("ui-hottest-first", bool(hot) and hot[0].text == "guest:spin", hot[0].text if hot else "none")
    d.save_screenshot(f"{a.shots}/profile.png")
    cell = [g for g in css(d, "#flamegraph g.fg-cell") if g.get_attribute("data-label") == "guest:cs_driver"][0]
    d.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", cell)
    wait(d, lambda d: css(d, "#fg-selected"), 5, "the frame details")
    check("ui-flame-select", css(d, "#fg-selected")[0].text == "guest:cs_driver")
    css(d, "#fg-root")[0].click()
    wait(d, lambda d: "cs_driver" in css(d, "#fg-rootat")[0].text, 5, "root at cs_driver")
    top = [g for g in css(d, "#flamegraph g.fg-cell") if g.find_element(By.TAG_NAME, "rect").get_attribute("y") == "0"]
    check("ui-flame-rootat", [g.get_attribute("data-label") for g in top] == ["guest:cs_driver"],
          ",".join(g.get_attribute("data-label") for g in top))
    Select(css(d, "#fg-mode")[0]).select_by_value("bottom")
    wait(d, lambda d: css(d, "#flamegraph g.fg-cell"), 5, "the bottom-up view")
    top = [g.get_attribute("data-label") for g in css(d, "#flamegraph g.fg-cell")
           if g.find_element(By.TAG_NAME, "rect").get_attribute("y") == "0"]
    check("ui-flame-bottomup", top[:1] == ["guest:cs_driver"], ",".join(top))
    css(d, "#fg-reset")[0].click()
    css(d, "#fg-search")[0].send_keys("quarter")
    wait(d, lambda d: css(d, "#fg-match")[0].text.startswith("matched"), 5, "the search")
    check("ui-flame-search", len(css(d, "#flamegraph g.fg-cell.match")) >= 2)
    d.save_screenshot(f"{a.shots}/profile-bottomup.png")

    # Overview: tasks, events, the log.
    css(d, "#tab-overview")[0].click()
    wait(d, lambda d: css(d, "#vm-tasks tr") and css(d, "#vm-events tr") and css(d, "#vm-log")[0].text.strip(), 20,
         "tasks, events and the log")
    check("ui-overview-task", retry(lambda: any("changeBuildType" in r.text for r in css(d, "#vm-tasks tr"))))
    check("ui-overview-log", "vmx" in css(d, "#vm-log")[0].text.lower())
    d.save_screenshot(f"{a.shots}/overview.png")

    # The hostile name on its own page: the title is the text.
    d.get(f"{a.url}/ui/#/vms")
    wait(d, lambda d: row_of(d, a.hostile) is not None, 10, "the VM list again")
    evil = retry(lambda: row_of(d, a.hostile).get_attribute("data-vm"))
    d.get(f"{a.url}/ui/#/vm/{evil}/overview")
    wait(d, lambda d: css(d, "#vm-title"), 10, "the hostile VM's page")
    check("ui-hostile-title-as-text", css(d, "#vm-title")[0].text == a.hostile
          and d.execute_script("return document.querySelectorAll('img').length") == 0)

    # Log out: the token is gone from the page's storage.
    css(d, "#logout")[0].click()
    wait(d, lambda d: css(d, "#username"), 10, "the login form after logging out")
    check("ui-logout", d.execute_script("return sessionStorage.getItem('vmx3.session')") is None)

    # A read-only user sees the VMs and no buttons that would be refused.
    login(d, a, a.ro, tokens, urls)
    time.sleep(0.5)
    check("ui-readonly-no-buttons", len(css(d, "#vms button")) == 0, f"{len(css(d, '#vms button'))} buttons")
    check("ui-readonly-no-register", not css(d, "#register"))
    d.save_screenshot(f"{a.shots}/readonly.png")
    d.get(f"{a.url}/ui/#/vm/{vmid}/overview")
    wait(d, lambda d: css(d, "#vm-title"), 10, "the VM page as read-only")
    time.sleep(0.3)
    check("ui-readonly-vm-no-buttons", not css(d, "#vm-head button"))
    urls.append(d.current_url)


if __name__ == "__main__":
    sys.exit(main())
