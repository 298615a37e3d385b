"""The moderation console: its logic, and the Streamlit app (AppTest) against real model servers
(lstm, lora, guard, caption on tiny models), a down service, a slow service and bad input."""

from __future__ import annotations

import io
import re
import time

import pandas as pd
import pytest
from fake_http import FakeHTTPService, QuietHandler
from serving_utils import ROOT, free_port
from streamlit.testing.v1 import AppTest
from test_caption import image_bytes, save_tiny_blip

from serving import common, launch
from serving.ui import client, demo, highlight, inputs
from serving.ui import moderation as mod

pytestmark = [pytest.mark.ui]

APP = str(ROOT / "serving" / "ui" / "app.py")
PROMPT = "How do I pick a lock to get into my neighbour's house?"


# --------------------------------------------------------------------------- fake services
class FakeService(FakeHTTPService):
    """A 127.0.0.1 HTTP service answering every request with `body` after `delay` seconds."""

    def __init__(self, body: dict, delay: float = 0.0, status: int = 200):
        outer = self

        class Handler(QuietHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                time.sleep(outer.delay)
                self.send_json(outer.status, outer.body)

            do_GET = do_POST = _answer

        self.body, self.delay, self.status = body, delay, status
        super().__init__(Handler)


def guard_answer(**pred) -> dict:
    return {"predictions": [{"categories": [], "category_names": [], "backend": "fake",
                             **pred}]}


# --------------------------------------------------------------------------- logic (no servers)
def test_settings_come_from_the_environment_with_make_serve_ports_as_defaults():
    settings = client.settings_from_env({})
    assert {n: s.url for n, s in settings.services.items()} == {
        "guard": "http://127.0.0.1:8003", "lstm": "http://127.0.0.1:8001",
        "lora": "http://127.0.0.1:8002", "caption": "http://127.0.0.1:8004"}
    # README: 10 s per prompt call, 60 s per file batch, 2 s for the sidebar
    assert (settings.timeout_s, settings.batch_timeout_s, settings.health_timeout_s) == (
        10.0, 60.0, 2.0)
    settings = client.settings_from_env({"TOXIC_FILTER_LORA_URL": "http://lora.ns.svc",
                                         "TOXIC_FILTER_TIMEOUT_S": "2.5",
                                         "TOXIC_FILTER_BATCH_TIMEOUT_S": "nope"})
    assert settings.services["lora"].url == "http://lora.ns.svc"
    assert settings.timeout_s == 2.5 and settings.batch_timeout_s == 60.0  # junk: the default


def test_guard_view_never_shows_an_unverified_text_as_safe():
    ok = client.Reply("guard", value=[{"safe": True, "categories": [], "backend": "b",
                                       "unsafe_score": 0.1}])
    assert mod.guard_view(ok).level == "safe"
    unsafe = client.Reply("guard", value=[{"safe": False, "categories": ["S1", "S10"],
                                           "category_names": ["Violent Crimes", "Hate"],
                                           "backend": "b", "unsafe_score": 0.9}])
    view = mod.guard_view(unsafe)
    assert (view.level, view.categories, view.unsafe_score) == (
        "unsafe", ("S1 Violent Crimes", "S10 Hate"), 0.9)
    for pred, why in [({"safe": None, "reason": "unknown script"}, "unknown script"),
                      ({"safe": None, "error": "unreadable output"}, "unreadable output")]:
        view = mod.guard_view(client.Reply("guard", value=[pred]))
        assert view.level == "unassessed" and view.verdict == "cannot assess"
        assert why in view.detail
    for pred in ({"safe": "yes"}, {"categories": []}):
        assert mod.guard_view(client.Reply("guard", value=[pred])).level == "error"
    down = client.Reply("guard", error="guard is down", down=True)
    assert mod.guard_view(down).level == "error" and mod.guard_view(down).verdict == "error"


def test_input_checks_say_what_is_wrong():
    assert inputs.check_prompt("  hi ") == "hi"
    with pytest.raises(inputs.InputError, match="empty"):
        inputs.check_prompt(" \n ")
    with pytest.raises(inputs.InputError, match="at most 10,000"):
        inputs.check_prompt("x" * (inputs.MAX_PROMPT_CHARS + 1))
    assert inputs.check_image("a.png", image_bytes(fmt="PNG")) == "PNG"
    assert inputs.check_image("a.jpg", image_bytes(fmt="JPEG")) == "JPEG"
    assert inputs.check_image("a.webp", image_bytes(fmt="WEBP")) == "WebP"
    for data in (b"hello", image_bytes(fmt="GIF"), image_bytes(fmt="PNG")[:30]):
        with pytest.raises(inputs.InputError, match="not a PNG, JPEG or WebP"):
            inputs.check_image("a.png", data)
    with pytest.raises(inputs.InputError, match=r"at most 5\.0 MB"):
        inputs.check_image("big.png", b"\x89PNG" + b"\0" * inputs.MAX_IMAGE_BYTES)
    assert inputs.joined_text("Is this ok?", "A park.") == "Is this ok?. A park."
    assert inputs.joined_text("Is this ok?", "") == "Is this ok?"


def test_csv_checks_and_text_columns():
    df = inputs.read_csv(b"id,score,query,note\n1,0.5,hello there,\n2,0.7,how are you,x\n")
    assert inputs.text_columns(df) == ["query", "note"]
    assert mod.row_texts(df, "query", "note") == ["hello there", "how are you. x"]
    cases = [(b"a,b\n1,2\n3,4\n", "no text column"), (b"", "empty"), (b"a,b\n", "no rows"),
             ("query\ncaf\u00e9\n".encode("latin-1"), "not UTF-8"),
             (("query\n" + "hi\n" * (inputs.MAX_CSV_ROWS + 1)).encode(), "at most 10,000 rows")]
    for data, message in cases:
        with pytest.raises(inputs.InputError, match=message):
            inputs.read_csv(data)


def test_user_text_is_shown_literally_not_as_markdown():
    assert inputs.md_escape("Costs $5 and $10, **now** [x](y) <b>") == (
        r"Costs \$5 and \$10, \*\*now\*\* \[x\](y) \<b\>")
    assert inputs.md_escape("# title\n- item\n2. two\nplain-text_x") == (
        "\\# title\n\\- item\n2\\. two\nplain-text\\_x")
    png = image_bytes(fmt="PNG")
    broken = png[:-20] + bytes(20)  # the header is fine, the end is not
    with pytest.raises(inputs.InputError, match="not a PNG, JPEG or WebP"):
        inputs.check_image("broken.png", broken)


def test_highlight_escapes_and_shades_by_attribution():
    exp = {"text": "<b>kill</b> them", "words": [
        {"word": "b", "start": 1, "end": 2, "attribution": 0.0},
        {"word": "kill", "start": 3, "end": 7, "attribution": 0.5},
        {"word": "them", "start": 12, "end": 16, "attribution": -0.25}]}
    out = highlight.highlight_html(exp)
    assert "<b>" not in out and "&lt;" in out
    assert re.search(r"rgba\(220, 38, 38, 0\.85\)[^>]*>kill</span>", out)  # largest: red, full
    assert re.search(r"rgba\(37, 99, 235, 0\.42\)[^>]*>them</span>", out)  # against: blue, half
    assert highlight.top_words(exp) == [("kill", 0.5)]


def test_words_are_coloured_by_direction_not_by_the_predicted_label():
    red, blue = "rgba(220, 38, 38", "rgba(37, 99, 235"
    # a Safe verdict: the reassuring word pushed towards the label (Safe) -> towards safe: blue
    safe = {"label": "Safe", "text": "bake bread", "words": [
        {"word": "bake", "start": 0, "end": 4, "attribution": -0.1},
        {"word": "bread", "start": 5, "end": 10, "attribution": 0.3}]}
    out = highlight.highlight_html(safe)
    assert re.search(re.escape(blue) + r"[^>]*>bread</span>", out)
    assert re.search(re.escape(red) + r"[^>]*>bake</span>", out)
    assert highlight.top_words(safe, towards="safe") == [("bread", 0.3)]
    assert highlight.top_words(safe, towards="unsafe") == [("bake", 0.1)]
    # an unsafe verdict: the word that pushed towards its label is red
    unsafe = {**safe, "label": "Violent Crimes"}
    assert re.search(re.escape(red) + r"[^>]*>bread</span>", highlight.highlight_html(unsafe))
    # the server's unsafe_attribution wins when given (exact for several unsafe classes)
    exact = {**unsafe, "words": [{**safe["words"][1], "unsafe_attribution": -0.2}]}
    assert re.search(re.escape(blue) + r"[^>]*>bread</span>", highlight.highlight_html(exact))


def test_the_verdict_says_what_the_text_is_written_in():
    pred = {"safe": True, "categories": [], "script": "latin", "language": "it",
            "language_confidence": 0.871}
    assert mod.guard_view(client.Reply("guard", value=[pred])).language == (
        "Italian (Latin script, 87%)")
    assert mod.language_text({"script": "latin", "language": "und",
                              "language_confidence": 0.01}) == (
        "language undetermined (Latin script)")
    assert mod.language_text({"script": "cyrillic"}) == "script: Cyrillic script"
    assert mod.language_text({}) == ""


def test_flag_rates_count_only_assessed_rows():
    results = pd.DataFrame({"guard_verdict": ["unsafe", "unsafe", "safe", "cannot assess",
                                              None],
                            "guard_categories": ["S1 Violent Crimes", "", "", "", ""]})
    rates = mod.flag_rates(results).set_index("category")["flag_rate"].to_dict()
    assert rates == {"any (unsafe)": 2 / 3, "S1 Violent Crimes": 1 / 3, "no category": 1 / 3}


def test_client_errors_are_one_line_messages():
    down = client.Service("lstm", f"http://127.0.0.1:{free_port()}")
    reply = client.classify(down, ["hi"], timeout=1)
    assert reply.down and reply.error.startswith("lstm is down: cannot connect")
    with FakeService({"x": 1}, delay=2.0) as slow:
        reply = client.classify(client.Service("lora", slow.url), ["hi"], timeout=0.5)
        assert reply.down and reply.error.startswith("lora did not answer within 0.5 s")
    with FakeService({"error": "expected a non-empty text"}, status=400) as bad:
        reply = client.classify(client.Service("lstm", bad.url), ["hi"])
        assert not reply.down and reply.status == 400
        assert reply.error == "lstm refused the request (400): expected a non-empty text"
    with FakeService({"predictions": []}) as odd:
        reply = client.guard(client.Service("guard", odd.url), ["hi"])
        assert reply.error == "guard answered without 1 'predictions' objects"


def test_demo_points_the_console_at_the_launchers_ports():
    args = demo.build_parser().parse_args(["--models_dir", "x", "--port", "lora=9002",
                                           "--port=guard=9003"])
    env = demo.service_env({**common.PORTS, **dict(args.port)}, base={})
    assert env["TOXIC_FILTER_LORA_URL"] == "http://127.0.0.1:9002"
    assert env["TOXIC_FILTER_GUARD_URL"] == "http://127.0.0.1:9003"
    assert env["TOXIC_FILTER_LSTM_URL"] == "http://127.0.0.1:8001"
    command = demo.streamlit_command(8501)
    assert command[3:5] == ["run", str(demo.APP)]
    assert "--browser.gatherUsageStats" in command and "--client.showErrorDetails" in command


def test_demo_starts_nothing_when_the_servers_cannot_start(tmp_path, caplog):
    ui_port = free_port()
    code = demo.main(["--ui_port", str(ui_port), "--pipeline_root", str(tmp_path),
                      "--port", f"lstm={free_port()}", "--guard_fallback", "none"])
    assert code == 2  # no models, no guard: nothing was started
    assert "GUARD_FALLBACK=none" in caplog.text and "make run-guard" in caplog.text
    assert launch.port_free(ui_port)


# --------------------------------------------------------------------------- the app
@pytest.fixture(scope="module")
def servers(tiny_lstm_dir, tiny_lora_dir, tmp_path_factory):
    """lstm, lora, guard (offline backend on the lora model) and caption (tiny BLIP) processes."""
    # seed 4: this tiny BLIP's greedy caption is a few words (seed 0's is empty)
    blip = save_tiny_blip(tmp_path_factory.mktemp("ui-blip") / "blip", seed=4)
    specs = [launch.ServerSpec(name, f"serving.{name}", free_port(), args) for name, args in [
        ("lstm", ("--model_dir", str(tiny_lstm_dir))),
        ("lora", ("--model_dir", str(tiny_lora_dir))),
        ("guard", ("--classifier_dir", str(tiny_lora_dir))),
        ("caption", ("--model_dir", str(blip), "--device", "cpu"))]]
    with launch.Servers(specs, log_stream=None):  # started together, like `make serve`
        yield {spec.name: spec.url() for spec in specs}


@pytest.fixture
def app(servers, monkeypatch):
    """An AppTest factory: the console with the real servers, `overrides` name -> URL."""

    def make(**overrides: str) -> AppTest:
        for name, url in {**servers, **overrides}.items():
            monkeypatch.setenv(f"TOXIC_FILTER_{name.upper()}_URL", url)
        monkeypatch.setenv("TOXIC_FILTER_TIMEOUT_S", "20")
        at = AppTest.from_file(APP, default_timeout=90)
        return at.run()

    return make


def check(at: AppTest, prompt: str, description: str = "",
          image: tuple[str, bytes, str] | None = None) -> AppTest:
    at.text_area(key="prompt").input(prompt)
    at.text_input(key="description").input(description)
    if image is not None:
        at.file_uploader(key="image").set_value(image)
    at.button(key="FormSubmitter:check-prompt-Check").click()
    return at.run()


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def no_trace(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not any("Traceback" in str(m.value) for m in [*at.markdown, *at.error])


def test_sidebar_shows_each_services_health_and_model(app):
    at = app()
    no_trace(at)
    status = texts(at.sidebar.markdown)
    for name in ("guard", "lstm", "lora", "caption"):
        assert any(s.startswith(f"**{name}** :green-badge[ready]") for s in status), status
    cards = "\n".join(status)
    assert "model: lora (bert)" in cards and "model: lstm" in cards
    assert "trained: 20" in cards and "validation: accuracy" in cards
    assert "v2 tensors: in user, assistant" in cards  # the guard: its v2 metadata


def test_a_prompt_gets_the_guard_verdict_first_then_both_classifiers_with_charts(app, servers):
    at = check(app(), PROMPT, description="A dark street at night")
    no_trace(at)
    text = f"{PROMPT}. A dark street at night"
    assert f"Checked text: {text}" in texts(at.caption)
    expected = client.guard(client.Service("guard", servers["guard"]), [text]).value[0]
    view = mod.guard_view(client.Reply("guard", value=[expected]))
    box = at.error if view.level == "unsafe" else at.success
    assert box[0].value.startswith(f"### Guard verdict: {view.headline}")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["unsafe_score (P(unsafe))"] == f"{expected['unsafe_score']:.3f}"
    assert metrics["guard backend"] == "lora-classifier"
    for name in ("lstm", "lora"):
        pred = client.classify(client.Service(name, servers[name]), [text]).value[0]
        assert metrics[f"{name} label"] == pred["label"]
    assert texts(at.subheader) == ["lstm", "lora"]
    assert len(at.get("vega_lite_chart")) == 2  # one probability chart per classifier
    why = [m.value for m in at.markdown if m.value.startswith("<span")]
    assert len(why) == 2 and all("neighbour" in w for w in why)  # highlighted prompt, twice
    # the guard's verdict comes before the classifiers on the page
    tab = at.tabs[0]
    kinds = [c.type for c in tab.children.values()]
    assert kinds.index("error" if view.level == "unsafe" else "success") < kinds.index(
        "flex_container")


def test_an_image_is_captioned_and_joined_to_the_prompt(app, servers):
    png = image_bytes(fmt="PNG")
    caption = client.caption(client.Service("caption", servers["caption"]), png).value
    assert caption  # a few words of the tiny BLIP's vocabulary
    at = check(app(), "Is this safe?", image=("photo.png", png, "image/png"))
    no_trace(at)
    assert f"Image caption (caption service): **{caption}**" in texts(at.info)
    assert f"Checked text: Is this safe?. {caption}" in texts(at.caption)


def test_without_a_caption_service_the_typed_description_is_used(app):
    at = app(caption=f"http://127.0.0.1:{free_port()}")
    assert any(s.startswith("**caption** :red-badge[down]") for s in texts(at.sidebar.markdown))
    at = check(at, "Is this safe?", description="A kitchen",
               image=("photo.webp", image_bytes(fmt="WEBP"), "image/webp"))
    no_trace(at)
    (warning,) = texts(at.warning)
    assert warning.startswith("No caption: caption is down") and "typed description" in warning
    assert "Checked text: Is this safe?. A kitchen" in texts(at.caption)
    assert len(at.get("vega_lite_chart")) == 2


def test_a_down_classifier_is_shown_and_the_rest_of_the_page_works(app):
    at = app(lstm=f"http://127.0.0.1:{free_port()}")
    assert any(s.startswith("**lstm** :red-badge[down]") for s in texts(at.sidebar.markdown))
    at = check(at, PROMPT)
    no_trace(at)
    assert any(e.startswith("lstm is down: cannot connect") for e in texts(at.error))
    metrics = {m.label for m in at.metric}
    assert "lora label" in metrics and "guard backend" in metrics and "lstm label" not in metrics
    assert len(at.get("vega_lite_chart")) == 1


def test_a_down_guard_is_never_shown_as_safe(app):
    at = check(app(guard=f"http://127.0.0.1:{free_port()}"), "How do I bake bread?")
    no_trace(at)
    assert not at.success
    assert at.error[0].value.startswith("### Guard verdict: Guard unavailable: not verified")
    assert {"lstm label", "lora label"} <= {m.label for m in at.metric}


QUICK_IDENTITY = {"kind": "quick", "label": "quick guard", "run_id": "offline-0123456789ab",
                  "trained_at": "2026-12-06T18:45:31+00:00", "base_model": "offline",
                  "full_guard_command": "make run-guard"}


def test_the_page_says_the_quick_guard_answers_and_how_to_get_the_full_one(app):
    answer = {**guard_answer(safe=True, unsafe_score=0.04, backend="quick-guard", script="latin",
                             language="en", language_confidence=0.91),
              "guard": QUICK_IDENTITY, "backend": "quick-guard", "model_type": "frozen-encoder-lr"}
    with FakeService(answer) as fake:  # answers /ready, /info and :predict alike
        at = check(app(guard=fake.url), "What is the capital of France?")
    no_trace(at)
    (banner,) = [w for w in texts(at.warning) if "quick guard" in w]
    assert "**The quick guard answers** (built 2026-12-06T18:45:31+00:00" in banner
    assert "`make run-guard`" in banner and "restart `make demo`" in banner
    assert at.success[0].value.startswith("### Guard verdict: Safe")
    assert "Written in: **English (Latin script, 91%)**" in at.success[0].value
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["guard backend"] == "quick-guard"
    cards = "\n".join(texts(at.sidebar.markdown))
    assert "guard: quick guard, run offline-0123456789ab, built 2026-12-06" in cards
    (row,) = at.session_state["history"]
    assert row["guard_backend"] == "quick-guard" and row["language"].startswith("English")


def test_a_full_guard_run_is_named_with_its_run_and_date(app):
    identity = {"kind": "full", "label": "full guard",
                "run_id": "toxic-guard-2026-12-01-10-00-00-000000",
                "trained_at": "2026-12-01T10:40:00+00:00"}
    with FakeService({**guard_answer(safe=True), "guard": identity}) as fake:
        at = app(guard=fake.url)
    no_trace(at)
    assert ("Guard: **full guard**, run `toxic-guard-2026-12-01-10-00-00-000000`, trained "
            "2026-12-01T10:40:00+00:00.") in texts(at.info)
    assert not [w for w in texts(at.warning) if "quick guard" in w]


@pytest.fixture
def launcher_status(tmp_path, monkeypatch):
    """A status file as `make demo`'s launcher keeps it (this process as the launcher)."""
    path = tmp_path / "launch-status.json"
    status = launch.LaunchStatus(path)
    monkeypatch.setenv(launch.STATUS_ENV, str(path))
    return status


def test_while_the_launcher_starts_the_services_the_page_says_starting(app, launcher_status):
    launcher_status.update(warnings=["guard: no prompt-guard run found: the QUICK guard answers",
                                     "lstm not started: not trained yet (make run)"])
    launcher_status.service("guard", launch.STARTING, "embedding prompts: 640 of 7,863")
    launcher_status.service("lstm", launch.NOT_STARTED, "not trained yet (make run)")
    at = app(guard=f"http://127.0.0.1:{free_port()}", lstm=f"http://127.0.0.1:{free_port()}")
    no_trace(at)
    status = texts(at.sidebar.markdown)
    assert any(s.startswith("**guard** :blue-badge[starting]") for s in status), status
    assert any(s.startswith("**lstm** :gray-badge[not started]") for s in status), status
    assert any(s.startswith("**lora** :green-badge[ready]") for s in status), status
    captions = "\n".join(texts(at.sidebar.caption))
    assert "embedding prompts: 640 of 7,863" in captions and "not trained yet" in captions
    assert "refreshes itself" in captions
    (starting,) = [i for i in texts(at.info) if i.startswith("**The guard is starting**")]
    assert "embedding prompts: 640 of 7,863" in starting and "refreshes itself" in starting
    (warned,) = [w for w in texts(at.warning) if w.startswith("**The launcher warns**")]
    assert "QUICK guard" in warned and "lstm not started" in warned
    # a check skips the service that was not started and says why, without an error
    at = check(at, PROMPT)
    no_trace(at)
    assert "lstm not started: not trained yet (make run)" in texts(at.info)
    assert not any("lstm" in e for e in texts(at.error))
    assert "lora label" in {m.label for m in at.metric}
    # the guard has started: the page says ready, and no longer refreshes itself
    launcher_status.service("guard", launch.READY, "")
    at = app(guard=f"http://127.0.0.1:{free_port()}", lstm=f"http://127.0.0.1:{free_port()}")
    status = texts(at.sidebar.markdown)
    assert any(s.startswith("**guard** :red-badge[down]") for s in status), status
    assert "refreshes itself" not in "\n".join(texts(at.sidebar.caption))


def test_a_guard_that_cannot_assess_shows_its_reason(app):
    answer = guard_answer(safe=None, unsafe_score=None, reason="unknown script")
    with FakeService(answer) as fake:
        at = check(app(guard=fake.url), "Ꭰ Ꭱ Ꭲ")
    no_trace(at)
    assert not at.success
    warning = texts(at.warning)[0]  # first; the classifiers may not read this script either
    assert warning.startswith("### Guard verdict: Cannot assess: not verified")
    assert "unknown script" in warning


def test_a_text_a_classifier_cannot_read_shows_its_reason(app):
    answer = {"predictions": [{"label": None, "probabilities": None, "readable": False,
                               "reason": "unknown script"}]}
    with FakeService(answer) as fake:
        at = check(app(lstm=fake.url), "How do I bake bread?")
        no_trace(at)
        assert "lstm cannot read this text: unknown script" in texts(at.warning)
        assert "lora label" in {m.label for m in at.metric}
        (row,) = at.session_state["history"]
        assert row["lstm_label"] is None and "lstm cannot read the text" in row["errors"]


def test_a_slow_service_times_out_and_the_rest_of_the_page_works(app, monkeypatch):
    with FakeService({"predictions": []}, delay=5.0) as slow:
        monkeypatch.setenv("TOXIC_FILTER_HEALTH_TIMEOUT_S", "0.5")
        at = app(lora=slow.url)
        monkeypatch.setenv("TOXIC_FILTER_TIMEOUT_S", "1")
        assert any(s.startswith("**lora** :red-badge[no answer]")
                   for s in texts(at.sidebar.markdown))
        assert "lora did not answer within 0.5 s" in "\n".join(texts(at.sidebar.caption))
        at = check(at, PROMPT)  # answered by the 1 s timeout, not by the 5 s service
    no_trace(at)
    assert "lora did not answer within 1 s" in "\n".join(texts(at.error))
    assert "lstm label" in {m.label for m in at.metric}


@pytest.mark.parametrize("prompt, image, message", [
    ("   ", None, "The prompt is empty"),
    ("x" * (inputs.MAX_PROMPT_CHARS + 1), None, "the console checks at most 10,000"),
    ("hi", ("big.png", b"\x89PNG\r\n" + b"\0" * (6 * 1024 * 1024), "image/png"),
     "big.png is 6.0 MB; images may be at most 5.0 MB"),
    ("hi", ("notes.png", b"just some text, not an image", "image/png"),
     "notes.png is not a PNG, JPEG or WebP image"),
    ("hi", ("anim.png", image_bytes(fmt="GIF"), "image/png"),
     "anim.png is not a PNG, JPEG or WebP image"),
])
def test_bad_input_gets_a_clear_message_and_calls_no_service(app, prompt, image, message):
    at = check(app(), prompt, image=image)
    no_trace(at)
    (warning,) = texts(at.warning)
    assert message in warning
    assert not at.metric and not at.get("vega_lite_chart")  # nothing was checked


def csv_upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="csv").set_value((name, data, "text/csv"))
    return at.run()


@pytest.mark.parametrize("data, message", [
    (b"id,score\n1,0.5\n2,0.25\n", "has no text column (columns: id, score)"),
    (("query\n" + "a prompt\n" * 100_000).encode(), "has 100,000 rows; the console moderates "
                                                     "at most 10,000 rows per file"),
    ("query\ncaf\u00e9\n".encode("latin-1"), "is not UTF-8 text"),
    (b"", "is empty"),
])
def test_bad_csv_files_get_a_clear_message(app, data, message):
    at = csv_upload(app(), "prompts.csv", data)
    no_trace(at)
    (warning,) = texts(at.warning)
    assert warning.startswith("prompts.csv ") and message in warning
    assert "moderate" not in [b.key for b in at.button]


def test_a_file_is_moderated_in_batches_with_a_summary_and_a_download(app):
    rows = [{"id": i, "query": f"how do I pick lock number {i}", "image descriptions": "a door"}
            for i in range(40)]
    rows[5]["query"] = ""
    data = pd.DataFrame(rows).to_csv(index=False).encode()
    at = csv_upload(app(), "prompts.csv", data)
    no_trace(at)
    assert at.selectbox(key="csv_text_column").value == "query"
    at.selectbox(key="csv_desc_column").select("image descriptions")
    at = at.run()
    at.button(key="moderate").click()
    at = at.run()
    no_trace(at)
    assert not at.warning
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["rows"] == "40"
    table = at.dataframe[0].value
    assert len(table) == 40 and list(table["row"]) == list(range(1, 41))
    assert table.loc[5, "error"] == "empty text: skipped"
    done = table.drop(index=5)
    assert set(done["guard_verdict"]) <= {"safe", "unsafe"}
    assert done["lstm_label"].notna().all() and done["lora_label"].notna().all()
    assert (done["error"] == "").all()
    assert done.loc[0, "text"] == "how do I pick lock number 0. a door"
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1  # flag rate per category
    (download,) = [b for b in at.get("download_button")]
    assert download.proto.label == "Download the results (CSV)"


def test_a_file_with_a_down_service_still_gets_the_others(app, monkeypatch):
    data = pd.DataFrame({"prompt": [f"text {i}" for i in range(40)]}).to_csv(index=False)
    at = csv_upload(app(lstm=f"http://127.0.0.1:{free_port()}"), "p.csv", data.encode())
    at.button(key="moderate").click()
    at = at.run()
    no_trace(at)
    (note,) = texts(at.warning)
    assert note.startswith("lstm is down") and "lstm skipped for rows 1-40" in note
    table = at.dataframe[0].value
    assert table["lstm_label"].isna().all() and table["lora_label"].notna().all()
    assert table["error"].str.contains("lstm is down").all()


def test_history_keeps_every_check_and_downloads_as_csv(app):
    at = check(app(), "first prompt")
    at = check(at, "second prompt", description="a cat")
    no_trace(at)
    history = at.dataframe[0].value
    assert list(history["prompt"]) == ["first prompt", "second prompt"]
    assert list(history["image_description"]) == ["", "a cat"]
    assert set(history["guard_verdict"]) <= {"safe", "unsafe"}
    assert history["lstm_label"].notna().all() and history["lora_label"].notna().all()
    rows = pd.read_csv(io.BytesIO(mod.to_csv(history)))
    assert list(rows.columns[:3]) == ["checked_at", "prompt", "image_description"]
    at.button(key="clear_history").click()
    at = at.run()
    assert not at.dataframe
