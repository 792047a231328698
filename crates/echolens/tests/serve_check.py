#!/usr/bin/env python3
"""Walk `echolens serve`'s pages in headless Chromium as a user would, and say what happened, as JSON on stdout.

    serve_check.py CHROMIUM BASE_URL SCREENSHOT_DIR [HOSTILE_BASE_URL]

Opens each page of the server at BASE_URL (corpus, a search, the clusters, a cluster and one edge's evidence,
the cascades and one cascade, a keyness comparison and a term, the SQL console), waits for each to say it is
ready (`body[data-state]`), runs checks in it, and saves a screenshot of each. With HOSTILE_BASE_URL, a server
over a store of hostile texts and channel names: its search and cluster pages are opened too. Records every
console message, uncaught exception, log entry and every request to anything but the servers.
"""

import base64
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser_check import Browser, page_events  # noqa: E402

WAIT_S = 90

PAGE_FACTS = """JSON.stringify({
  view: document.body.dataset.view,
  state: document.body.dataset.state,
  error: (document.querySelector('.error') || {}).textContent || null,
  h1: (document.querySelector('h1') || {}).textContent || null,
  svgs: document.querySelectorAll('main svg').length,
  rows: document.querySelectorAll('main tbody tr').length,
  messages: [...document.querySelectorAll('main .message .text')].map(e => e.textContent),
  links: [...document.querySelectorAll('main a[href^="#"]')].map(a => a.getAttribute('href')),
  scripts: document.scripts.length,
  handlers: [...document.querySelectorAll('*')]
    .filter(e => [...e.attributes].some(a => a.name.toLowerCase().startsWith('on'))).length,
  pwned: typeof window.__echolens_pwned !== 'undefined',
  overflows_x: document.documentElement.scrollWidth > document.documentElement.clientWidth + 1,
  text: document.querySelector('main').innerText.slice(0, 4000),
})"""


class Walk:
    def __init__(self, browser, session, shots):
        self.b, self.session, self.shots = browser, session, shots
        self.pages = {}

    def eval(self, expression):
        r = self.b.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
                        session=self.session)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails'].get('text')}")
        return r["result"].get("value")

    def wait(self, condition):
        end = time.time() + WAIT_S
        while time.time() < end:
            if self.eval(condition):
                return True
            self.b.drain(0.1)
        return False

    def page(self, name, hash_):
        """Go to a page, wait until it is ready, record its facts and a screenshot."""
        self.eval("document.body.dataset.state = 'leaving'")
        self.eval(f"location.hash = {json.dumps(hash_)}")
        return self.settle(name)

    def settle(self, name):
        """Wait until the page is ready, record its facts and a screenshot."""
        ready = self.wait("['ready', 'error'].includes(document.body.dataset.state)")
        facts = json.loads(self.eval(PAGE_FACTS))
        facts["ready"] = ready
        self.shoot(name)
        self.pages[name] = facts
        return facts

    def shoot(self, name):
        metrics = self.b.call("Page.getLayoutMetrics", session=self.session)
        size = metrics.get("cssContentSize") or metrics.get("contentSize")
        height = int(min(max(size["height"], 600), 12000))
        self.b.call("Emulation.setDeviceMetricsOverride",
                    {"width": 1200, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=self.session)
        png = self.b.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                          session=self.session)
        with open(os.path.join(self.shots, f"serve-{name}.png"), "wb") as f:
            f.write(base64.b64decode(png["data"]))
        self.b.call("Emulation.clearDeviceMetricsOverride", session=self.session)


def walk(b, session, base, shots, hostile):
    w = Walk(b, session, shots)
    b.call("Page.navigate", {"url": base + "/#corpus"}, session=session)
    b.wait_event("Page.loadEventFired", 60)
    w.wait("document.body.dataset.state === 'ready' || document.body.dataset.state === 'error'")
    w.pages["corpus"] = json.loads(w.eval(PAGE_FACTS))
    w.shoot("corpus")
    # Brush the first week of the chart: the other views then carry the range.
    w.eval("""(() => {
      const svg = document.querySelector('main .chart svg'), r = svg.getBoundingClientRect();
      const at = (f) => ({clientX: r.left + r.width * f, clientY: r.top + r.height / 2, bubbles: true});
      svg.dispatchEvent(new MouseEvent('mousedown', at(0.06)));
      svg.dispatchEvent(new MouseEvent('mousemove', at(0.3)));
      svg.dispatchEvent(new MouseEvent('mouseup', at(0.3)));
    })()""")
    w.pages["brush"] = w.eval("document.getElementById('brush').textContent")
    w.page("messages_brushed", '#messages?q=%22the%20truth%20they%20hide%22')
    # Clearing the range shows the same search over the whole corpus.
    w.eval("document.body.dataset.state = 'leaving'; document.querySelector('#brush button').click()")
    w.settle("messages")
    clusters = w.page("clusters", "#clusters")
    first = next((l for l in clusters["links"] if l.startswith("#cluster/")), None)
    if first:
        w.page("cluster", first)
        w.eval("document.querySelector('button[data-edge]').click()")
        w.pages["evidence_shown"] = w.wait("document.body.dataset.evidence !== undefined")
        w.pages["evidence"] = w.eval(
            "[...document.querySelectorAll('#evidence .pair')].map(p => [...p.children].map(c => c.textContent))")
        w.shoot("evidence")
    cascades = w.page("cascades", "#cascades")
    first = next((l for l in cascades["links"] if l.startswith("#cascade/")), None)
    if first:
        w.page("cascade", first)
        w.pages["cascade"]["tree"] = w.eval("document.querySelectorAll('#cascade-tree li').length")
        w.pages["cascade"]["marked"] = w.eval("document.querySelectorAll('#cascade-tree ins, #cascade-tree del').length")
    w.page("keyness", "#vocabulary?target=channel%3Ddemo_channel_00")
    term = next((l for l in w.pages["keyness"]["links"] if l.startswith("#vocabulary?term=")), None)
    if term:
        w.page("term", term)
    w.page("sql", "#sql?q=SELECT%20platform%2C%20count(*)%20AS%20n%20FROM%20messages%20GROUP%20BY%20platform&run=1")
    w.page("sql_refused", "#sql?q=DROP%20TABLE%20messages&run=1")
    if hostile:
        b.call("Page.navigate", {"url": hostile + "/#messages?q=coordinated%20slogan"}, session=session)
        b.wait_event("Page.loadEventFired", 60)
        w.wait("document.body.dataset.state === 'ready' || document.body.dataset.state === 'error'")
        w.pages["hostile_messages"] = json.loads(w.eval(PAGE_FACTS))
        w.shoot("hostile-messages")
        w.page("hostile_cascades", "#cascades")
        w.page("hostile_sql", "#sql?q=SELECT%20channel_name%2C%20text%20FROM%20messages%20LIMIT%2020&run=1")
    return w.pages


def main():
    chromium, base, shots = sys.argv[1], sys.argv[2].rstrip("/"), sys.argv[3]
    hostile = sys.argv[4].rstrip("/") if len(sys.argv) > 4 else None
    with tempfile.TemporaryDirectory() as profile:
        b = Browser(chromium, profile)
        # The walk opens a dozen pages, some running analyses: more than one page's time.
        b.deadline = time.time() + 600
        try:
            target = b.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = b.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                b.call(f"{domain}.enable", session=session)
            pages = walk(b, session, base, shots, hostile)
            b.drain(0.3)
        finally:
            b.close()
    console, exceptions, logs, requests = page_events(b.events)
    allowed = tuple(u for u in (base, hostile) if u)
    outside = [u for u in requests if not u.startswith(allowed) and not u.startswith(("data:", "blob:"))]
    print(json.dumps({"pages": pages, "console": console, "exceptions": exceptions, "log": logs, "outside": outside}))


if __name__ == "__main__":
    main()
