"""Harmful prompts written for this project for every hazard S1-S14, most for the thin ones.

Public prompt sets cover the taxonomy unevenly (S3, S4, S13 and S14 have next to nothing, S5,
S6 and S9 a handful, S8 one source). This module writes harmful requests for every hazard, from
the MLCommons hazard definitions and Llama Guard 3's category descriptions, in two ways:

- a grammar (`components.data.hazard_tasks`): per hazard, tasks (verb phrases with slots) x word
  lists, each task with two random slot fillings rendered in every shape of `components.data.shapes`
  (direct question, order, third person, context sentences, role-play, story set-up, casual
  with typos, short), then an equal number taken from each shape;
- hand-written prompts (`components.data.hazard_prompts`), kept whole.

Seeded, de-duplicated on ingest's normalised text, every prompt checked like the look-alikes
(`shapes.check_prompt`: no unfilled slot or doubled space, a capital and an end mark unless
casual, a plausible length). Rows are source `written`; the `group` is the SHAPE
(`written/story`, `written/handwritten`...): holding out a group tests whether the guard reads a
harmful request in a phrasing it never saw, which is what an in-source split cannot measure
(every hazard stays in training through the other shapes; loso reports recall per hazard inside
each held-out shape). `origin` and `category_code` are the hazard code.

`POLICY` is the guard's policy for the contextual hazards (what is flagged and what is not); it
belongs in the model card (`model_info.json`).

    python -m components.data.hazards [--seed 42] [--out prompts.csv]   # write the set
"""

from __future__ import annotations

import functools
import random
import sys

import pandas as pd

from components.core.errors import DatasetError
from components.data import hazard_prompts, shapes
from components.data.hazard_tasks import TASKS

WRITTEN = "written"
HANDWRITTEN = shapes.HANDWRITTEN  # the group of the hand-written prompts
# Rows per hazard (hand-written ones included). The thin hazards of the issue get the most: 200
# gives ~30 test prompts in a 15% test split, the least a per-hazard figure is reported on.
# S2 and S8 are large too: held-out HarmBench showed cybercrime, disinformation and copyright
# (every title a new one) to be where the guard generalised least.
PER_HAZARD: dict[str, int] = {"S8": 300, "S2": 240,
                              "S5": 200, "S6": 200, "S13": 200, "S14": 200,
                              "S3": 120, "S4": 120, "S9": 120,
                              "S7": 80, "S11": 60, "S12": 60,
                              "S1": 40, "S10": 40}
RENDERS_PER_TASK_AND_SHAPE = 2  # random slot fillings per task, each rendered in every shape

# The policy for hazards whose verdict depends on context (recorded in the model card).
POLICY: dict[str, dict[str, str]] = {
    "scope": "The guard classifies the user's request (a prompt), in the MLCommons hazard "
             "taxonomy S1-S14 as Llama Guard 3 names it. A request is flagged for what it asks "
             "for, whatever the framing (story, role-play, hypothetical, typos).",
    "S6": "Specialized Advice. Flagged: requests to stand in for a doctor, lawyer or financial "
          "adviser where acting on the answer risks serious harm - dosing prescription-only or "
          "controlled drugs, for oneself or for a child, elder or pet, outside the label; "
          "stopping or changing prescribed treatment without the prescriber; treating an "
          "emergency or a serious illness at home instead of care; asking to be told that a "
          "dangerous act is safe; acting alone on a high-stakes legal or financial decision on "
          "the assistant's word (a criminal or custody case without a lawyer, a whole pension "
          "on one pick). Not flagged: general medical, legal or financial information, "
          "over-the-counter use as labelled, side effects, symptoms to watch for, first aid "
          "while help is coming, one's rights and procedures, how to find a professional and "
          "what to ask them. Users who never want advice-seeking flagged (a clinical or legal "
          "product) exclude S6 at serving time: --exclude_categories S6.",
    "S12": "Sexual Content. Flagged: requests for erotica or explicit sexual descriptions, "
           "sexual role-play, pornographic scripts, and sexualised descriptions of real people. "
           "Not flagged: sex education, sexual and reproductive health, consent, relationships, "
           "and non-explicit romance (a kiss, a love letter). Adult platforms exclude S12 at "
           "serving time (--exclude_categories S12); anything sexual involving a minor is S4, "
           "which stays flagged unless S4 itself is excluded.",
    "S5": "Defamation. Flagged: requests to write or spread claims about a real, identifiable "
          "living person or business that are false (or presented as invented) and damaging. "
          "Not flagged: opinion, honest reviews and complaints, documented criticism of public "
          "figures' public acts, labelled satire, questions about defamation law.",
    "S7": "Privacy. Flagged: requests to find, reveal or track a private person's sensitive "
          "non-public information (address, phone, location, health, finances, identity "
          "numbers, accounts). Not flagged: public figures' public roles and official "
          "contacts, fictional characters, protecting one's own privacy.",
    "S2": "Non-Violent Crimes, two parts of which are easy to mistake for their benign side. "
          "Cybercrime - flagged: working attack code or step-by-step instructions against "
          "systems or accounts one does not own (malware, keyloggers, ransomware, exploits, "
          "DoS/DDoS, SQL injection or XSS payloads, credential theft, botnets, Wi-Fi cracking, "
          "disabling antivirus, wiping logs, phishing kits). Not flagged: how attacks work, "
          "securing and testing one's own or authorised systems, defensive code, security "
          "careers and law. Disinformation - flagged: content meant to deceive the public with "
          "claims the asker knows are false or that deny documented atrocities (persuasive "
          "articles, fake studies or news, bot posts, fake cures); false claims about a real "
          "person are S5 and about voting S13. Not flagged: debunking, history, asking whether "
          "a claim is true, persuasive writing on open questions of opinion, labelled satire.",
    "S8": "Intellectual Property. Flagged: reproducing protected works in full or in large "
          "verbatim parts (lyrics, book chapters or long passages, scripts, poems), whatever "
          "the verb (write out, generate, print, recite, output), piracy, cracking licences or "
          "DRM, counterfeits, passing off others' work. Not flagged: summaries, themes, a "
          "short quotation with commentary, original writing in a style, fair-use and "
          "licensing questions, public-domain works and one's own works in full, where to get "
          "works legally.",
    "S13": "Elections. Flagged: false information about when, where or how to vote, fake "
           "official notices, fabricated results meant to keep people from voting. Not "
           "flagged: registration, deadlines, polling places, how counting works, opinion on "
           "candidates and policies.",
    "S14": "Code Interpreter Abuse. Flagged: using an assistant's code-execution tool to escape "
           "its sandbox, escalate privileges, read secrets or other users' files, attack the "
           "network, or exhaust its resources. Not flagged: ordinary code to run, and questions "
           "about securing one's own containers and processes.",
}


def _renders(code: str, rng: random.Random) -> dict[str, list[str]]:
    """Every task of a hazard in every shape its form takes (RENDERS_PER_TASK_AND_SHAPE random
    slot fillings and templates each): shape -> prompts."""
    spec = TASKS[code]
    contexts = list(spec.motives) + list(shapes.CONTEXTS)
    out: dict[str, list[str]] = {s: [] for s in shapes.SHAPES}
    for form, tasks in (("act", spec.act), ("ask", spec.ask)):
        for task in tasks:
            for _ in range(RENDERS_PER_TASK_AND_SHAPE):
                filled = shapes.fill(task, {k: rng.choice(v) for k, v in spec.slots.items()})
                for shape in shapes.shapes_for(form, filled):
                    out[shape].append(shapes.render(filled, form, shape, rng, contexts,
                                                    harmful=True))
    return out


def hazard_prompts_for(code: str, n: int, seed: int, seen: set[str]) -> list[tuple[str, str]]:
    """`n` prompts of one hazard as (text, group): the hand-written ones, then rendered ones
    taken from each shape in turn so that the shapes are balanced.

    Args:
        code: the hazard code (a key of TASKS).
        n: how many prompts (fewer when the grammar gives fewer).
        seed: the seed (each hazard draws from its own generator, so sizes do not interact).
        seen: normalised texts already used (updated): nothing is repeated across hazards.

    Raises:
        DatasetError: a prompt fails the checks.
    """
    rng = random.Random(f"{seed}/{code}")
    hand = [(t, HANDWRITTEN) for t in hazard_prompts.HANDWRITTEN.get(code, ())]
    out = shapes.pick(hand, min(n, len(hand)), rng, seen, f"hazard {code} (hand-written)")
    rendered = [(t, s) for s, ts in _renders(code, rng).items() for t in ts]
    return out + shapes.pick(rendered, n - len(out), rng, seen, f"hazard {code}")


def generate(seed: int = 42, per_hazard: dict[str, int] | None = None) -> pd.DataFrame:
    """The written hazard prompts in the ingest columns (components.data.sources.COLUMNS).

    Args:
        seed: the seed.
        per_hazard: rows per hazard code (default PER_HAZARD); a hazard left out gets none.

    Raises:
        DatasetError: a prompt fails the checks, or a hazard code is not in the taxonomy.
    """
    from components.data.sources import COLUMNS, HAZARDS

    sizes = PER_HAZARD if per_hazard is None else per_hazard
    unknown = sorted(set(sizes) - set(HAZARDS)) + sorted(set(HAZARDS) - set(TASKS))
    if unknown:
        raise DatasetError(f"hazard codes without a grammar or outside the taxonomy: {unknown}")
    seen: set[str] = set()
    rows = []
    for code in HAZARDS:  # taxonomy order: the output does not depend on the dict's order
        for text, group in hazard_prompts_for(code, sizes.get(code, 0), seed, seen):
            rows.append({"text": text, "label": "unsafe", "category": HAZARDS[code],
                         "category_code": code, "source": WRITTEN,
                         "group": f"{WRITTEN}/{group}", "origin": code})
    return pd.DataFrame(rows, columns=COLUMNS)


@functools.lru_cache(maxsize=2)
def _generated(seed: int) -> pd.DataFrame:
    return generate(seed)


def written_rows(seed: int) -> pd.DataFrame:
    """The `written` source of the guard pipeline's ingest (one `group` per shape)."""
    return _generated(seed).copy()


def main(argv: list[str] | None = None) -> int:
    return shapes.generated_set_cli(
        "python -m components.data.hazards", __doc__, generate,
        lambda df: pd.crosstab(df["category_code"], df["group"].str.split("/").str[1],
                               margins=True).to_string(), "a hazard x shape table", argv)


if __name__ == "__main__":
    sys.exit(main())
