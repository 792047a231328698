#!/usr/bin/env python3
"""Open a report in headless Chromium and say what happened, as JSON on stdout.

    browser_check.py CHROMIUM REPORT.html SCREENSHOT.png

Talks to Chromium over the DevTools protocol on a pipe (`--remote-debugging-pipe`: commands on fd 3, replies
and events on fd 4, each a JSON message ended by a NUL byte), so it needs nothing beyond the standard library.
It records every console message, uncaught exception, log entry and network request of the page, runs a few
checks in the page (scripts, event-handler attributes, the JSON summary), and saves a full-page screenshot.
"""

import base64
import json
import os
import select
import subprocess
import sys
import tempfile
import time

TIMEOUT_S = 90


class Browser:
    def __init__(self, chromium, profile):
        # Hold fds 3 and 4 so the pipes land above them, then put the pipe ends there in the child.
        holders = [os.open(os.devnull, os.O_RDONLY) for _ in range(3)]
        cmd_r, self.cmd_w = os.pipe()
        self.evt_r, evt_w = os.pipe()

        def child_fds():
            os.dup2(cmd_r, 3)
            os.dup2(evt_w, 4)

        self.proc = subprocess.Popen(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--hide-scrollbars",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            pass_fds=(3, 4),
            preexec_fn=child_fds,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for fd in holders + [cmd_r, evt_w]:
            os.close(fd)
        self.buffer = b""
        self.next_id = 0
        self.events = []
        self.deadline = time.time() + TIMEOUT_S

    def send(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.cmd_w, json.dumps(msg).encode() + b"\0")
        return self.next_id

    def read_one(self, timeout):
        while b"\0" not in self.buffer:
            left = min(timeout, self.deadline - time.time())
            if left <= 0:
                return None
            ready, _, _ = select.select([self.evt_r], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.evt_r, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method, params=None, session=None):
        want = self.send(method, params, session)
        while True:
            msg = self.read_one(TIMEOUT_S)
            if msg is None:
                raise RuntimeError(f"no reply to {method}")
            if msg.get("id") == want:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_event(self, method, timeout):
        for i, e in enumerate(self.events):
            if e.get("method") == method:
                return self.events.pop(i)
        end = time.time() + timeout
        while time.time() < end:
            msg = self.read_one(end - time.time())
            if msg is None:
                break
            if msg.get("method") == method:
                return msg
            self.events.append(msg)
        return None

    def drain(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            msg = self.read_one(end - time.time())
            if msg is None:
                break
            self.events.append(msg)

    def close(self):
        try:
            self.send("Browser.close")
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()


def page_events(events):
    """What the page said and did: console messages, uncaught exceptions, log entries and requested URLs."""
    console, exceptions, logs, requests = [], [], [], []
    for e in events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.consoleAPICalled":
            console.append({"type": p.get("type"), "args": [a.get("value", a.get("description")) for a in p.get("args", [])]})
        elif m == "Runtime.exceptionThrown":
            exceptions.append(p.get("exceptionDetails", {}).get("text"))
        elif m == "Log.entryAdded":
            entry = p.get("entry", {})
            logs.append({"level": entry.get("level"), "source": entry.get("source"), "text": entry.get("text"),
                         "url": entry.get("url")})
        elif m == "Network.requestWillBeSent":
            requests.append(p.get("request", {}).get("url", ""))
    return console, exceptions, logs, requests


PAGE_CHECKS = """JSON.stringify({
  scripts: [...document.scripts].filter(s => s.type !== 'application/json').length,
  json_blocks: [...document.scripts].filter(s => s.type === 'application/json').length,
  handlers: [...document.querySelectorAll('*')]
    .filter(e => [...e.attributes].some(a => a.name.toLowerCase().startsWith('on'))).length,
  pwned: typeof window.__echolens_pwned !== 'undefined',
  summary_parses: (() => { try { return JSON.parse(document.getElementById('echolens-summary').textContent) !== null }
                           catch (e) { return false } })(),
  svgs: document.querySelectorAll('svg').length,
  overflows_x: document.documentElement.scrollWidth > document.documentElement.clientWidth,
  viewport: document.documentElement.clientWidth,
  sections: [...document.querySelectorAll('section[id]')].map(s => s.id),
  title: document.title,
  text: document.body.innerText,
})"""


def main():
    chromium, report, shot = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3]
    url = "file://" + report
    with tempfile.TemporaryDirectory() as profile:
        b = Browser(chromium, profile)
        try:
            target = b.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = b.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                b.call(f"{domain}.enable", session=session)
            b.call("Page.navigate", {"url": url}, session=session)
            loaded = b.wait_event("Page.loadEventFired", 60) is not None
            b.drain(1.0)
            checks = json.loads(
                b.call("Runtime.evaluate", {"expression": PAGE_CHECKS, "returnByValue": True}, session=session)[
                    "result"
                ]["value"]
            )
            metrics = b.call("Page.getLayoutMetrics", session=session)
            size = metrics.get("cssContentSize") or metrics.get("contentSize")
            width, height = 1100, int(min(size["height"], 30000))
            b.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                session=session,
            )
            png = b.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=session)
            with open(shot, "wb") as f:
                f.write(base64.b64decode(png["data"]))
            b.drain(0.3)
        finally:
            b.close()
    console, exceptions, logs, requests = page_events(b.events)
    print(
        json.dumps(
            {
                "loaded": loaded,
                "console": console,
                "exceptions": exceptions,
                "log": logs,
                # The report itself is the one request a page must make.
                "requests": [r for r in requests if r != url],
                "checks": checks,
                "screenshot": shot,
                "height": height,
            }
        )
    )


if __name__ == "__main__":
    main()
