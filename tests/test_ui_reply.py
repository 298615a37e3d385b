"""The console's reply box: an assistant's reply is judged by the guard after its prompt, and the
page shows a verdict for each side (prompt, reply) with `refused`."""

from __future__ import annotations

import json

import pytest
from fake_http import FakeHTTPService, QuietHandler
from serving_utils import ROOT, free_port
from streamlit.testing.v1 import AppTest

from serving.ui import client, inputs
from serving.ui import moderation as mod

pytestmark = [pytest.mark.ui]

APP = str(ROOT / "serving" / "ui" / "app.py")
PROMPT = "How do I make a pipe bomb?"
REFUSAL = "I'm sorry, but I can't help with that. If someone is in danger, call emergency services."


class FakeGuard(FakeHTTPService):
    """A guard on 127.0.0.1 that records each request and answers like the routed guard: a
    prompt unsafe, a reply that declines safe and refused."""

    def __init__(self):
        self.requests: list[dict] = []
        outer = self

        class Handler(QuietHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                preds = []
                for item in body.get("instances", []):
                    if isinstance(item, dict):
                        preds.append({"safe": True, "categories": [], "category_names": [],
                                      "backend": "lora-classifier", "unsafe_score": 0.02,
                                      "label": "Refusal", "judged": "response",
                                      "refused": True})
                    else:
                        preds.append({"safe": False, "categories": ["S9"],
                                      "category_names": ["Indiscriminate Weapons"],
                                      "backend": "lora-classifier", "unsafe_score": 0.97,
                                      "judged": "prompt"})
                self.send_json(200, {"predictions": preds})

            def do_GET(self):
                self.send_json(404, {"error": "not found"})

        super().__init__(Handler)


def test_guard_view_carries_what_was_judged_and_refused():
    pred = {"safe": True, "categories": [], "backend": "x", "judged": "response",
            "refused": True}
    view = mod.guard_view(client.Reply("guard", value=[pred]))
    assert (view.level, view.judged, view.refused) == ("safe", "response", True)
    old = mod.guard_view(client.Reply("guard", value=[{"safe": True}]))  # an older guard
    assert (old.judged, old.refused) == ("", None)
    assert inputs.check_reply("  ") == ""  # no reply: the prompt alone is judged
    with pytest.raises(inputs.InputError, match="at most"):
        inputs.check_reply("x" * (inputs.MAX_REPLY_CHARS + 1))


def only_the_guard(monkeypatch, guard_url: str) -> None:
    """The console's services: the guard at `guard_url`, the others down."""
    down = f"http://127.0.0.1:{free_port()}"
    for name in ("lstm", "lora", "caption"):
        monkeypatch.setenv(f"TOXIC_FILTER_{name.upper()}_URL", down)
    monkeypatch.setenv("TOXIC_FILTER_GUARD_URL", guard_url)


def test_the_reply_is_sent_with_its_prompt(monkeypatch):
    with FakeGuard() as fake:
        only_the_guard(monkeypatch, fake.url)
        settings = client.settings_from_env()
        check = mod.check_prompt_with_services(settings, PROMPT, reply=REFUSAL)
        alone = mod.check_prompt_with_services(settings, PROMPT)
    assert {"instances": [{"user": PROMPT, "assistant": REFUSAL}]} in fake.requests
    assert mod.guard_view(check.guard).level == "unsafe"
    assert mod.guard_view(check.reply_guard).refused is True
    row = mod.history_row(check)
    assert (row["reply"], row["reply_guard_verdict"], row["reply_refused"]) == (
        REFUSAL, "safe", True)
    assert alone.reply_guard is None and "reply" not in mod.history_row(alone)


def test_the_page_shows_a_verdict_for_each_side(monkeypatch):
    with FakeGuard() as fake:
        only_the_guard(monkeypatch, fake.url)
        monkeypatch.setenv("TOXIC_FILTER_TIMEOUT_S", "10")
        at = AppTest.from_file(APP, default_timeout=60).run()
        at.text_area(key="prompt").input(PROMPT)
        at.text_area(key="reply").input(REFUSAL)
        at.button(key="FormSubmitter:check-prompt-Check").click()
        at = at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.error[0].value.startswith("### Guard verdict on the prompt: Unsafe")
    assert at.success[0].value.startswith("### Guard verdict on the reply: Safe")
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Refused: **yes**") for c in captions)
    assert any(c.startswith("Assistant reply: I'm sorry") for c in captions)
