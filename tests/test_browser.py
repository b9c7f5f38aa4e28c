"""tools/check_browser.py: its judgement and its protocol plumbing without Chromium, and each
of its page checks on a small synthetic page when Chromium is installed (`make browser` runs
it on the built book)."""
import importlib.util
import json
import os
import stat
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("check_browser", ROOT / "tools" / "check_browser.py")
cb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cb)


@pytest.mark.parametrize("text, hits", [
    (r"the kernel \frac{1}{2}", [r"\frac"]),
    (r"\begin{aligned} a &= b \end{aligned}", [r"\begin", r"\end"]),
    (r"inline \(x^2\) left raw", [r"\(", r"\)"]),
    (r"display \[ y \]", [r"\[", r"\]"]),
    ("dollars $\\Theta$ and $$K$$", ["$\\Theta$", "\\Theta", "$$", "$$"]),
    ("$x$, then $y = 1$", ["$x$", "$y = 1$"]),
])
def test_raw_tex_is_found(text, hits):
    assert cb.find_raw_tex(text) == hits


@pytest.mark.parametrize("text", [
    "plain prose, Θ = JJᵀ as MathJax renders it",
    "a price of 3 $ or a lone $ sign",
    "$ 5 and 6 $",            # no TeX: spaces inside the dollars
    r"a\b or \, thin spaces",  # single-letter or punctuation commands are not flagged
])
def test_prose_is_not_tex(text):
    assert cb.find_raw_tex(text) == []


def test_split_messages_keeps_a_partial_message():
    msgs, rest = cb.split_messages(b'{"id": 1, "result": {}}\0{"method": "Page.x"}\0{"id": 3')
    assert msgs == [{"id": 1, "result": {}}, {"method": "Page.x"}]
    assert rest == b'{"id": 3'
    more, rest = cb.split_messages(rest + b', "result": {"a": 1}}\0')
    assert more == [{"id": 3, "result": {"a": 1}}] and rest == b""
    assert cb.split_messages(b"") == ([], b"")


def test_problem_lines_name_page_width_what_and_where():
    found = {
        "problems": [{"what": "code line wider than the column (900 > 780 px)",
                      "where": "#intro (code cell 2 of 9 shown)", "text": "x = 1" * 40}],
        "tex": [{"text": "no tex here, only a $ sign", "where": "#a"},
                {"text": r"left \frac{a}{b} raw", "where": "#b"}],
    }
    lines = cb.problem_lines("07_ntk.html", 1400, found)
    assert len(lines) == 2
    assert lines[0].startswith("07_ntk.html @1400px: code line wider than the column (900 > 780 px) "
                               "in #intro (code cell 2 of 9 shown): \"x = 1x")
    assert lines[0].endswith('…"') and len(lines[0]) < 200
    assert lines[1] == r'07_ntk.html @1400px: raw TeX in the text in #b: "\\frac" in "left \\frac{a}{b} raw"'
    assert cb.problem_lines("a.html", 400, {"problems": [], "tex": []}) == []


@pytest.mark.parametrize("width, states, expected", [
    (1400, [True, False, True], None),
    (1400, [True, True, True], "does not close the sidebar"),
    (1400, [True, False, False], "does not reopen the sidebar"),
    (1400, [False, True, False], "not visible before"),
    (400, [False, True], None),
    (400, [False, False], "navigation drawer does not open"),
    (400, [True, True], "shows before the toggle is clicked"),
])
def test_toggle_states_are_judged(width, states, expected):
    lines = cb.toggle_problems("p.html", width, states, "x")
    if expected is None:
        assert lines == []
    else:
        assert len(lines) == 1 and expected in lines[0] and lines[0].startswith(f"p.html @{width}px: ")


def test_pages_from_folders_and_files(tmp_path):
    for name in ("b.html", "a.html", "notes.txt"):
        (tmp_path / name).write_text("x")
    assert [p.name for p in cb.pages_from([str(tmp_path)])] == ["a.html", "b.html"]
    assert cb.pages_from([str(tmp_path / "a.html"), str(tmp_path / "notes.txt")]) == [tmp_path / "a.html"]
    assert cb.pages_from([str(tmp_path / "missing")]) == []


def test_main_exits_2_without_pages_or_without_chromium(tmp_path, capsys, monkeypatch):
    assert cb.main([str(tmp_path)]) == 2
    assert "make book" in capsys.readouterr().out
    (tmp_path / "a.html").write_text("<p>x</p>")
    monkeypatch.setattr(cb, "find_chromium", lambda: None)
    assert cb.main([str(tmp_path)]) == 2
    assert "apt-get install chromium" in capsys.readouterr().out


FAKE_BROWSER = r'''#!PYTHON
"""Speaks the debugging pipe like Chromium: reads fd 3, answers on fd 4, sends an event first."""
import json, os
buf = b""
os.write(4, json.dumps({"method": "Target.hello", "params": {}}).encode() + b"\0")
while True:
    data = os.read(3, 65536)
    if not data:
        break
    buf += data
    *msgs, buf = buf.split(b"\0")
    for raw in msgs:
        m = json.loads(raw)
        if m["method"] == "Fail.me":
            answer = {"id": m["id"], "error": {"message": "no such method"}}
        else:
            answer = {"id": m["id"], "result": {"echo": m["method"], "session": m.get("sessionId")}}
        os.write(4, json.dumps({"method": "Page.loadEventFired", "params": {}}).encode() + b"\0")
        os.write(4, json.dumps(answer).encode() + b"\0")
        if m["method"] == "Browser.close":
            raise SystemExit(0)
'''


def test_the_pipe_protocol_matches_answers_and_keeps_events(tmp_path):
    fake = tmp_path / "fake-chromium"
    fake.write_text(FAKE_BROWSER.replace("PYTHON", sys.executable))
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    browser = cb.Chromium(str(fake))
    try:
        assert browser.send("Browser.getVersion", session=False) == {"echo": "Browser.getVersion",
                                                                      "session": None}
        assert [e["method"] for e in browser.events] == ["Target.hello", "Page.loadEventFired"]
        browser.session = "S1"
        assert browser.send("Runtime.evaluate")["session"] == "S1"
        assert browser.wait_event("Page.loadEventFired")["method"] == "Page.loadEventFired"
        with pytest.raises(RuntimeError, match="no such method"):
            browser.send("Fail.me")
    finally:
        browser.close()
    assert browser.proc.returncode == 0
    assert not Path(browser.profile).exists()


# A page with one instance of each problem the checker must catch, and a clean twin. A title
# click toggles a solution open, as the theme's togglebutton script does.
PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
article {{ max-width: 700px; overflow: hidden; }} pre {{ overflow-x: auto; }}
.solution > section {{ display: none; }} .solution.open > section {{ display: block; }}
</style></head><body><article class="bd-article">
<section id="s1"><h1>Title</h1>
<p>Prose with {tex} inside.</p>
<div class="cell"><div class="cell_input"><pre>{code}</pre></div></div>
<div class="exercise admonition" id="ex1"><p class="admonition-title">Exercise 1.1</p><p>Do it.</p></div>
<div class="solution dropdown admonition" id="sol1"><p class="admonition-title">Solution to Exercise 1.1</p>
<section id="solution-content"><p>The answer is 42.</p></section></div>
{after}
<div class="exercise admonition" id="ex2"><p class="admonition-title">Exercise 1.2</p><p>And this.</p></div>
<div class="solution dropdown admonition {shown}" id="sol2"><p class="admonition-title">Solution to Exercise 1.2</p>
<section id="solution-content"><p>Seven.</p></section></div>
</section><section id="s2"><h2>Summary</h2><p>{word}</p></section></article>
<script>
for (const t of document.querySelectorAll(".solution > .admonition-title"))
  t.addEventListener("click", () => t.parentElement.classList.toggle("open"));
</script></body></html>"""


@pytest.mark.skipif(cb.find_chromium() is None, reason="needs Debian's chromium (make browser)")
def test_each_check_fails_on_a_bad_page_and_passes_its_clean_twin(tmp_path, capsys):
    bad = tmp_path / "bad.html"
    bad.write_text(PAGE.format(tex=r"\frac{1}{2} and $x^2$", code="y = " + "1 + " * 60 + "1",
                               after="<p>So the answer is 42, as the solution showed.</p>",
                               shown="open", word="W" * 90))
    good = tmp_path / "good.html"
    good.write_text(PAGE.format(tex="one half", code="y = 1", after="", shown="", word="short words"))
    assert cb.main([str(bad), str(good)]) == 1
    out = capsys.readouterr().out
    bad_lines = [line for line in out.splitlines() if line.startswith("bad.html")]
    good_lines = [line for line in out.splitlines() if line.startswith("good.html")]
    expected = ['@1400px: raw TeX in the text in #s1: "\\\\frac"', '@1400px: raw TeX in the text in #s1: "$x^2$"',
                "@1400px: code line wider than the column", "@400px: text wider than the column (",
                "text after the solution to Exercise 1.1, outside the dropdown in #s1: \"So the answer",
                "solution visible before its toggle is clicked in #sol2"]
    for what in expected:
        assert any(what in line for line in bad_lines), (what, bad_lines)
    # the synthetic pages have no theme and no menu button: only that is reported on the twin
    assert good_lines and all("no visible navigation" in line for line in good_lines), good_lines
    assert out.splitlines()[-1].startswith("browser: 2 pages at 1400 and 400 px")


def test_the_examples_in_the_docstrings():
    import doctest
    result = doctest.testmod(cb)
    assert result.attempted >= 6 and result.failed == 0


@pytest.mark.skipif(cb.find_chromium() is None, reason="needs Debian's chromium (make browser)")
def test_search_snippets_turn_tex_into_plain_text():
    script = (ROOT / "book" / "_static" / "ntk-search.js").read_text()
    cases = {
        r"\(\Theta^{(L)}(x, x')\)": "Θ^(L)(x, x')",
        r"\[\frac{1}{2N}\|f - Y\|^2\]": "1/(2N)‖f - Y‖^2",
        r"\(\operatorname{tr}\hat\Theta = \|J\|_F^2\)": "trΘ = ‖J‖_F^2",
        r"\(e^{-\eta\Theta t/N}\)": "e^-ηΘ t/N",
        r"\begin{aligned} a &= b \\ c &= d \end{aligned}": "a = b c = d",
    }
    browser = cb.Chromium(cb.find_chromium())
    try:
        browser.open_tab()
        browser.js(script.replace("const NTK_TEX_SYMBOLS", "var NTK_TEX_SYMBOLS") + "; true")
        got = {tex: browser.js(f"ntkPlainMath({json.dumps(tex)})") for tex in cases}
    finally:
        browser.close()
    assert got == cases
    assert all(cb.find_raw_tex(text) == [] for text in got.values())
