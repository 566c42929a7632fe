"""Issue #14 (A): names, file names, notes and messages are shown as plain text, never as Markdown.

A person enrolled as ``![p](http://127.0.0.1:PORT/x.png)`` made every browser that got a match
fetch that URL; a file named ``# x`` became a heading. :func:`dashboard.plain.plain` escapes such
text; these tests check it on its own, in Streamlit's own renderer (Chromium), and on every page
that shows such text (AppTest), and that a real browser on the Recognize page fetches nothing from
the address in a hostile name.
"""
from __future__ import annotations

import json
import re
import shutil
import string
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import tests.app.test_pages as pages_tests
from dashboard.plain import WORD_JOINER, code, plain, plotly_text
from facerec_core.faces import display_name
from tests.app.conftest import (PROJECT_ROOT, SLOW_MS, apply_env, chromium_page, counting_server, goto_signed_in,
                               settings_env, shown, streamlit_server)
from tests.app.conftest import blank_png, empty_env, run_env, trained_env  # noqa: F401 (fixtures)
from tests.conftest import lfw_photo

APP_FILE = pages_tests.APP_FILE
TIMEOUT = pages_tests.TIMEOUT
_navigation_mode = pages_tests._navigation_mode  # autouse: AppTest runs go through st.navigation

# Everything Markdown, GFM and Streamlit would act on, one kind per string.
HOSTILE = [
    "![p](http://127.0.0.1:9/x.png) [click](http://127.0.0.1:9/y)",
    "<img src=http://127.0.0.1:9/z.png onerror=alert(1)> <b>bold</b> <script>alert(1)</script>",
    "&amp; &lt;b&gt; &#42;not em&#42;",
    ":smile: :+1: :material/home: :red[red] :streamlit: :blue-background[x] :violet-badge[b] :small[s]",
    "$x^2$ and $$\\int y$$ and \\(z\\)",
    "# heading\n- item\n1. one\n> quote\n    code\n---",
    "a | b | c\n--- | --- | ---",
    "~~strike~~ *em* **strong** _u_ __uu__ `code` ```fence```",
    "www.example.org http://127.0.0.1:9/auto HTTPS://x.y mailto:a@b.co a@b.co",
    "[ref]: http://127.0.0.1:9/ref\n[ref] [x][ref]",
    "back\\slash \\* \\ trailing\\",
    "  leading and trailing  \t",
    "line\r\nbreaks\rand\u2028separators\u2029and\x00nul\x1bescape\x7fdel",
    "Ann_O'Neil-Smith (née \"Ann\"), 100% {sure}? ;=+ @home ^^ ~",
    "Zoë 李 ✓ — plain Unicode stays as it is",
]


def as_text(value: str) -> str:
    """``value`` as a browser shows plain text: every whitespace run one space, none at the ends."""
    return " ".join("".join(" " if ord(c) < 32 or c in "\x7f\u2028\u2029" else c for c in value).split())


# ---- plain() on its own -----------------------------------------------------------------------
@pytest.mark.parametrize("text", HOSTILE)
def test_plain_escapes_every_markdown_character(text):
    out = plain(text)
    assert shown(out) == as_text(text)
    # every ASCII punctuation character is escaped: read as CommonMark does, backslash by backslash
    i = 0
    while i < len(out):
        if out[i] == "\\":
            assert out[i + 1:i + 2] and out[i + 1] in string.punctuation, f"a lone backslash at {i} in {out!r}"
            i += 2
            continue
        assert out[i] not in string.punctuation, f"{out[i]!r} unescaped at {i} in {out!r}"
        i += 1
    assert not re.search(r"[\r\n\t\x00-\x1f\x7f\u2028\u2029]", out)
    assert out == out.strip()
    # the patterns Streamlit matches after unescaping (autolinks, shortcodes) are broken up
    unescaped = out.replace("\\", "")
    assert not re.search(r"https?://|www\.|:streamlit:|@\w", unescaped, re.IGNORECASE)


def test_plain_of_other_objects():
    assert plain(None) == ""
    assert plain(12.5) == "12\\.5"
    assert plain(Path("a_b")) == "a\\_b"
    assert plain(ValueError("bad *x*")) == "bad \\*x\\*"
    assert plain("") == "" and plain(" \n ") == ""
    assert plain(plain("*")) == "\\\\\\*"  # escaping twice shows the backslash: plain() is applied once, last


@pytest.mark.parametrize("text", HOSTILE)
def test_code_and_plotly_text(text):
    fenced = code(text)
    run = max((len(r) for r in re.findall("`+", as_text(text))), default=0)
    assert fenced.startswith("`" * (run + 1)) and not fenced.startswith("`" * (run + 2))
    assert fenced.strip("`").strip().replace(WORD_JOINER, "") == as_text(text) or not as_text(text)
    assert "<" not in plotly_text(text) and ">" not in plotly_text(text)
    assert plotly_text(text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == as_text(text)


def test_chart_labels_are_plain_text():
    import pandas as pd

    from dashboard import charts

    name = "<a href='http://127.0.0.1:9/c'>x</a> <b>B</b>"
    tail = charts.long_tail_figure(pd.Series({name: 3, "Colin_Powell": 2}), 2)
    assert list(tail.data[0].x) == [plotly_text(name), "Colin Powell"]
    confused = charts.confusion_figure(pd.DataFrame([{"true": name, "predicted": "Colin_Powell", "count": 2}]))
    assert list(confused.data[0].y) == [plotly_text(name)]
    frame = pd.DataFrame({"x": [0.0], "y": [1.0], "person": [name], "thumbnail": ["<i>p</i>.jpg"], "face": ["ok"]})
    scatter = charts.embedding_scatter(frame, "PCA")
    assert scatter.data[0].name == plotly_text(name) and "<i>" not in str(scatter.data[0].customdata)


def _markdown_app(cases: list[str]) -> None:
    import streamlit as st

    from dashboard.plain import plain

    for text in cases:
        st.markdown(plain(text))
        st.error(plain(text))
        st.caption(plain(text))
        st.subheader(plain(text), anchor=False)
        st.metric(plain(text), 1)


def test_apptest_carries_the_escaped_text_unchanged(monkeypatch):
    """Streamlit's Python side (which dedents and strips Markdown bodies) hands the browser exactly
    what plain() made, so it shows the literal text."""
    # AppTest leaves its script as __main__, which the embedding workers spawned later would re-run.
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    at = AppTest.from_function(_markdown_app, args=(HOSTILE,), default_timeout=30)
    at.run()
    assert not at.exception
    for elements in (at.markdown, at.error, at.caption, at.subheader):
        assert [shown(e.value) for e in elements] == [as_text(t) for t in HOSTILE]
        assert [e.value for e in elements] == [plain(t) for t in HOSTILE]
    assert [shown(m.label) for m in at.metric] == [as_text(t) for t in HOSTILE]


def _bait(port: int) -> str:
    return f"![p](http://127.0.0.1:{port}/x.png) [click](http://127.0.0.1:{port}/y)"


# Where each element of RENDER_APP shows its Markdown, and the tags Markdown would have drawn.
SHOWN_AS_MARKDOWN = ('[data-testid="stMarkdown"] [data-testid="stMarkdownContainer"]', "h4",
                     '[data-testid="stAlertContentError"] [data-testid="stMarkdownContainer"]',
                     '[data-testid="stCaptionContainer"]', '[data-testid="stMetricLabel"]',
                     '[data-testid="stTable"] td')
# (a heading's own text span and anchor link are Streamlit's, not drawn from the text)
DRAWN_TAGS = ("e => [...e.querySelectorAll('*')].filter(n => !n.closest('[data-testid=\"stHeaderActionElements\"]')"
              " && !n.hasAttribute('data-heading-text')).map(n => n.tagName)")
MARKUP_TAGS = {"A", "IMG", "SCRIPT", "B", "EM", "STRONG", "DEL", "CODE", "PRE", "LI", "UL", "OL", "H1", "H2",
               "BLOCKQUOTE", "TABLE", "HR", "SPAN", "MATH", "SVG", "INPUT"}

RENDER_APP = """
import json
import pandas as pd
import streamlit as st
from dashboard.plain import code, plain

for i, text in enumerate(json.loads(open(CASES).read())):
    with st.container(key=f"case_{i}"):
        st.markdown(plain(text))
        st.markdown(f"#### {plain(text)}")
        st.error(plain(text))
        st.caption(plain(text))
        st.metric(plain(text), 1)
        st.table(pd.DataFrame({"x": [plain(text)]}))
    with st.container(key=f"code_{i}"):
        st.markdown(code(text))
st.markdown("all drawn")
"""


@pytest.mark.browser
def test_plain_is_shown_literally_by_streamlit_in_chromium(tmp_path, run_env):
    """Streamlit's real renderer (react-markdown with GFM, math, directives, emoji): every hostile
    string comes out as its text, with no link, image or other element, and nothing is fetched."""
    with counting_server() as (port, paths):
        cases = HOSTILE + [_bait(port)]
        (tmp_path / "cases.json").write_text(json.dumps(cases))
        (tmp_path / "streamlit_app.py").write_text(f"CASES = {str(tmp_path / 'cases.json')!r}\n" + RENDER_APP)
        env = {**run_env, "PYTHONPATH": str(PROJECT_ROOT)}
        with streamlit_server(env, tmp_path / "streamlit.log", app=tmp_path / "streamlit_app.py") as url, \
                chromium_page([], {"width": 1200, "height": 900}) as page:
            page.goto(url)
            page.get_by_text("all drawn").wait_for()
            for i, text in enumerate(cases):
                box = page.locator(f".st-key-case_{i}")
                for selector in SHOWN_AS_MARKDOWN:
                    found = box.locator(selector)
                    assert found.count() >= 1, selector
                    for j in range(found.count()):
                        element = found.nth(j)
                        assert as_text(element.inner_text().replace(WORD_JOINER, "")) == as_text(text), \
                            (i, selector, j)
                        tags = set(element.evaluate(DRAWN_TAGS))
                        assert not tags & MARKUP_TAGS, (i, selector, j, tags)
                if as_text(text):  # code(): one code span, its text as it is
                    block = page.locator(f".st-key-code_{i} [data-testid='stMarkdownContainer']")
                    assert as_text(block.inner_text().replace(WORD_JOINER, "")) == as_text(text), i
                    assert set(block.evaluate(DRAWN_TAGS)) == {"P", "CODE"}, i
            page.wait_for_timeout(500)
        assert paths == []


# ---- the pages ---------------------------------------------------------------------------------
MARKDOWN_KINDS = ("markdown", "caption", "error", "warning", "info", "success", "toast", "title", "header",
                  "subheader")


def markdown_bodies(at: AppTest) -> list[str]:
    """Every string of the run that Streamlit renders as Markdown: bodies, captions, alerts,
    headings, metric and widget labels, help texts, st.table cells."""
    bodies = []
    for kind in MARKDOWN_KINDS:
        bodies += [str(e.value) for e in at.get(kind)]
    for element in at.metric:
        bodies += [element.label, element.proto.help]
    for kind in ("button", "download_button", "slider", "number_input", "text_input", "selectbox", "radio",
                 "checkbox", "toggle", "file_uploader", "camera_input"):
        for element in at.get(kind):
            bodies += [getattr(element.proto, "label", ""), getattr(element.proto, "help", "")]
    for table in at.table:
        frame = table.value
        bodies += [str(v) for v in frame.to_numpy().ravel()] + [str(c) for c in frame.columns] + \
            [str(i) for i in frame.index]
    return [b for b in bodies if b]


def assert_plain_everywhere(at: AppTest, *texts: str) -> str:
    """No Markdown body holds one of ``texts`` unescaped, and each is shown (escaped) somewhere;
    returns everything shown, resolved as the browser would show it."""
    bodies = markdown_bodies(at)
    for text in texts:
        raw = [b for b in bodies if text in b and plain(text) not in b]
        assert not raw, f"{text!r} reaches Markdown unescaped: {raw}"
        assert any(plain(text) in b for b in bodies), f"{text!r} is not shown: {bodies}"
    return "\n".join(shown(b) for b in bodies)


BAIT_NAME = "![p](http://127.0.0.1:9/x.png) [click](http://127.0.0.1:9/y) :red[Ann] # *Lee*"
BAIT_FILE = "# [x](http://127.0.0.1:9/f) *bold* :material/home:.jpg"
ENROLLED = "Serena_Williams"  # not one of the session model's people: only the gallery can name her


@pytest.fixture()
def hostile_gallery_env(monkeypatch, tmp_path, trained, recognizer):
    """The session model, and a gallery of its own where Serena Williams is enrolled under
    :data:`BAIT_NAME` (with :data:`BAIT_NOTE`); the app's Recognizer reuses the session's detector
    and backbone."""
    from facerec_core.gallery import GalleryStore, enroll

    settings = trained[0].replace(data_dir=tmp_path / "data")
    with GalleryStore.open(settings) as store:
        report = enroll(store, recognizer, BAIT_NAME,
                        [lfw_photo(settings.lfw_dir, ENROLLED, i) for i in (1, 2, 3, 4, 5)], notes="**note**")
    assert report.added >= 3, report.summary()
    apply_env(monkeypatch, settings_env(settings))
    import facerec_core.recognizer as recognizer_module

    monkeypatch.setattr(recognizer_module, "FaceDetector", lambda *a, **k: recognizer.detector)
    monkeypatch.setattr(recognizer_module, "load_backbone", lambda *a, **k: recognizer.backbone)
    return settings


def test_recognize_shows_a_hostile_name_and_file_name_as_text(hostile_gallery_env, lfw_dir, blank_png):
    photo = lfw_photo(lfw_dir, ENROLLED, 10).read_bytes()
    at = pages_tests.open_page("pages/recognize.py")
    at.file_uploader[0].set_value([(BAIT_FILE, photo, "image/jpeg"),
                                   ("![c](http://127.0.0.1:9/c).jpg", b"\xff\xd8\xff not a JPEG", "image/jpeg"),
                                   ("`$x$`.png", blank_png, "image/png")]).run()
    pages_tests.no_exception(at)
    table = at.dataframe[0].value
    assert table["identity"].tolist() == [BAIT_NAME]  # a dataframe cell: plain text as it is
    assert BAIT_NAME in table["best matches"].iloc[0]
    everything = assert_plain_everywhere(at, BAIT_NAME, BAIT_FILE, "![c](http://127.0.0.1:9/c).jpg", "`$x$`.png")
    assert f"#### {BAIT_FILE}" in everything  # the heading shows the file name
    assert f"1 face: 1 **{BAIT_NAME}** (" in everything  # the summary: the face's number, the name in bold
    assert "![c](http://127.0.0.1:9/c).jpg** could not be read" in everything
    assert "No face found in **`$x$`.png**" in everything
    # the name drawn on the annotated picture and the file names offered for download are as given
    assert [b.proto.label for b in at.download_button][:2] == ["Annotated image (PNG)", "Results (JSON)"]


def test_verify_quotes_hostile_file_names_as_text(trained_env, lfw_dir, blank_png):
    name = "[x](http://127.0.0.1:9/v) _a_.png"
    at = pages_tests.open_page("pages/verify.py")
    at.file_uploader[0].set_value((name, lfw_photo(lfw_dir, "Colin_Powell", 1).read_bytes(), "image/jpeg"))
    at.file_uploader[1].set_value(("<b>blank</b>.png", blank_png, "image/png")).run()
    pages_tests.no_exception(at)
    everything = assert_plain_everywhere(at, name, "<b>blank</b>.png")
    assert f"(first: {name}, second: <b>blank</b>.png)" in everything


def test_dataset_explorer_quotes_a_hostile_query_as_text(trained_env):
    query = "zz ![q](http://127.0.0.1:9/q) :red[x]"
    at = pages_tests.open_page("pages/dataset_explorer.py")
    at.text_input(key="explorer_query").set_value(query).run()
    pages_tests.no_exception(at)
    everything = assert_plain_everywhere(at, query)
    assert f"Nobody in LFW matches “{query}”." in everything


def _hostile_artifacts(settings, directory: Path) -> dict[str, str]:
    """The session model saved again with a report and manifest whose strings are hostile (as a
    model trained on a folder of such names, or a file written by another tool, would have)."""
    from facerec_core.artifacts import load_artifacts, save_artifacts

    identifier, manifest, report = load_artifacts(settings.artifacts_dir)
    bait = {"person": "![pp](http://127.0.0.1:9/pp) Per_Son", "note": "calibrated *on* [n](http://127.0.0.1:9/n)",
            "source": "**LFW** <img src=http://127.0.0.1:9/s>", "kind": "svm|`x`", "key": "brand_new_$x$_rate"}
    report["per_person"][0]["person"] = bait["person"]
    report["most_confused"] = [{"true": bait["person"], "predicted": "Colin_Powell", "count": 2}]
    report["open_set"]["calibration"] = bait["note"]
    report["open_set"][bait["key"]] = 0.25
    report["identifiers"][bait["kind"]] = dict(report["identifiers"][report["chosen_identifier"]])
    fresh = {k: v for k, v in manifest.items() if k not in ("files", "created", "versions", "format_version")}
    fresh["training_data"] = {**fresh["training_data"], "source": bait["source"]}
    fresh["hyperparameters"] = {"C": "[c](http://127.0.0.1:9/c)"}
    save_artifacts(directory, identifier, fresh, report)
    return bait


def test_model_metrics_and_home_show_hostile_report_strings_as_text(trained_env, tmp_path, monkeypatch):
    bait = _hostile_artifacts(trained_env, tmp_path / "artifacts")
    monkeypatch.setenv("FACEREC_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    at = pages_tests.open_page("pages/model_metrics.py")
    assert_plain_everywhere(at, bait["note"], bait["source"], "SVM|`X`", "brand new $x$ rate",
                            "C=[c](http://127.0.0.1:9/c)")
    per_person = pages_tests.frame_with_column(at, "train_images")
    # a dataframe cell: as it is, with the display name's spaces for underscores
    assert display_name(bait["person"]) == "![pp](http://127.0.0.1:9/pp) Per Son"
    assert display_name(bait["person"]) in per_person["person"].tolist()

    at.switch_page("pages/home.py").run()
    pages_tests.no_exception(at)
    everything = assert_plain_everywhere(at, bait["source"])
    assert f"({bait['source']}, at least" in everything


def test_home_quotes_a_hostile_backbone_and_training_error_as_text(trained_env, tmp_path, monkeypatch):
    from facerec_core.artifacts import MANIFEST, load_artifacts, save_artifacts

    identifier, manifest, report = load_artifacts(trained_env.artifacts_dir)
    fresh = {k: v for k, v in manifest.items() if k not in ("files", "created", "versions", "format_version")}
    fresh["backbone"] = "`facenet` ![b](http://127.0.0.1:9/b)"
    save_artifacts(tmp_path / "artifacts", identifier, fresh, report)
    assert (tmp_path / "artifacts" / MANIFEST).is_file()
    monkeypatch.setenv("FACEREC_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    at = pages_tests.open_page("pages/home.py")
    everything = assert_plain_everywhere(at, fresh["backbone"])
    assert f"trained with the {fresh['backbone']} backbone" in everything


def test_training_failure_message_is_shown_as_text(empty_env, lfw_dir, monkeypatch):
    import dashboard.training_job as training_job

    message = "bad ![x](http://127.0.0.1:9/t) :red[y]"

    def failing_train(settings, config, *, on_stage, should_stop):
        raise ValueError(message)

    job = training_job.TrainingJob(train_fn=failing_train)
    monkeypatch.setattr(training_job, "get_training_job", lambda: job)
    monkeypatch.setenv("FACEREC_LFW_DIR", str(lfw_dir))
    at = pages_tests.open_page("pages/home.py")
    at.button[0].click().run()
    job.wait(timeout=30)
    if "Training failed" not in pages_tests.texts(at.error):  # the run after the click may not see the end yet
        at.run()
    pages_tests.no_exception(at)
    everything = assert_plain_everywhere(at, message)
    assert f"Training failed: ValueError: {message}" in everything


def test_live_webcam_panel_lines_show_hostile_names_as_text():
    from dashboard.webcam_support import in_view_line, recently_seen_lines
    from facerec_core.video import InView

    name = "![w](http://127.0.0.1:9/w) :green[ok]"
    line = in_view_line(InView(track_id=1, name=name, confidence=0.91, seconds=3.0, known=True))
    assert plain(f"{name} (0.91)") in line and name not in line
    assert shown(line) == f":green[●] **{name} (0.91)** · 3 s"
    assert in_view_line(InView(track_id=2, name="unknown", confidence=None, seconds=1.0, known=False)) == \
        ":red[●] **unknown** · 1 s"
    lines = recently_seen_lines({name: 4.0, "Colin_Powell": 1.0})
    assert lines == [f"- {plain(name)} (4 s ago)", "- Colin Powell (1 s ago)"]


# ---- a real browser on the Recognize page -----------------------------------------------------
@pytest.mark.browser
def test_recognize_in_chromium_fetches_nothing_a_name_points_at(monkeypatch, tmp_path, trained, recognizer, lfw_dir,
                                                                run_env):
    """A person enrolled under a name with Markdown image and link syntax pointing at a local
    server: after a match, the page shows the name as text and the browser fetched nothing."""
    from facerec_core.gallery import GalleryStore, enroll

    with counting_server() as (port, paths):
        name = _bait(port)
        settings = trained[0].replace(data_dir=tmp_path / "data")
        with GalleryStore.open(settings) as store:
            enroll(store, recognizer, name, [lfw_photo(lfw_dir, ENROLLED, i) for i in (1, 2, 3, 4, 5)])
        apply_env(monkeypatch, settings_env(settings))
        env = {k: v for k, v in run_env.items() if not k.startswith("FACEREC_")}
        env.update(settings_env(settings))
        upload = tmp_path / "upload"
        upload.mkdir()
        photo = upload / "[f](http:127.0.0.1) photo.jpg"
        shutil.copy(lfw_photo(lfw_dir, ENROLLED, 10), photo)
        with streamlit_server(env, tmp_path / "streamlit.log") as url, \
                chromium_page([], {"width": 1400, "height": 1600}) as page:
            goto_signed_in(page, f"{url}/recognize", "operator")  # issue #16: sign in first
            page.get_by_text("Upload one or more photos to start.").wait_for()
            page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(photo))
            page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=SLOW_MS)
            page.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')", timeout=SLOW_MS)
            page.wait_for_timeout(1500)
            summary = page.locator('[data-testid="stMain"] [data-testid="stMarkdownContainer"] strong').first
            assert summary.inner_text().replace(WORD_JOINER, "") == name
            heading = page.locator('[data-testid="stMarkdownContainer"] h4').first
            assert heading.inner_text().replace(WORD_JOINER, "") == photo.name
            links = page.locator('[data-testid="stMain"] [data-testid="stMarkdownContainer"] a[href^="http"]')
            assert links.count() == 0
            assert page.locator(f'img[src*="127.0.0.1:{port}"]').count() == 0
            page.screenshot(path=str(tmp_path / "recognize_hostile.png"), full_page=True)
        assert paths == [], f"the browser fetched {paths} from the address in a name"
