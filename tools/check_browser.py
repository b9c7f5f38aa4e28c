"""Read the built book in a real browser: headless Chromium, offline, at 1400 and 400 px.

Usage: python tools/check_browser.py [PAGE.html | FOLDER ...] [--screenshots DIR]
       (default: every _build/html/book/*.html; build first with `make book`)

One Chromium session per job (--jobs, default 2) opens its share of the pages (file://, no
network) at 1400 px, then narrows each to 400 px. Fails (exit 1, one line per problem: page, what, where) on
- math: a MathJax error, or raw TeX left in the text outside code (`$x$`, `\\frac`,
  `\\begin`, `\\(`), or math on the page that MathJax never typeset;
- navigation: at 1400 px the sidebar toggle does not close and reopen the sidebar; at 400 px
  the toggle does not open the table-of-contents drawer; more than one search field shows;
- solutions: a solution's content visible before its toggle is clicked, a solution that its
  toggle does not open, solution content outside a dropdown, or text between a solution and
  the next exercise or heading (an answer given away after `solution-end`);
- width: at 1400 px any code line, output, display formula, table or text wider than the
  column (it scrolls sideways or is cut off); at 400 px any inline formula or text cut off
  at the column, a display formula wider than the column that does not scroll, or a page
  that scrolls sideways;
- search: the search page (served on 127.0.0.1) shows no text snippets, or raw TeX in one;
- figures: an image without alt text (or with a file name as alt text), a figure without a
  caption, a PNG figure below 2x resolution; test plumbing (`NBVAL_` markers, the install
  cell) shown to readers.
Exit 2 when Chromium or the built pages are missing. `--screenshots DIR` also saves, per
page, the 1400 px view and the 400 px view with the drawer open.

Needs only the standard library and Debian's `chromium`: the DevTools protocol runs over
Chromium's --remote-debugging-pipe (file descriptors 3 and 4, NUL-separated JSON).
"""
from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PAGES = ROOT / "_build" / "html" / "book"
WIDE, NARROW = 1400, 400
HEIGHT = {WIDE: 900, NARROW: 800}
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--mute-audio", "--hide-scrollbars", "--remote-debugging-pipe",
]
SEARCH_QUERY = "kernel"  # a word on every chapter, next to formulas
TIMEOUT = 60.0  # seconds for one protocol answer (a page load on a loaded machine)

# Raw TeX in prose: a command (\frac, \begin, \alpha), a math delimiter \( \) \[ \], or $...$.
TEX_COMMAND = re.compile(r"\\(?:[A-Za-z]{2,}|[()\[\]])")
TEX_DOLLARS = re.compile(r"\$\$|\$[^\s$](?:[^$\n]{0,300}?[^\s$])?\$")


def find_raw_tex(text: str) -> list[str]:
    """The pieces of `text` that look like TeX a reader should never see, in order.

    >>> find_raw_tex(r"the kernel \\frac{1}{2} and $x^2$, not 3 $ or a\\b")
    ['\\\\frac', '$x^2$']
    >>> find_raw_tex("costs nothing")
    []
    """
    hits = [(m.start(), m.group()) for m in TEX_COMMAND.finditer(text)]
    hits += [(m.start(), m.group()) for m in TEX_DOLLARS.finditer(text)]
    return [h for _, h in sorted(hits)]


def split_messages(buffer: bytes) -> tuple[list[dict], bytes]:
    """Split the NUL-separated JSON messages of the debugging pipe; return (messages, rest).

    >>> split_messages(b'{"id": 1}\\x00{"id": 2}\\x00{"id"')
    ([{'id': 1}, {'id': 2}], b'{"id"')
    """
    *complete, rest = buffer.split(b"\0")
    return [json.loads(m) for m in complete if m.strip()], rest


def snippet(text: str, n: int = 60) -> str:
    """One line of at most `n` characters, for a problem report.

    >>> snippet("  a   long\\n line  ", 8)
    '"a long…"'
    """
    one = " ".join(str(text).split())
    return json.dumps(one if len(one) <= n else one[: n - 1].rstrip() + "…", ensure_ascii=False)


def problem_lines(page: str, width: int, found: dict) -> list[str]:
    """Turn what the page script measured into report lines "page: what [where]".

    `found` holds lists under "problems" ({what, where, text}) and "tex" ({text, where}):
    the TeX candidates are judged here, with find_raw_tex.

    >>> problem_lines("07_ntk.html", 400, {"problems": [{"what": "inline math cut off",
    ...     "where": "#s1", "text": "x+y"}], "tex": [{"text": "a $b$", "where": "#s2"}]})
    ['07_ntk.html @400px: inline math cut off in #s1: "x+y"', '07_ntk.html @400px: raw TeX in the text in #s2: "$b$" in "a $b$"']
    """
    lines = []
    for p in found.get("problems", []):
        text = f": {snippet(p['text'])}" if p.get("text") else ""
        lines.append(f"{page} @{width}px: {p['what']} in {p['where']}{text}")
    for t in found.get("tex", []):
        for hit in find_raw_tex(t["text"]):
            lines.append(f"{page} @{width}px: raw TeX in the text in {t['where']}: "
                         f"{snippet(hit)} in {snippet(t['text'])}")
    return lines


def toggle_problems(page: str, width: int, states: list[bool], what: str) -> list[str]:
    """Judge the sidebar visibility before and after each click of the navigation toggle.

    At 1400 px the sidebar shows, one click hides it, a second shows it again: [True, False,
    True]. At 400 px the drawer is closed and one click opens it: [False, True].

    >>> toggle_problems("a.html", 1400, [True, True, True], "sidebar")
    ['a.html @1400px: the sidebar toggle does not close the sidebar in the header']
    >>> toggle_problems("a.html", 400, [False, True], "drawer")
    []
    """
    expected = [True, False, True] if width == WIDE else [False, True]
    if states == expected:
        return []
    if width == WIDE:
        if not states[0]:
            why = "the sidebar is not visible before the toggle is clicked"
        elif states[1]:
            why = "the sidebar toggle does not close the sidebar"
        else:
            why = "the sidebar toggle does not reopen the sidebar"
    else:
        why = ("the table of contents shows before the toggle is clicked" if states[0]
               else "the navigation drawer does not open")
    return [f"{page} @{width}px: {why} in the header"]


def _above_9(fd: int) -> int:
    """A copy of file descriptor `fd` numbered 10 or more (the original is closed)."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


class Chromium:
    """One headless Chromium, driven through the DevTools protocol over a pipe."""

    def __init__(self, binary: str):
        self.profile = tempfile.mkdtemp(prefix="check-browser-")
        to_browser_r, self._out = os.pipe()
        self._in, from_browser_w = os.pipe()
        # the shell below puts them on fds 3 and 4: move them above 9 so that neither is 3 or 4
        to_browser_r, from_browser_w = (_above_9(fd) for fd in (to_browser_r, from_browser_w))
        cmd = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "about:blank"]
        # Chromium reads commands on fd 3 and writes answers on fd 4 (bash: sh takes no fd > 9).
        shell = f'exec "$@" 3<&{to_browser_r} 4>&{from_browser_w}'
        self.proc = subprocess.Popen(["bash", "-c", shell, "bash", *cmd],
                                     pass_fds=(to_browser_r, from_browser_w),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer, self._next, self.events = b"", 0, []
        self.session = None

    def _read(self, deadline: float) -> list[dict]:
        """The messages that arrive next, waiting until ``deadline`` (time.monotonic()) at most."""
        ready, _, _ = select.select([self._in], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise TimeoutError("Chromium did not answer")
        data = os.read(self._in, 1 << 20)
        if not data:
            raise RuntimeError("Chromium closed the debugging pipe (did it start?)")
        messages, self._buffer = split_messages(self._buffer + data)
        return messages

    def send(self, method: str, params: dict | None = None, session: bool = True) -> dict:
        self._next += 1
        message = {"id": self._next, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            for m in self._read(deadline):
                if m.get("id") == self._next:
                    if "error" in m:
                        raise RuntimeError(f"{method}: {m['error'].get('message')}")
                    return m.get("result", {})
                self.events.append(m)

    def wait_event(self, method: str) -> dict:
        deadline = time.monotonic() + TIMEOUT
        while True:
            for i, m in enumerate(self.events):
                if m.get("method") == method:
                    del self.events[: i + 1]
                    return m
            self.events.extend(self._read(deadline))

    def open_tab(self) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.send("Target.attachToTarget",
                             {"targetId": target["targetId"], "flatten": True}, session=False)
        self.session = attached["sessionId"]
        self.send("Page.enable")
        self.send("Runtime.enable")

    def viewport(self, width: int) -> None:
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": HEIGHT[width], "deviceScaleFactor": 1,
                   "mobile": False})

    def load(self, url: str) -> None:
        self.events.clear()
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def js(self, expression: str):
        result = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, x: float, y: float) -> None:
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent",
                      {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot")["data"]))

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False)
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - closing anyway
            self.proc.kill()
            self.proc.wait()
        os.close(self._out)
        os.close(self._in)
        shutil.rmtree(self.profile, ignore_errors=True)


# The page script: helpers shared by every measurement (window.__cb), installed once per load.
PAGE_JS = r"""
(() => {
  const article = document.querySelector("article.bd-article") || document.querySelector("main");
  const vis = (el) => !!el && el.checkVisibility({visibilityProperty: true, opacityProperty: true})
      && el.getClientRects().length > 0;
  const where = (el) => {
    // the exercise or solution around the element, else the nearest section, for a reader to find it
    const box = el.closest("div.exercise[id], div.solution[id]");
    if (box) {
      const t = box.querySelector(".admonition-title");
      return `#${box.id} (${t ? t.textContent.trim() : "exercise"})`;
    }
    let s = el.closest("section[id]");
    const cell = el.closest("div.cell");
    let n = "";
    if (cell) {
      const cells = Array.from(document.querySelectorAll("div.cell"));
      n = ` (code cell ${cells.indexOf(cell) + 1} of ${cells.length} shown)`;
    }
    return (s ? "#" + s.id : "the page") + n;
  };
  const scrollsX = (el) => ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
  const scrollAncestor = (el) => {   // a horizontally scrolling box between el and the column
    for (let a = el.parentElement; a && a !== article && a !== document.body; a = a.parentElement)
      if (scrollsX(a)) return a;
    return null;
  };
  const longestLine = (el) => (el.textContent || "").split("\n")
      .reduce((a, b) => (b.length > a.length ? b : a), "");
  const kind = (el) => el.closest(".cell_output") ? "output" : el.closest(".cell_input, div.highlight")
      ? "code" : "text";
  const texOf = (m) => {   // the TeX source MathJax typeset into the container m
    try {
      const items = MathJax.startup.document.getMathItemsWithin(m);
      if (items.length) return items[0].math;
    } catch (e) { /* no MathJax document */ }
    return m.textContent;
  };
  window.__cb = {article, vis, where, scrollsX, scrollAncestor, longestLine, kind, texOf};
})();
"""

READY_JS = r"""
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  if (document.fonts) await document.fonts.ready;
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return true;
})()
"""

# Width, math and content checks at the current viewport width (WIDTH is substituted).
MEASURE_JS = r"""
(() => {
  const {article, vis, where, scrollsX, scrollAncestor, longestLine, kind, texOf} = window.__cb;
  const W = WIDTH, wide = W >= 1000;
  const problems = [], tex = [];
  const add = (what, el, text) => problems.push({what, where: where(el), text: text || ""});
  const col = article.getBoundingClientRect();
  const out = (r) => r.right > col.right + 1.5 || r.left < col.left - 1.5;
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    problems.push({what: `the page scrolls sideways (${document.documentElement.scrollWidth} px wide)`,
                   where: "the page", text: ""});
  // code and output blocks (pre scrolls): wider than the column only at 1400 px is a problem
  for (const pre of article.querySelectorAll("pre")) {
    if (!vis(pre)) continue;
    if (pre.scrollWidth > pre.clientWidth + 1) {
      if (wide) add(`${kind(pre)} line wider than the column (${pre.scrollWidth} > ${pre.clientWidth} px)`,
                    pre, longestLine(pre));
    } else if (out(pre.getBoundingClientRect()) && !scrollAncestor(pre)) {
      add(`${kind(pre)} block cut off at the column`, pre, longestLine(pre));
    }
  }
  // display math
  for (const m of article.querySelectorAll('mjx-container[display="true"]')) {
    if (!vis(m)) continue;
    const inner = m.firstElementChild ? m.firstElementChild.getBoundingClientRect().width : 0;
    const box = scrollsX(m) ? m : scrollAncestor(m);
    const room = box ? box.clientWidth : m.clientWidth;
    if (inner <= room + 1.5) continue;
    const label = `display math${kind(m) === "output" ? " (output)" : ""}`;
    if (!box) add(`${label} cut off (${Math.round(inner)} > ${room} px, does not scroll)`, m, texOf(m));
    else if (wide) add(`${label} wider than the column (${Math.round(inner)} > ${room} px, scrolls)`, m, texOf(m));
  }
  // inline math crossing its column (cannot wrap: cut off)
  for (const m of article.querySelectorAll('mjx-container:not([display="true"])')) {
    if (!vis(m) || scrollAncestor(m)) continue;
    const r = m.getBoundingClientRect();
    const block = m.closest("p, li, dd, dt, td, th, h1, h2, h3, h4, figcaption, div") || article;
    const b = block.getBoundingClientRect();
    if (out(r) || r.right > b.right + 1.5)
      add(`inline math ${W < 1000 ? "cut off" : "wider than the column"} (${Math.round(r.width)} px wide, ` +
          `${Math.round(r.right - Math.min(b.right, col.right))} px past the edge)`, m, texOf(m));
  }
  // text blocks wider than the column (long words, links), tables, images
  for (const el of article.querySelectorAll("p, li, dt, dd, h1, h2, h3, h4, figcaption, .admonition-title")) {
    if (!vis(el) || el.closest("pre, mjx-container") || scrollAncestor(el)) continue;
    if (el.scrollWidth > el.clientWidth + 1 && !el.querySelector("mjx-container, pre, table, img")) {
      add(`text wider than the column (${el.scrollWidth} > ${el.clientWidth} px)`, el, el.textContent);
    }
  }
  for (const t of article.querySelectorAll("table")) {
    if (!vis(t)) continue;
    const box = scrollAncestor(t) || (scrollsX(t) ? t : null);
    const r = t.getBoundingClientRect();
    const wider = box ? box.scrollWidth > box.clientWidth + 1 : out(r);
    if (wider && (wide || !box))
      add(`table wider than the column (${Math.round(box ? box.scrollWidth : r.width)} px${box ? ", scrolls" : ", cut off"})`,
          t, t.textContent);
  }
  for (const img of article.querySelectorAll("img")) {
    if (!vis(img)) continue;
    const r = img.getBoundingClientRect(), name = img.src.split("/").pop();
    if (out(r) && !scrollAncestor(img)) add("image cut off at the column", img, name);
    if (img.naturalWidth && r.height && Math.abs(r.width / r.height - img.naturalWidth / img.naturalHeight)
        > 0.02 * img.naturalWidth / img.naturalHeight)
      add(`image distorted (shown ${Math.round(r.width)} x ${Math.round(r.height)} px)`, img, name);
  }
  // the rest is width-independent: checked once, at 1400 px
  if (wide) {
    for (const e of document.querySelectorAll("mjx-merror"))
      add("MathJax error", e, e.getAttribute("data-mjx-error") || e.textContent);
    const mathSource = article.querySelectorAll("span.math, div.math").length;
    if (mathSource && !article.querySelector("mjx-container"))
      add(`math not typeset (${mathSource} formulas, MathJax ${window.MathJax ? "loaded" : "missing"})`, article);
    const skip = "pre, code, kbd, samp, script, style, textarea, mjx-container, .highlight, .cell_input";
    const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const s = n.data;
      if ((s.includes("\\") || s.includes("$")) && !n.parentElement.closest(skip) && vis(n.parentElement))
        tex.push({text: s, where: where(n.parentElement)});
    }
    for (const img of article.querySelectorAll("img")) {
      if (!vis(img)) continue;
      const alt = (img.getAttribute("alt") || "").trim();
      const name = img.src.split("/").pop();
      if (!alt || /\.(png|jpe?g|svg|gif)$/i.test(alt) || /^[0-9a-f]{16,}/i.test(alt) || alt === name)
        add("image without a real alt text", img, alt || name);
      if (img.closest(".cell_output") && !img.closest("figure")?.querySelector("figcaption"))
        add("figure without a caption", img, name);
      if (/\.png($|\?)/i.test(img.src) && img.naturalWidth < 1.5 * img.getBoundingClientRect().width)
        add(`PNG below 2x resolution (${img.naturalWidth} px shown at ${Math.round(img.getBoundingClientRect().width)} px)`, img, name);
    }
    for (const pre of article.querySelectorAll(".cell_input pre")) {
      if (!vis(pre)) continue;
      const t = pre.textContent;
      if (/NBVAL_/.test(t)) add("test marker shown to readers", pre, t.match(/.*NBVAL_.*/)[0]);
      if (/^\s*%?pip install|^\s*!pip install/m.test(t)) add("install cell shown to readers", pre, longestLine(pre));
    }
    const searches = Array.from(document.querySelectorAll(".search-button-field, input[type=search]")).filter(vis);
    if (searches.length > 1)
      problems.push({what: `${searches.length} search fields visible`, where: "the header", text: ""});
  }
  return {problems, tex};
})()
"""

SOLUTIONS_JS = r"""
(async () => {
  const {article, vis, where} = window.__cb;
  const problems = [];
  const add = (what, el, text) => problems.push({what, where: where(el), text: text || ""});
  const sols = Array.from(article.querySelectorAll("div.solution"));
  const contentOf = (s) => Array.from(s.children).filter((c) => !c.classList.contains("admonition-title"));
  const shown = (s) => contentOf(s).some((c) => vis(c) && c.getBoundingClientRect().height > 0);
  const frame = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  for (const s of sols) {
    const title = s.querySelector(".admonition-title");
    const name = title ? title.textContent.trim() : s.id;
    if (shown(s)) { add("solution visible before its toggle is clicked", s, name); continue; }
    if (!title) continue;
    title.click(); await frame();
    if (!shown(s)) add("solution toggle does not open the solution", s, name);
    title.click(); await frame();
    if (shown(s)) add("solution toggle does not close the solution", s, name);
    // text after the solution, before the next exercise, solution or heading, gives the answer away
    for (let e = s.nextElementSibling; e; e = e.nextElementSibling) {
      if (e.matches("div.exercise, div.solution, section, h1, h2, h3, h4, .admonition")) break;
      if (vis(e) && e.textContent.trim()) {
        add(`text after the ${name.replace(/^Solution to\s*/, "solution to ")}, outside the dropdown`, e, e.textContent);
        break;
      }
    }
  }
  // anything marked as solution content that sits outside a solution block
  for (const el of article.querySelectorAll('[id^="solution-content"], [class*="solution"]')) {
    if (el.closest("div.solution") || !vis(el)) continue;
    add("solution content outside a dropdown", el, el.textContent);
  }
  return {problems, count: sols.length};
})()
"""

# Navigation: the visible primary toggle, and whether the table of contents shows.
TOGGLE_JS = r"""
(() => {
  window.scrollTo(0, 0);
  const {vis} = window.__cb;
  const t = Array.from(document.querySelectorAll(".primary-toggle")).filter(
      (b) => vis(b) && b.getBoundingClientRect().width > 0);
  if (!t.length) return null;
  const r = t[0].getBoundingClientRect();
  return {x: r.left + r.width / 2, y: r.top + r.height / 2, count: t.length};
})()
"""

TOC_SHOWN_JS = r"""
(async () => {
  // whether at least 3 table-of-contents links show, on top, inside the window; poll while the
  // drawer or sidebar animates, up to 1 s, for the state WAIT that a reader should see
  const {vis} = window.__cb;
  const shown = () => Array.from(document.querySelectorAll(
      "#pst-primary-sidebar a.reference, #pst-primary-sidebar-modal a.reference, .bd-sidebar-primary a.reference"
    )).filter((a) => {
      if (!vis(a)) return false;
      const r = a.getBoundingClientRect();
      if (!(r.width > 0 && r.right > 0 && r.left < window.innerWidth - 1 && r.bottom > 0
            && r.top < window.innerHeight)) return false;
      const x = Math.min(Math.max(r.left + 2, 0), window.innerWidth - 1);
      const y = Math.min(Math.max(r.top + r.height / 2, 0), window.innerHeight - 1);
      return document.elementFromPoint(x, y)?.closest("a") === a;
    }).length >= 3;
  const expected = WAIT;
  let state = shown();
  for (let t = 0; t < 1000 && state !== expected; t += 50) {
    await new Promise((r) => setTimeout(r, 50));
    state = shown();
  }
  await new Promise((r) => setTimeout(r, 100));   // settled: look once more
  return shown();
})()
"""

CLOSE_DRAWER_JS = r"""
(() => { for (const d of document.querySelectorAll("dialog[open]")) d.close(); return true; })()
"""


def check_page(browser: Chromium, path: Path, shots: Path | None) -> list[str]:
    name = path.name
    lines: list[str] = []
    browser.viewport(WIDE)
    browser.load(path.resolve().as_uri())
    browser.js(READY_JS)
    browser.js(PAGE_JS)
    for event in browser.events:
        if event.get("method") == "Runtime.exceptionThrown":
            details = event["params"]["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text", "")
            lines.append(f"{name} @{WIDE}px: JavaScript error in the page: {snippet(text)}")
    lines += problem_lines(name, WIDE, browser.js(MEASURE_JS.replace("WIDTH", str(WIDE))))
    lines += problem_lines(name, WIDE, browser.js(SOLUTIONS_JS))
    if shots:
        browser.screenshot(shots / f"{path.stem}-{WIDE}.png")
    lines += navigation(browser, name, WIDE, None)
    browser.viewport(NARROW)
    browser.js(READY_JS)
    lines += problem_lines(name, NARROW, browser.js(MEASURE_JS.replace("WIDTH", str(NARROW))))
    shot = shots / f"{path.stem}-{NARROW}-drawer.png" if shots else None
    lines += navigation(browser, name, NARROW, shot)
    return lines


def navigation(browser: Chromium, name: str, width: int, shot: Path | None) -> list[str]:
    toggle = browser.js(TOGGLE_JS)
    if toggle is None:
        return [f"{name} @{width}px: no visible navigation (primary sidebar) toggle in the header"]
    # the sidebar animates after the window narrows: wait for the state a reader should see
    states = [browser.js(TOC_SHOWN_JS.replace("WAIT", "true" if width == WIDE else "false"))]
    for _ in range(2 if width == WIDE else 1):
        toggle = browser.js(TOGGLE_JS) or toggle   # the toggle moves when the sidebar closes
        browser.click(toggle["x"], toggle["y"])
        expected = "false" if states[-1] else "true"
        states.append(browser.js(TOC_SHOWN_JS.replace("WAIT", expected)))
    if shot:
        browser.screenshot(shot)
    browser.js(CLOSE_DRAWER_JS)
    return toggle_problems(name, width, states, "sidebar" if width == WIDE else "drawer")


SEARCH_JS = r"""
(async () => {
  // Sphinx's search page: wait until it has fetched the pages and written their snippets
  for (let t = 0; t < 30000; t += 100) {
    const summary = document.querySelector("#search-results .search-summary, p.search-summary");
    if (summary && summary.textContent.trim() && !/preparing/i.test(summary.textContent)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 300));
  return {results: document.querySelectorAll("#search-results ul.search > li").length,
          snippets: Array.from(document.querySelectorAll("#search-results .context")).map((p) => p.textContent)};
})()
"""


def check_search(browser: Chromium, html_root: Path, query: str = SEARCH_QUERY) -> list[str]:
    """Search the book as a reader does (served on 127.0.0.1: on file:// the browser blocks
    the snippets); fail on no snippets, or on raw TeX in one."""
    handler = partial(_QuietHandler, directory=str(html_root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        browser.viewport(WIDE)
        browser.load(f"http://127.0.0.1:{server.server_port}/search.html?q={query}")
        found = browser.js(SEARCH_JS)
    finally:
        server.shutdown()
        server.server_close()
    where = f"search.html?q={query}"
    if not found["results"] or not found["snippets"]:
        return [f"{where}: the search shows {found['results']} results and no text snippets"]
    lines = []
    for text in found["snippets"]:
        hits = find_raw_tex(text)
        if hits:
            lines.append(f"{where}: raw TeX in a search snippet: {snippet(hits[0])} in {snippet(text)}")
    return lines


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # noqa: D102 - no access log on the console
        pass


def check_pages(binary: str, pages: list[Path], shots: Path | None) -> dict[Path, list[str]]:
    """Check `pages` in one Chromium session; their problem lines, by page."""
    browser = Chromium(binary)
    try:
        browser.open_tab()
        return {page: check_page(browser, page, shots) for page in pages}
    finally:
        browser.close()


def pages_from(args: list[str]) -> list[Path]:
    """The .html pages named, or those in the folders named (default: _build/html/book)."""
    pages: list[Path] = []
    for a in args or [str(DEFAULT_PAGES)]:
        p = Path(a)
        pages += sorted(p.glob("*.html")) if p.is_dir() else [p] if p.suffix == ".html" else []
    return pages


def find_chromium() -> str | None:
    for name in (os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("pages", nargs="*", help="built .html pages or folders of them")
    parser.add_argument("--screenshots", type=Path, help="save screenshots into this folder")
    parser.add_argument("--no-search", dest="search", action="store_false",
                        help="skip the search-page check (needs search.html beside the pages' folder)")
    parser.add_argument("--jobs", type=int, default=2,
                        help="Chromium sessions in parallel (default 2, one per core here)")
    args = parser.parse_args(argv)
    pages = pages_from(args.pages)
    if not pages:
        print(f"check_browser: no built pages in {args.pages or DEFAULT_PAGES}: run `make book` first")
        return 2
    binary = find_chromium()
    if binary is None:
        print("check_browser: Chromium not found: apt-get install chromium (or set CHROMIUM=path)")
        return 2
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    jobs = max(1, min(args.jobs, len(pages)))
    # one Chromium per job, each reading every jobs-th page; the report keeps the page order
    with ThreadPoolExecutor(jobs) as pool:
        parts = list(pool.map(lambda j: check_pages(binary, pages[j::jobs], args.screenshots),
                              range(jobs)))
    found = {page: lines for part in parts for page, lines in part.items()}
    problems = [line for page in pages for line in found[page]]
    html_root = pages[0].resolve().parent.parent   # _build/html/book/x.html -> _build/html
    if args.search and (html_root / "search.html").exists():
        browser = Chromium(binary)
        try:
            browser.open_tab()
            problems += check_search(browser, html_root)
        finally:
            browser.close()
    for line in problems:
        print(line)
    pages_with = len({re.split(r" @|[?:]", line, maxsplit=1)[0] for line in problems})
    print(f"browser: {len(pages)} pages at {WIDE} and {NARROW} px, {len(problems)} problems "
          f"on {pages_with} pages ({time.monotonic() - start:.0f} s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
