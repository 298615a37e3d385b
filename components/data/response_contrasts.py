"""Replies written for this project: refusals, safe completions and (partial) compliance.

A response model must tell a refusal from compliance, and harmful compliance from a helpful
answer that uses the same alarming words. The public sets give few of each per prompt, so
replies are written here, seeded, for the project's own prompts (every generated prompt source
of `components.data.ingest.GENERATED`: the look-alikes, their harmful contrast, and any written
hazard prompts):

- to a harmful prompt: refusals in several styles (short, apologetic, with an explanation, with
  a safety resource, a partial refusal that redirects to safe information), and longer ones
  that name the harm of the prompt's topic in its own words and say why
  (`components.data.refusal_topics`), with an alternative, a resource or safe information:
  `Refusal`; a safe completion that answers the need behind the request without the harm:
  `Safe`; harmful compliance, and partial compliance (a refusal followed by the help anyway):
  the prompt's hazard;
- to a benign prompt (look-alikes and the ordinary requests below): a helpful answer (`Safe`),
  for half of them one more in the harmful compliance's own form with harmless steps (`Safe`:
  the opening "Sure, here's how to ..." is not what makes a reply harmful), and, for some, an
  over-refusal (`Refusal`: declining a harmless request is useless but not unsafe).

Harmful compliance is written to be unmistakably compliant in FORM ("Sure, here's how to ...:
step 1 ..., step 2 ...") and empty in substance: its steps are generic moves that any thriller
plot contains ("make sure nobody is watching", "get rid of the evidence"), never quantities,
materials, methods or code that would help anyone do harm. Keep it that way when adding rows.

The texts themselves: components.data.written_replies.

Groups: replies to harmful prompts by kind of reply (`written/refusal`,
`written/refusal_explained`, `written/refusal_redirect`, ...); replies to benign prompts by the
prompt's kind (`written/benign/<kind>`), so a whole kind can be held out.
"""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Sequence

import pandas as pd

from components.core.taxonomy import SAFE
from components.data.refusal_topics import HarmTopic, topic_of
from components.data.response_readers import REFUSAL
from components.data.written_replies import (
    ANSWERS,
    APOLOGETIC,
    BENIGN_STEPS,
    COMPLIANCE,
    COMPLIANCE_OPENINGS,
    DEFAULT_ANSWERS,
    DEFAULT_REDIRECT,
    DEFAULT_RESOURCES,
    DEFAULT_SAFE_COMPLETIONS,
    DEFAULT_STEPS,
    DEFAULT_WHY,
    EXPLAINED,
    EXPLAINING_REFUSALS,
    HARMFUL_STEPS,
    ORDINARY,
    ORDINARY_STEPS,
    OVER_REFUSALS,
    PARTIAL,
    REDIRECTING,
    REDIRECTING_REFUSALS,
    REDIRECTS,
    RESOURCES,
    SAFE_COMPLETIONS,
    SHORT_REFUSALS,
    WHY,
    WITH_RESOURCE,
)

WRITTEN = "written"
OVER_REFUSAL_SHARE = 0.25  # benign prompts that also get an over-refusal
PARTIAL_COMPLIANCE_SHARE = 0.5  # harmful prompts that also get a partial compliance
REFUSALS_PER_HARMFUL_PROMPT = 2

# --------------------------------------------------------------------------- request phrases
_QUESTION_RE = re.compile(
    r"^(?:how (?:do|can|could|would|should|might) (?:i|we|one|someone)|"
    r"what(?:'s| is) the (?:best|easiest|fastest|quickest|safest|right|simplest) way to|"
    r"is there a (?:quick|good|simple|safe) way to|can you (?:explain|tell me|show me) how to|"
    r"(?:please )?(?:explain|tell me|show me) how to|give me (?:step-by-step |exact )?"
    r"(?:instructions|steps) (?:to|for|on how to)|help me)\s+(?P<x>.+?)\s*[?.!]*$",
    re.IGNORECASE)
_IMPERATIVE = {"write", "create", "make", "build", "generate", "draft", "compose", "design",
               "find", "list", "plan", "explain", "describe"}
_PRONOUNS = {"my": "your", "me": "you", "i": "you", "myself": "yourself", "mine": "yours",
             "i'm": "you're", "i've": "you've", "i'll": "you'll", "our": "your", "us": "you",
             "we": "you"}


def request_phrase(prompt: str) -> str | None:
    """What a prompt asks to do, as a bare infinitive in the second person ("kill a frozen
    process on Linux", "write ransomware ..."), or None when it is not phrased as a request."""
    text = " ".join(prompt.split())
    m = _QUESTION_RE.match(text)
    if m:
        phrase = m.group("x")
    else:
        first = text.split(" ", 1)[0].lower().strip(",:")
        if first not in _IMPERATIVE:
            return None
        phrase = text[0].lower() + text[1:]
    phrase = phrase.rstrip(" ?.!")
    words = [_PRONOUNS.get(w.lower(), w) for w in phrase.split()]
    return " ".join(words) if 2 <= len(words) <= 25 else None


# --------------------------------------------------------------------------- benign answers, compliant form
COMPLIANCE_FORM_SHARE = 0.5  # benign prompts that also get an answer in compliance form
# How-to questions get steps; other prompts an opening before the usual answer of their kind.
_HOW_TO_RE = re.compile(r"(?i)(?:.*[.?!] )?(?:how (?:do|can|should|would|to)|walk me through|"
                        r"what(?:'s| is) the (?:best|easiest|fastest|quickest|safest|right) way)")
# the kind answer's own opening, replaced by one of COMPLIANCE_OPENINGS
_OPENING_RE = re.compile(r"^(?:Sure!|Good question\.|Great question!|Happy to help!|Good "
                         r"thinking\.|That's a sensible thing to check\.)\s*")


# --------------------------------------------------------------------------- generation
def _rng(seed: int, *key: str) -> random.Random:
    """A generator per (seed, prompt, role): the rows do not depend on each other's order."""
    return random.Random(zlib.crc32("\x00".join((str(seed), *key)).encode()))


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _fill(template: str, x: str | None, code: str, rng: random.Random) -> str:
    steps = rng.sample(HARMFUL_STEPS.get(code, DEFAULT_STEPS), 3)
    why = WHY.get(code, DEFAULT_WHY)
    redirect = REDIRECTS.get(code, DEFAULT_REDIRECT)
    values = {"x": x or "do that", "why": why, "why_lower": _lower_first(why),
              "resource": rng.choice(RESOURCES.get(code, DEFAULT_RESOURCES)),
              "redirect": redirect, "redirect_lower": _lower_first(redirect),
              **{f"s{i + 1}": s for i, s in enumerate(steps)},
              **{f"S{i + 1}": s[:1].upper() + s[1:] for i, s in enumerate(steps)}}
    return template.format(**values)


def _pick(templates: Sequence[str], x: str | None, rng: random.Random) -> str:
    """A template; those naming the request ({x}) only when the prompt has a request phrase."""
    usable = [t for t in templates if x or "{x}" not in t] or list(templates)
    return rng.choice(usable)


def harmful_prompt_replies(prompt: str, code: str, seed: int) -> list[tuple[str, str, str, str]]:
    """(reply, class, origin, group) rows for one harmful prompt (see the module docstring)."""
    x = request_phrase(prompt)
    rng = _rng(seed, prompt, "harmful")
    styles = [("short", SHORT_REFUSALS), ("apologetic", APOLOGETIC), ("explained", EXPLAINED),
              ("resource", WITH_RESOURCE), ("redirect", REDIRECTING)]
    rows = []
    for name, templates in rng.sample(styles, REFUSALS_PER_HARMFUL_PROMPT):
        rows.append((_fill(_pick(templates, x, rng), x, code, rng), REFUSAL, f"refusal:{name}",
                     "refusal"))
    rows.append((rng.choice(SAFE_COMPLETIONS.get(code, DEFAULT_SAFE_COMPLETIONS)), SAFE,
                 "safe_completion", "safe_completion"))
    rows.append((_fill(_pick(COMPLIANCE, x, rng), x, code, rng), code, "harmful_compliance",
                 "harmful_compliance"))
    if rng.random() < PARTIAL_COMPLIANCE_SHARE:
        rows.append((_fill(_pick(PARTIAL, x, rng), x, code, rng), code, "partial_compliance",
                     "partial_compliance"))
    rows += explaining_refusals(prompt, code, seed)
    return [(reply, cls, origin, f"{WRITTEN}/{group}") for reply, cls, origin, group in rows]


def _lower_sentence(text: str) -> str:
    """A sentence to go after a colon: its first letter lowered, unless it is the word I."""
    return text if re.match(r"I\b", text) else _lower_first(text)


def _explain(template: str, topic: HarmTopic, x: str | None) -> str:
    values = {"name": topic.name, "harm": topic.harm, "Harm": topic.harm,
              "harm_lower": _lower_sentence(topic.harm), "alternative": topic.alternative,
              "alternative_lower": _lower_sentence(topic.alternative),
              "fact": topic.fact or topic.alternative, "x": x or "do that"}
    return template.format(**values)


def explaining_refusals(prompt: str, code: str, seed: int) -> list[tuple[str, str, str, str]]:
    """(reply, Refusal, origin, group) rows for one harmful prompt: a refusal that names and
    explains the harm of the prompt's topic, and a partial refusal that redirects
    (`EXPLAINING_REFUSALS`, `REDIRECTING_REFUSALS`; groups refusal_explained and
    refusal_redirect). A generator of their own: the other rows do not change with them."""
    x = request_phrase(prompt)
    topic = topic_of(prompt, code)
    rng = _rng(seed, prompt, "explaining")
    redirects = [t for t in REDIRECTING_REFUSALS if topic.fact or "{fact}" not in t]
    return [(_explain(_pick(EXPLAINING_REFUSALS, x, rng), topic, x), REFUSAL,
             "refusal:explaining", "refusal_explained"),
            (_explain(_pick(redirects, x, rng), topic, x), REFUSAL, "refusal:redirecting",
             "refusal_redirect")]


# The subject of a look-alike question ("What is the definition of arson?" -> "arson").
_SUBJECT_RES = [re.compile(p) for p in (
    r"(?i)definition of (?P<t>.+?)\?$", r"(?i)^what does (?P<t>.+?) mean", r"(?i)^how is (?P<t>.+?) defined",
    r"(?i)^explain (?P<t>.+?) to a ", r"(?i)difference between (?P<t>.+?) and related",
    r"(?i)^what (?:was|is|were) (?P<t>the .+?)\?$", r"(?i)^what (?:was|is) (?P<t>.+?)'s ",
    r"^(?:What policies is|How did|What did|What were the main criticisms of|Summarise) "
    r"(?P<t>[A-Z][\w.]*(?: [A-Z][\w.]*)*)", r"(?i)^why (?:did|was|is) (?P<t>the .+?) "
    r"(?:fall|built|happen|sink|start|collapse)")]
_LEGAL_RE = re.compile(r"\b(rights?|legal(?:ly)?|law|fired|charges|order|court|employer|refund|"
                       r"landlord|dispute|licence|victim|scammer)\b", re.IGNORECASE)


def subject(prompt: str) -> str | None:
    """What a look-alike question is about, or None."""
    text = " ".join(prompt.split())
    for pattern in _SUBJECT_RES:
        m = pattern.search(text)
        if m:
            return m.group("t").strip(" ?.")
    return None


def _quoted(prompt: str) -> str:
    m = re.search(r"'([^']{3,80})'", prompt)
    return f"'{m.group(1)}' is the expression here." if m else ""


def _kind_answer(prompt: str, kind: str, x: str | None, rng: random.Random) -> str:
    """An answer to a benign prompt from the templates of its kind."""
    t = subject(prompt)
    if kind == "medical_legal_self" and _LEGAL_RE.search(prompt):
        kind_answers = ANSWERS["medical_legal_self/legal"]
    else:
        kind_answers = ANSWERS.get(kind, DEFAULT_ANSWERS)
    usable = [a for a in kind_answers if t or "{T}" not in a]
    template = _pick(usable, x, rng)
    return template.format(x=x or "do that", q=_quoted(prompt),
                           T=(t or "")[:1].upper() + (t or "")[1:]).replace("  ", " ")


def benign_prompt_replies(prompt: str, kind: str, seed: int,
                          answer: str | None = None) -> list[tuple[str, str, str, str]]:
    """(reply, class, origin, group) rows for one benign prompt: an answer (`answer`, else one
    written from the templates of its kind) and, for some, an over-refusal."""
    x = request_phrase(prompt)
    rng = _rng(seed, prompt, "benign")
    group = f"{WRITTEN}/benign/{kind}"
    if answer is None:
        answer = _kind_answer(prompt, kind, x, rng)
    rows = [(answer, SAFE, f"answer:{kind}", group)]
    if rng.random() < OVER_REFUSAL_SHARE:
        rows.append((_pick(OVER_REFUSALS, x, rng).format(x=x or "do that"), REFUSAL,
                     f"over_refusal:{kind}", group))
    return rows


def _benign_steps(template: str, x: str | None, steps: Sequence[str],
                  rng: random.Random) -> str:
    chosen = rng.sample(list(steps), 3)
    return template.format(x=x or "do that", **{f"s{i + 1}": s for i, s in enumerate(chosen)},
                           **{f"S{i + 1}": s[:1].upper() + s[1:] for i, s in enumerate(chosen)})


def compliance_form_replies(prompt: str, kind: str, seed: int,
                            steps: Sequence[str] | None = None) -> list[tuple[str, str, str, str]]:
    """(reply, Safe, origin, group) rows for one benign prompt: for a share of them
    (`COMPLIANCE_FORM_SHARE`; all when `steps` are given), a helpful answer in the form of the
    harmful compliance: a `COMPLIANCE` template filled with harmless steps of its kind
    (`BENIGN_STEPS`, or `steps`), else a compliance opening before the kind's usual answer."""
    rng = _rng(seed, prompt, "compliance_form")
    if steps is None and rng.random() >= COMPLIANCE_FORM_SHARE:
        return []
    x = request_phrase(prompt)
    if steps is None and (x or _HOW_TO_RE.match(prompt.strip())):
        steps = BENIGN_STEPS.get(kind)
    if steps:
        reply = _benign_steps(_pick(COMPLIANCE, x, rng), x, steps, rng)
    else:
        usual = _OPENING_RE.sub("", _kind_answer(prompt, kind, x, rng))
        reply = rng.choice(COMPLIANCE_OPENINGS) + usual[:1].upper() + usual[1:]
    return [(reply, SAFE, f"compliance_form:{kind}", f"{WRITTEN}/benign/{kind}")]


def written_rows(seed: int = 42, held_out_groups: Sequence[str] = ()) -> pd.DataFrame:
    """Every written reply, in the columns `components.data.responses.finish` takes (prompt,
    response, category_code, origin, prompt_code, group).

    The prompts are those of every generated prompt source (`components.data.ingest.GENERATED`) but
    the translations:
    harmful ones get refusals (short and explaining), a safe completion and (partial)
    compliance; benign ones, and `ORDINARY`, get answers and some over-refusals, and, unless
    their group is in `held_out_groups`, answers in compliance form (with `ORDINARY_STEPS`).

    Args:
        seed: the seed of every choice (each prompt and role has its own generator).
        held_out_groups: groups of the fixed out-of-source test: they get no answers in
            compliance form, so that test keeps the rows it was chosen with.
    """
    from components.data.ingest import GENERATED
    from components.data.translations import TRANSLATED

    held_out = set(held_out_groups)
    # Not the translations: their replies would be English answers to prompts in 16 other
    # languages, which no assistant writes.
    prompts = pd.concat([make(seed) for name, make in GENERATED.items()
                         if name != TRANSLATED], ignore_index=True)
    prompts = prompts.drop_duplicates("text")
    rows = []
    for text, code, group in zip(prompts["text"], prompts["category_code"], prompts["group"],
                                 strict=True):
        if code:
            replies = harmful_prompt_replies(text, code, seed)
        else:
            kind = str(group).rsplit("/", 1)[-1]
            replies = benign_prompt_replies(text, kind, seed)
            if f"{WRITTEN}/benign/{kind}" not in held_out:
                replies += compliance_form_replies(text, kind, seed)
        rows += [(text, reply, cls, origin, code or SAFE, g) for reply, cls, origin, g in replies]
    ordinary = [(text, answer, None) for text, answer in ORDINARY]
    if f"{WRITTEN}/benign/ordinary" not in held_out:
        ordinary += [(text, None, steps) for text, steps in ORDINARY_STEPS]
    for text, answer, steps in ordinary:
        if answer is None:
            answer = compliance_form_replies(text, "ordinary", seed, steps)[0][0]
        rows += [(text, reply, cls, origin, SAFE, g) for reply, cls, origin, g in
                 benign_prompt_replies(text, "ordinary", seed, answer)]
    return pd.DataFrame(rows, columns=["prompt", "response", "category_code", "origin",
                                       "prompt_code", "group"])
