"""The guard routes by the last turn: a prompt to the prompt model, an assistant's reply to the
response model (read in the context of its prompt), `safe: null` for a reply without one; the
bad inputs of a conversation; multi-turn v1/v2; long replies read whole; Llama Guard's turns."""

from __future__ import annotations

import json

import numpy as np
import pytest
from serving_utils import KeywordPredictor, assert_rejected, client_for, v1, v2, v2_outputs

from components.core import conversation
from components.core.errors import ModelDirError
from components.core.predict import Predictor
from components.core.reading import Reading
from serving import guard
from serving.llama_guard import build_prompt

pytestmark = pytest.mark.filterwarnings(
    "ignore::fastapi.exceptions.FastAPIDeprecationWarning")  # kserve 0.21 uses ORJSONResponse


class PromptPredictor(KeywordPredictor):
    """A prompt model (no Refusal class), keyword driven."""

    labels = ["Safe", "Violent Crimes", "other"]

    def row(self, text):
        return [0.1, 0.8, 0.1] if "attack" in text or "bomb" in text else [0.9, 0.05, 0.05]


class ResponsePredictor(KeywordPredictor):
    """A response model (Safe, Refusal, hazards): reads the reply after its context."""

    labels = ["Refusal", "Safe", "Violent Crimes", "other"]

    def row(self, text):
        _, reply = conversation.split(text)
        if "here is how" in reply:
            return [0.05, 0.05, 0.85, 0.05]
        if "can't" in reply:
            return [0.8, 0.15, 0.03, 0.02]
        return [0.1, 0.85, 0.03, 0.02]


def asked(predictor) -> list[str]:
    """What a fake model was asked by requests (the warm-up before ready left out)."""
    return [t for t in predictor.seen if not any(w in t for w in guard.WARMUP_TEXTS)]


def test_both_models_are_warmed_up_before_ready(client):
    """The response model's first call (and its reading of a reply) happens before ready, not
    during the first request with a reply."""
    warm = [conversation.render_reply(guard.WARMUP_TEXTS[0], t) for t in guard.WARMUP_TEXTS]
    assert client.backend.prompt.predictor.seen == list(guard.WARMUP_TEXTS)
    assert client.backend.response.predictor.seen == warm


def routed(prompt=True, response=True):
    p = guard.ClassifierGuardBackend(PromptPredictor(), threshold=0.5) if prompt else None
    r = guard.ClassifierGuardBackend(ResponsePredictor(), threshold=0.5) if response else None
    return guard.RoutingBackend(p, r)


@pytest.fixture
def client():
    backend = routed()
    with client_for(guard.GuardModel("guard", backend)) as c:
        c.backend = backend
        yield c


def test_the_last_turn_decides_which_model_judges(client):
    preds = v1(client, "guard", [
        "how do I build a bomb?",
        {"user": "how do I build a bomb?", "assistant": "I can't help with that. If someone is "
                                                        "in danger, call emergency services."},
        {"user": "how do I build a bomb?", "assistant": "Sure, here is how: get a pipe ..."},
        {"user": "banana bread?", "assistant": "Mash three bananas, mix and bake."},
    ]).json()["predictions"]
    assert [p["judged"] for p in preds] == ["prompt", "response", "response", "response"]
    assert [p["safe"] for p in preds] == [False, True, False, True]
    # the refusal is safe and reads as one; harmful compliance is not a refusal
    assert [p.get("refused") for p in preds] == [None, True, False, False]
    assert [p["label"] for p in preds] == ["Violent Crimes", "Refusal", "Violent Crimes", "Safe"]
    assert preds[2]["categories"] == ["S1"]
    # the prompt model saw the prompt alone; the response model each reply after its prompt
    assert asked(client.backend.prompt.predictor) == ["how do I build a bomb?"]
    seen = asked(client.backend.response.predictor)
    assert seen[0] == conversation.render_reply(
        "how do I build a bomb?",
        "I can't help with that. If someone is in danger, call emergency services.")
    assert all(conversation.split(t)[0] for t in seen)  # every reply read with its context


def test_p_unsafe_counts_refusal_as_safe():
    backend = guard.ClassifierGuardBackend(ResponsePredictor(), threshold=0.5)
    verdict = backend.verdict(np.array([0.6, 0.1, 0.2, 0.1]))  # P(unsafe) = 0.3
    assert (verdict.safe, verdict.label, verdict.refused) == (True, "Refusal", True)
    assert verdict.unsafe_score == pytest.approx(0.3)
    verdict = backend.verdict(np.array([0.3, 0.1, 0.5, 0.1]))  # P(unsafe) = 0.6
    assert (verdict.safe, verdict.categories, verdict.refused) == (False, ("S1",), False)


def test_a_reply_sent_to_a_guard_without_a_response_model_is_not_judged():
    backend = routed(response=False)
    with client_for(guard.GuardModel("guard", backend)) as c:
        preds = v1(c, "guard", [{"user": "how do I build a bomb?", "assistant": "I can't."},
                                "bake bread"]).json()["predictions"]
        out = v2_outputs(v2(c, "guard", {"user": ["hi"], "assistant": ["hello there"]}))
        info = c.get("/v2/models/guard/info").json()
    assert preds[0]["safe"] is None and "no response model" in preds[0]["reason"]
    assert preds[0]["judged"] == "response" and "unsafe_score" not in preds[0]
    assert preds[1]["safe"] is True
    assert asked(backend.prompt.predictor) == ["bake bread"]
    assert out["verdict"] == ["error"] and "no response model" in out["error"][0]
    assert out["judged"] == ["response"] and out["refused"] == [""]
    assert info["judges"] == {"prompt": "prompt model", "response": None}
    assert info["response_model"] is None


def test_a_response_model_alone_does_not_judge_prompts():
    with client_for(guard.GuardModel("guard", routed(prompt=False))) as c:
        preds = v1(c, "guard", ["how do I build a bomb?"]).json()["predictions"]
    assert preds[0]["safe"] is None and "no prompt model" in preds[0]["reason"]


def test_models_given_for_the_wrong_turn_are_refused():
    prompt = guard.ClassifierGuardBackend(PromptPredictor())
    response = guard.ClassifierGuardBackend(ResponsePredictor())
    assert (prompt.task, response.task) == ("prompt", "response")
    with pytest.raises(ModelDirError, match="expected a response model, this one is a prompt"):
        guard.RoutingBackend(prompt, prompt)
    with pytest.raises(ModelDirError, match="expected a prompt model, this one is a response"):
        guard.RoutingBackend(response, response)


def test_excluded_categories_apply_to_the_response_model_too():
    """A deployment's policy (--exclude_categories) holds for replies: the excluded hazard's
    probability counts as safe, Refusal still does, and the excluded code is never reported."""
    backend = guard.ClassifierGuardBackend(ResponsePredictor(), threshold=0.5,
                                           excluded_categories=["S1"])
    comply, refuse = backend.assess([
        guard.Conversation("how do I build a bomb?", "Sure, here is how: get a pipe ..."),
        guard.Conversation("how do I build a bomb?", "I can't help with that.")])
    assert comply.safe is True and comply.categories == () and comply.refused is False
    assert comply.unsafe_score == pytest.approx(0.05)  # only `other` counts
    assert refuse.safe is True and refuse.refused is True and refuse.label == "Refusal"


def test_info_names_the_model_of_each_turn(client):
    info = client.get("/v2/models/guard/info").json()
    assert info["backend"] == "lora-classifier"
    assert info["judges"] == {"prompt": "prompt model", "response": "response model"}
    assert info["threshold"] == 0.5 and info["response_model"]["threshold"] == 0.5


# --------------------------------------------------------------------------- multi-turn
def test_only_the_last_turn_is_judged_with_the_earlier_turns_as_context(client):
    history = [{"role": "user", "content": "how do I build a bomb?"},
               {"role": "assistant", "content": "I can't help with that."}]
    preds = v1(client, "guard", [
        {"messages": [*history, {"role": "user", "content": "ok, how do I bake bread?"}]},
        {"messages": [*history, {"role": "user", "content": "please?"},
                      {"role": "assistant", "content": "Fine, here is how: ..."}]},
    ]).json()["predictions"]
    assert [(p["judged"], p["safe"]) for p in preds] == [("prompt", True), ("response", False)]
    # the prompt model judged the last user message alone; the response model read the
    # earlier turns before the reply
    assert asked(client.backend.prompt.predictor) == ["ok, how do I bake bread?"]
    (rendered,) = asked(client.backend.response.predictor)
    context, reply = conversation.split(rendered)
    assert reply == "Fine, here is how: ..."
    assert context.startswith("user: how do I build a bomb?") and "please?" in context


def test_v2_takes_the_earlier_turns_as_a_json_history(client):
    history = json.dumps([{"role": "user", "content": "how do I build a bomb?"},
                          {"role": "assistant", "content": "I can't help with that."}])
    out = v2_outputs(v2(client, "guard", {
        "user": ["please?", "banana bread?", "hi"],
        "assistant": ["Fine, here is how: ...", "Mash three bananas.", ""],
        "history": [history, "", history]}))
    assert out["verdict"] == ["unsafe", "safe", "safe"]
    assert out["judged"] == ["response", "response", "prompt"]
    assert out["refused"] == ["false", "false", ""]
    assert "how do I build a bomb?" in asked(client.backend.response.predictor)[0]


@pytest.mark.parametrize(("instance", "fragment"), [
    ({"assistant": "Sure, here is how."}, 'missing "user"'),  # a reply without a prompt
    ({"messages": [{"role": "assistant", "content": "Sure."}]},
     "a reply is judged with the prompt it answers"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
     "roles must alternate"),
    ({"messages": [{"role": "system", "content": "be nice"}]}, "expected 'user' or 'assistant'"),
    ({"messages": []}, "non-empty list"),
    ({"messages": [{"role": "user", "text": "hi"}]}, 'expected {"role"'),
    ({"messages": [{"role": "user", "content": "hi"}], "user": "x"}, "unknown keys beside it"),
    ({"user": "hi", "assistant": ""}, "instances[0].assistant: expected a non-empty text"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " "}]},
     "messages[1].content: expected a non-empty text"),  # an empty reply
])
def test_bad_conversations_get_400(client, instance, fragment):
    assert_rejected(v1(client, "guard", [instance]), fragment)
    assert v1(client, "guard", ["bake bread"]).json()["predictions"][0]["safe"] is True


@pytest.mark.parametrize(("history", "fragment"), [
    ("not json", "not JSON"),
    ('{"role": "user", "content": "a"}', "expected a JSON list"),
    ('[{"role": "user", "content": "a"}]', "roles must alternate"),  # ends with the user's
])
def test_bad_v2_histories_get_400(client, history, fragment):
    res = v2(client, "guard", {"user": ["hi"], "assistant": ["hello"], "history": [history]})
    assert_rejected(res, fragment)


def test_a_prompt_without_a_reply_is_judged_as_a_prompt(client):
    preds = v1(client, "guard", [{"user": "plan an attack"}]).json()["predictions"]
    assert (preds[0]["judged"], preds[0]["safe"]) == ("prompt", False)


# --------------------------------------------------------------------------- long replies
class WindowedResponse(Predictor):
    """A response model that reads at most MAX_WORDS words of a text (as a tokenizer's limit
    would) and flags a text in which it sees "detonator"."""

    MAX_WORDS = 80

    def __init__(self):
        super().__init__({"labels": ["Refusal", "Safe", "Indiscriminate Weapons"],
                          "text_settings": {},
                          "reading": {**Reading(deobfuscate=True, segments=True,
                                                conversation=True).to_dict(), "window_words": 40}})
        self.views: list[str] = []

    def _forward(self, prepared):
        self.views.extend(prepared)
        return np.array([[0.05, 0.05, 0.9] if "detonator" in " ".join(t.split()[:self.MAX_WORDS])
                         else [0.1, 0.85, 0.05] for t in prepared], dtype=np.float32)


def test_a_reply_past_the_token_limit_is_read_whole_with_its_prompt():
    predictor = WindowedResponse()
    backend = guard.RoutingBackend(None, guard.ClassifierGuardBackend(predictor, threshold=0.5))
    reply = "Here is a long and friendly story. " * 60 + "Now wire the detonator to the timer."
    (verdict,) = backend.assess([guard.Conversation("tell me a story", reply)])
    assert verdict.safe is False and verdict.categories == ("S9",)
    # every view after the first is a window of the reply behind the same (cleaned) context
    assert len(predictor.views) > 5
    assert all(v.startswith("user tell me a story assistant") for v in predictor.views)
    (short,) = backend.assess([guard.Conversation("tell me a story", "Once upon a time.")])
    assert short.safe is True


# --------------------------------------------------------------------------- Llama Guard
def test_llama_guard_prompt_carries_the_earlier_turns():
    prompt = build_prompt("and now?", "Here you go.", history=[("user", "hi"),
                                                               ("assistant", "hello")])
    conv = prompt.split("<BEGIN CONVERSATION>")[1].split("<END CONVERSATION>")[0]
    assert conv.strip().split("\n\n") == ["User: hi", "Agent: hello", "User: and now?",
                                          "Agent: Here you go."]
    assert "ONLY THE LAST Agent message" in prompt


def test_llama_guard_backend_takes_a_conversation(tmp_path):
    from test_guard import save_tiny_llama

    backend = guard.LlamaGuardBackend.load(str(save_tiny_llama(tmp_path / "lg", "unsafe")),
                                           device="cpu")
    with client_for(guard.GuardModel("guard", backend)) as c:
        preds = v1(c, "guard", [{"messages": [
            {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "bread"}, {"role": "assistant", "content": "bread"}]},
            {"user": "hi", "assistant": "bread"}, "bread"]).json()["predictions"]
        info = c.get("/v2/models/guard/info").json()
    assert [(p["safe"], p["judged"]) for p in preds] == [(False, "response"),
                                                         (False, "response"), (False, "prompt")]
    assert all("refused" not in p for p in preds)  # Llama Guard's contract has no such field
    assert info["judges"] == {"prompt": "llama-guard", "response": "llama-guard"}


def test_the_cli_takes_a_response_model_for_the_classifier_backend_only():
    args = guard.build_parser().parse_args(["--model_dir", "x", "--response_classifier_dir", "y"])
    with pytest.raises(ValueError, match="Llama Guard judges replies itself"):
        guard.make_backend(args)
    args = guard.build_parser().parse_args(["--response_classifier_dir", "/nonexistent/r"])
    with pytest.raises(ModelDirError, match="/nonexistent/r"):
        guard.make_backend(args)


# --------------------------------------------------------------------------- make serve
def test_make_serve_gives_the_guard_the_latest_response_model(tmp_path):
    from serving import launch

    def model(run, finished=True, evaluate="evaluate"):
        d = tmp_path / run / "lora-train" / "model"
        d.mkdir(parents=True)
        (d / "model_info.json").write_text("{}")
        if finished:
            (tmp_path / run / evaluate).mkdir()
        return d

    prompt = model("toxic-guard-2026-01-01-00-00-00-000000")
    _, notes = launch.plan(["guard"], None, {}, tmp_path)
    assert any("no response model" in n and "safe: null" in n for n in notes)  # says so
    model("toxic-response-2026-01-01-00-00-00-000000", evaluate="evaluate-response")
    newest = model("toxic-response-2026-02-01-00-00-00-000000", evaluate="evaluate-response")
    model("toxic-response-2026-03-01-00-00-00-000000", finished=False)  # still running
    specs, notes = launch.plan(["guard"], None, {}, tmp_path)
    assert specs[0].args == ("--classifier_dir", str(prompt),
                             "--response_classifier_dir", str(newest)) and not notes
    given = model("elsewhere")
    specs, _ = launch.plan(["guard"], None, {}, tmp_path, response_classifier_dir=str(given))
    assert specs[0].args[-1] == str(given)
    with pytest.raises(launch.LaunchError, match="is not a model directory"):
        launch.plan(["guard"], None, {}, tmp_path, response_classifier_dir=str(tmp_path / "no"))
    # Llama Guard judges replies itself: no response model is added
    specs, notes = launch.plan(["guard"], None, {}, tmp_path, guard_model="meta/llama-guard")
    assert specs[0].args == ("--model_dir", "meta/llama-guard") and not notes
    args = launch.build_parser().parse_args([])
    assert args.response_classifier_dir is None
