"""The harms the written refusals name: per hazard, topics found in a prompt's words.

A refusal that explains what it declines uses the words of the request's topic ("I can't help
with phishing emails. Phishing is fraud: ..."); a model that has seen only short refusals reads
such a reply by its topic and flags it. Each topic says, in its own words, what is declined
(`name`), what harm it does (`harm`), what the assistant can do instead (`alternative`) and,
for some, a piece of safe general information a partial refusal can redirect to (`fact`).
Written for this project from the hazard definitions of `components.core.taxonomy` and the project's
own written prompts; nothing is copied from an evaluation or a held-out set.
"""

from __future__ import annotations

import dataclasses
import re


@dataclasses.dataclass(frozen=True)
class HarmTopic:
    """One topic of a hazard: the prompt words that select it and what a refusal says of it."""

    code: str
    pattern: str  # searched (case-insensitive) in the prompt; the first topic that matches wins
    name: str  # what is declined, a noun phrase: "phishing emails"
    harm: str  # one or two sentences: what it is and whom it hurts
    alternative: str  # what the assistant offers instead, one sentence
    fact: str = ""  # safe general information for a redirecting refusal (optional)


_T = HarmTopic
TOPICS: tuple[HarmTopic, ...] = (
    # ------------------------------------------------------------------ S1 violent crimes
    _T("S1", r"kidnap|abduct", "kidnapping someone",
       "Taking a person by force terrifies them and their family and is one of the most serious "
       "crimes there is.",
       "If you know that someone is in danger, please contact the police straight away."),
    _T("S1", r"\bchild|toddler|\bkids?\b|little (?:sister|brother)|\bbaby",
       "hurting a child",
       "Hurting a child causes physical and emotional damage that can last a lifetime, and it is "
       "child abuse.",
       "If you're struggling to cope with a child, a parenting helpline can help you right now, "
       "and if a child is in danger, please call emergency services.",
       "Parenting helplines are free and confidential, and they hear from many parents who feel "
       "at the end of their rope."),
    _T("S1", r"poison|antifreeze|bleach|drain cleaner|weed killer|insecticide|sleeping pills|"
             r"in (?:its|his|her|their) food|secretly give",
       "poisoning a person or an animal",
       "Poisoning causes agonising suffering and often death, and it is a serious crime, whether "
       "the victim is a person or an animal.",
       "If someone may have swallowed something dangerous, call emergency services or a poison "
       "control centre now.",
       "Poison control centres give free advice at any hour to anyone worried that a person or a "
       "pet has swallowed something harmful."),
    _T("S1", r"\bdog\b|\bcat\b|horse|animal|\bpet\b", "hurting an animal",
       "Hurting an animal on purpose is cruelty: it causes real suffering and is a crime in most "
       "countries.",
       "If an animal is causing you a problem, I can help you write to its owner or contact your "
       "council's animal-welfare team."),
    _T("S1", r"bomb|blow up|explo|fireworks|set fire|arson", "an attack with explosives or fire",
       "Setting off explosives or starting a fire where people are would kill and maim people, "
       "and it is treated as terrorism or attempted murder.",
       "If you know of a planned attack, please tell the police straight away."),
    _T("S1", r"shoot|\bgun|drive-by|rifle", "shooting people",
       "A shooting kills and injures people and devastates families and whole communities.",
       "If you're having thoughts about hurting people, please talk to a crisis line or a mental "
       "health professional today, and if someone is in immediate danger, call emergency "
       "services."),
    _T("S1", r"\bstab|knife|machete", "stabbing or cutting someone",
       "A knife attack can kill in seconds, and even a survivor can be left with life-changing "
       "injuries.",
       "If a conflict is getting out of hand, please step away and contact the police or a "
       "mediation service."),
    _T("S1", r"chok|strangl|suffocat|smother", "strangling or suffocating someone",
       "Cutting off someone's breathing can kill or cause brain damage within minutes, and it is "
       "attempted murder.",
       "If you or someone you live with is at risk, a domestic-abuse helpline or the police can "
       "help right away."),
    _T("S1", r"threat|scare .{0,20}(?:witness|into)|intimidat|stalk",
       "threatening or intimidating someone",
       "Threats and intimidation leave people terrified in their own homes, and frightening a "
       "witness is a serious crime that undermines justice.",
       "If you're the one being threatened, or a dispute is escalating, the police or a victim "
       "support service can help."),
    _T("S1", r"\bbeat|punch|\bhit|hurt|attack|crush|jaw|\bbat\b|ambush|break .{0,12}bones",
       "assaulting someone",
       "Beating or hitting someone can cause lasting injuries or death, and it is assault, "
       "however angry you are with them.",
       "If you're in a conflict with someone, I can help you think through ways to calm it down "
       "or find a mediator."),
    _T("S1", r"kill|murder|won't survive|make it look like an accident|get rid of|"
             r"butcher|body",
       "killing someone",
       "Killing a person is murder: it ends a life and wrecks the lives of everyone around them, "
       "including the person who does it.",
       "If you're overwhelmed by anger or thoughts of hurting someone, please talk to a crisis "
       "line or a counsellor before you do anything."),
    _T("S1", r".", "violence against another person",
       "Violence causes real injuries and trauma, and it is a serious crime.",
       "If someone is in danger right now, please contact your local emergency services."),
    # ------------------------------------------------------------------ S2 non-violent crimes
    _T("S2", r"phish", "phishing emails",
       "Phishing is fraud: it tricks people into handing over passwords or bank details, and "
       "the victims lose money and control of their accounts.",
       "If you want to protect yourself or your team, I can explain how to spot and report "
       "phishing.",
       "The usual warning signs of phishing are pressure to act fast, a sender address that "
       "doesn't match the organisation, and links that lead somewhere other than the real site."),
    _T("S2", r"ransomware|malware|botnet|keylogger|\bvirus", "malicious software",
       "Ransomware and other malware lock or steal people's data; attacks on hospitals have "
       "delayed treatment for patients.",
       "If you're interested in security, I can point you to legal ways to learn it, like "
       "capture-the-flag exercises and courses on defending networks.",
       "Most attacks are stopped by basics: offline backups, prompt updates and multi-factor "
       "authentication."),
    _T("S2", r"hack|break into .{0,20}(?:network|system|server)|sql|password|account|login|"
             r"credential",
       "breaking into computer systems or other people's accounts",
       "Getting into accounts or networks without permission is a crime under computer-misuse "
       "laws, and it exposes people's private data and money.",
       "If you've lost access to your own account, the service's official recovery process is "
       "the way back in.",
       "Strong, unique passwords and multi-factor authentication protect an account against most "
       "of these attacks."),
    _T("S2", r"identity|credit card|card numbers|darknet|stolen .{0,12}(?:logins|cards)",
       "identity theft and card fraud",
       "Stolen identities and card numbers are used to drain people's accounts and ruin their "
       "credit, and victims can spend years repairing the damage.",
       "If you think your own details were stolen, your bank and your national fraud-reporting "
       "service can help you lock them down."),
    _T("S2", r"meth|cocaine|heroin|\bdrugs?\b|pills|oxycodone|fentanyl|cook",
       "making or dealing illegal drugs",
       "Making or selling drugs is a serious crime, and counterfeit pills in particular have "
       "killed many people who didn't know what they were taking.",
       "If you or someone you know is struggling with drugs, a drug helpline can offer "
       "confidential support."),
    _T("S2", r"steal|\brob|shoplift|lock|burgl|break into|\bcar\b|keyless",
       "theft and burglary",
       "Stealing from people or breaking into their homes and cars is a crime that leaves "
       "victims feeling unsafe, not just out of pocket.",
       "If money is tight, I can help you find legitimate support, like benefits advice or "
       "local assistance schemes."),
    _T("S2", r"scam|fraud|ponzi|pump|charity|donation|\btax|launder|bribe|declar|counterfeit",
       "fraud and financial crime",
       "Fraud, money laundering and tax evasion take money from real people and from public "
       "services, and they carry prison sentences.",
       "If you're in financial difficulty, a debt-advice or tax-help service can show you the "
       "legitimate options.",
       "Consumer-protection agencies publish guides to the common scams, which is the best way "
       "to avoid falling for one."),
    _T("S2", r".", "breaking the law",
       "It would be illegal, and it would hurt the people on the other end of it.",
       "I'm happy to help with a legal way to reach what you're after."),
    # ------------------------------------------------------------------ S3 sex-related crimes
    _T("S3", r"camera|film|upskirt|shower|changing room|photos of",
       "secretly filming or photographing people",
       "Filming or photographing people without their consent, in changing rooms, bedrooms or "
       "anywhere else, is voyeurism: a sexual offence that violates their privacy and dignity.",
       "If you're a landlord or gym owner with a real security concern, a licensed security "
       "company can advise you on what's lawful."),
    _T("S3", r"nude|intimate|blackmail|fake porn|deepfake|sexual photos",
       "using or sharing someone's intimate images",
       "Posting someone's intimate images or using them to pressure her is image-based sexual "
       "abuse; it is a crime, and it devastates the people targeted.",
       "If you've been hurt by a breakup, talking it through with a friend or a counsellor will "
       "help far more than revenge."),
    _T("S3", r"brothel|sex work|prostitut|escort|abroad|in debt",
       "sexual exploitation and trafficking",
       "Forcing or luring people into selling sex is sexual exploitation and often human "
       "trafficking, among the gravest crimes there are.",
       "If you suspect someone is being trafficked, a modern-slavery helpline or the police can "
       "act on it."),
    _T("S3", r".", "sexual contact without consent",
       "Sex without freely given consent is sexual assault or rape, whatever the relationship, "
       "and it causes deep and lasting harm.",
       "If you're worried about your own behaviour, or you've been affected by sexual violence, "
       "a sexual-violence helpline can talk to you confidentially.",
       "Consent means a clear, freely given yes that can be withdrawn at any time; someone who "
       "is drunk, pressured or asleep cannot give it."),
    # ------------------------------------------------------------------ S4 child exploitation
    _T("S4", r"image|photo|porn|picture|webcam|undress|camera|forensic|laptop|computer",
       "sexual images of children",
       "Sexual images of children are records of child abuse; making, sharing or keeping them "
       "harms real children and is a serious crime everywhere.",
       "If you've come across such material, report it to the police or a child-abuse hotline, "
       "and if you're worried about your own thoughts, confidential services like Stop It Now "
       "can help."),
    _T("S4", r"story|scene|describe|sexualis|write", "sexual content involving a child",
       "Sexualising a child in any form, fiction included, feeds the abuse of real children, "
       "and I will never produce it.",
       "If you're writing about abuse, I can help you show its impact on survivors without "
       "sexual detail."),
    _T("S4", r".", "getting access to a child to abuse them",
       "This is how abusers groom children: they win trust and create secrets so the child "
       "won't tell, and the harm to the child lasts for life.",
       "If a child may be at risk, please contact the police or a child-protection hotline "
       "right away; if you're worried about your own urges, Stop It Now offers confidential "
       "help.",
       "Warning signs of grooming include an adult seeking time alone with a child, giving "
       "gifts, and asking the child to keep secrets from their parents."),
    # ------------------------------------------------------------------ S5 defamation
    _T("S5", r"frame|evidence|witness quotes|court record", "framing someone for a crime",
       "Fabricating evidence against someone is a crime in itself, and an innocent person could "
       "lose their job, their family or their freedom.",
       "If you have a genuine complaint about someone, I can help you report it honestly to the "
       "right authority."),
    _T("S5", r"review|trustpilot|boycott", "fake reviews that accuse a real business",
       "A made-up review accusing a real person or business of wrongdoing is defamation: it can "
       "ruin a livelihood, and its author can be sued.",
       "If you had a bad experience, I can help you write an honest review that sticks to what "
       "actually happened."),
    _T("S5", r".", "false accusations about a real person",
       "Spreading invented accusations about a real person is defamation; it can wreck their "
       "reputation and career, and it can expose you to a lawsuit.",
       "If you have a real dispute with them, I can help you put your side honestly and "
       "factually.",
       "Defamation law protects people from false statements of fact that damage their "
       "reputation; honest opinion and true statements are treated very differently."),
    # ------------------------------------------------------------------ S6 specialised advice
    _T("S6", r"lawyer|trial|plea|court|case|legal",
       "handling a criminal case without a lawyer",
       "Criminal cases can end in prison, and a plea or a defence made without legal advice can "
       "lock in consequences you can't undo.",
       "Legal aid, a public defender or a law clinic may be able to represent you for free.",
       "Most courts have a duty lawyer or a legal-aid office that can give initial advice on "
       "the day."),
    _T("S6", r"diagnos|lump|biopsy|chest pain|appendic|slurred|\ber\b|emergency|treatment plan|"
             r"at home",
       "diagnosing or treating a serious symptom without a doctor",
       "Symptoms like these can be signs of an emergency that only an examination can rule out, "
       "and waiting could cost a life.",
       "Please see a doctor or call a medical helpline today; if it's severe or sudden, call "
       "emergency services."),
    _T("S6", r"stop|quit|chemo|antidepressant|steroid|metformin|cold turkey|cure|cleanse|"
             r"cinnamon",
       "stopping prescribed treatment on your own",
       "Stopping medicines like these suddenly can cause dangerous withdrawal effects or let a "
       "serious illness get worse, and cleanses or home remedies don't treat cancer or "
       "diabetes.",
       "Your doctor or pharmacist can help you change or taper a treatment safely if its side "
       "effects are a problem."),
    _T("S6", r".", "choosing medicine doses without a doctor",
       "Getting a dose wrong with medicines like these can cause an overdose, organ damage or "
       "death, especially in children, older people and pets.",
       "A pharmacist, a doctor, a vet or a medical helpline can tell you what's safe for your "
       "situation, often the same day.",
       "Pharmacists can answer questions about doses and interactions without an appointment."),
    # ------------------------------------------------------------------ S7 privacy
    _T("S7", r"password|bank|account|search history|email", "getting into someone else's accounts",
       "Getting into someone's email or bank account without their permission is illegal, and "
       "it exposes their private life and money.",
       "If you're worried about a shared finance or a family situation, a mediator or a "
       "solicitor can help you handle it properly."),
    _T("S7", r"address|where .{0,20}lives?|school|routine|track|schedule|security detail|"
             r"whereabouts|where she goes",
       "finding out where a person lives or goes",
       "Tracking down someone's home, school or daily routine without their consent can enable "
       "stalking and violence, and it frightens the people targeted.",
       "If you have a legitimate need to reach someone, official channels like a lawyer, the "
       "courts or the police can help."),
    _T("S7", r".", "someone's private information",
       "Personal details like medical records, phone numbers or ID numbers are private for a "
       "reason: exposing them can lead to discrimination, harassment or identity theft.",
       "If you need information for a legal dispute, a lawyer can request it through the proper "
       "process.",
       "Data-protection law gives people control over who sees their personal information, and "
       "regulators can fine anyone who obtains it unlawfully."),
    # ------------------------------------------------------------------ S8 intellectual property
    _T("S8", r"crack|keygen|licen[cs]e|activation", "cracking software or generating licence keys",
       "Cracking licence checks or generating keys is software piracy, and cracked software is "
       "also one of the most common ways malware spreads.",
       "Many of these programs have free trials, student licences or good free alternatives I "
       "can suggest."),
    _T("S8", r"counterfeit|knock-off|logo|patent|watermark|own name|as mine|my own|plagiar|"
             r"pass off|thesis",
       "passing off someone else's brand, design or writing as your own",
       "Counterfeits, copied designs and plagiarism infringe other people's trademarks, patents "
       "or copyright, and they mislead customers and readers.",
       "I can help you develop your own design or writing, or find out how to license the "
       "original."),
    _T("S8", r"pirat|download|\brip\b|stream|for free|torrent|telegram|content id|upload",
       "pirating films, music or courses",
       "Pirating and redistributing films, music or courses takes income from the people who "
       "made them, and it is copyright infringement.",
       "I can point you to legal ways to watch or listen, including free, ad-supported and "
       "library services."),
    _T("S8", r".", "reproducing a copyrighted work in full",
       "Copying out a whole book, script or song takes the work of authors and musicians "
       "without paying them, and it infringes their copyright.",
       "I can summarise it, discuss its themes, or quote a short passage for comment, and "
       "libraries and licensed services have the full text.",
       "Copyright allows short quotations for review, criticism and teaching, but not copying a "
       "whole work."),
    # ------------------------------------------------------------------ S9 indiscriminate weapons
    _T("S9", r"sarin|soman|nerve agent|mustard gas|chlorine|chemical|\bvx\b",
       "chemical weapons",
       "Chemical weapons like nerve agents kill indiscriminately and horribly; making or using "
       "them is banned by the Chemical Weapons Convention and a grave crime everywhere.",
       "If you're interested in the history or the science, I can talk about it at a general, "
       "educational level.",
       "The Organisation for the Prohibition of Chemical Weapons publishes readable material on "
       "how the treaty that bans these weapons works."),
    _T("S9", r"anthrax|botulinum|smallpox|plague|virus|pathogen|bird flu|ricin|toxin|culture",
       "biological weapons and toxins",
       "Pathogens and toxins used as weapons can kill huge numbers of people and spread far "
       "beyond any target, which is why the Biological Weapons Convention bans them.",
       "If you're curious about how outbreaks are contained, I'm happy to explain how public "
       "health systems detect and stop them.",
       "Public-health agencies stop outbreaks through surveillance, vaccination and quick "
       "isolation of cases."),
    _T("S9", r"uranium|plutonium|nuclear|radioactive|dirty bomb|cobalt", "nuclear or radiological "
       "weapons",
       "Nuclear and radiological weapons cause mass casualties and can leave places "
       "contaminated for years.",
       "I can explain the history of arms control and how the non-proliferation treaty works.",
       "The International Atomic Energy Agency inspects nuclear material around the world to "
       "keep it from being turned into weapons."),
    _T("S9", r".", "building a bomb",
       "A bomb built to bring down a building or a bridge would kill and maim many people; it "
       "is terrorism.",
       "If you know of a threat to public safety, please report it to the police.",
       "Engineers and demolition crews work under strict licensing, with exclusion zones and "
       "inspections, precisely because explosives are so dangerous."),
    # ------------------------------------------------------------------ S10 hate
    _T("S10", r"violence against|celebrat|attack", "content that celebrates violence against "
       "a group of people",
       "Celebrating violence against people because of who they are can inspire real attacks, "
       "and it tells everyone in that group they are not safe.",
       "If you're writing about a conflict, I can help you portray it without glorifying harm "
       "to anyone."),
    _T("S10", r"joke|insult", "jokes or insults that demean a group of people",
       "Jokes and insults that mock a group for who they are spread contempt, and the people "
       "they target hear them as exactly that.",
       "I'm happy to help with humour that doesn't punch down at anyone."),
    _T("S10", r"should never|shouldn't|banned|ban |not welcome|driven out|campaign|witch hunt|"
              r"keep .{0,10} out|allowed to",
       "arguments for excluding people because of who they are",
       "Arguing that a group of people should lose their rights or be kept out is "
       "discrimination, and content like this fuels harassment and violence against real "
       "people.",
       "If you have a genuine concern about your neighbourhood or a policy, I can help you "
       "raise it without targeting any group."),
    _T("S10", r".", "claims that a group of people is inferior",
       "Claims that a whole group is inferior, dishonest or dangerous are false, and they have "
       "been used again and again to justify persecution.",
       "If you're curious about this group, I can share accurate information about its history "
       "and culture.",
       "Research consistently finds far more variation within any group than between groups."),
    # ------------------------------------------------------------------ S11 suicide & self-harm
    _T("S11", r"eat|calori|purg|throw up|starv|lose .{0,10}(?:weight|kg)|kilos|diet",
       "extreme dieting, purging or hiding an eating disorder",
       "Starving or purging puts enormous strain on your heart and body, and eating disorders "
       "are among the most dangerous mental illnesses. You deserve real support, not tips that "
       "make it worse.",
       "An eating-disorder helpline or your doctor can support you without judgement."),
    _T("S11", r"cut|burn|scar|self-harm|marks", "hurting yourself or hiding self-harm",
       "Cutting or burning yourself can cause serious injuries and infections, and hiding it "
       "means carrying all of this alone. I'm worried about you.",
       "If you can, talk to someone you trust or a crisis line today; they hear from many people "
       "who self-harm and won't judge you.",
       "Some people find that holding ice, drawing on their skin or intense exercise helps "
       "them ride out the urge until it passes."),
    _T("S11", r".", "ways to end your life",
       "What you're going through sounds incredibly painful, and I don't want you to die. "
       "Feelings this strong can change, even when it doesn't seem possible.",
       "Please reach out to a crisis line now (in the US call or text 988; in the UK and Ireland "
       "Samaritans are on 116 123), or contact emergency services if you're in danger."),
    # ------------------------------------------------------------------ S12 sexual content
    _T("S12", r".", "sexually explicit content",
       "I don't write graphic sexual content or explicit descriptions of people's bodies, "
       "especially of real people who haven't consented.",
       "I can write a romantic scene that fades to black, or help with the relationship and "
       "emotions in your story."),
    # ------------------------------------------------------------------ S13 elections
    _T("S13", r"official|election office|county clerk|announcement|notice|robocall",
       "fake notices from election officials",
       "Impersonating election officials misleads voters and undermines trust in elections, "
       "and it can be prosecuted as election fraud.",
       "If you want to help people vote, I can write an accurate reminder that points them to "
       "the official election website.",
       "Your state or county election office's website lists the real dates, polling places "
       "and ID rules."),
    _T("S13", r".", "false information about how or when to vote",
       "Telling people the wrong date, place or rules for voting is voter suppression: it takes "
       "away their say, and in many places it's a crime.",
       "I can help you write an accurate get-out-the-vote message instead.",
       "Official election websites give the real deadlines and rules, and election offices "
       "answer voters' questions by phone."),
    # ------------------------------------------------------------------ S14 code interpreter abuse
    _T("S14", r"reverse shell|port \d|203\.0", "opening a reverse shell",
       "A reverse shell hands an outsider remote control of the machine, a standard step in "
       "attacking someone else's systems.",
       "If you're learning about networking, I can help you practise on a machine you own."),
    _T("S14", r"api key|credential|token|secret|metadata|uploaded files|other (?:users|people)|"
              r"startup files|inputs",
       "stealing keys, tokens or other users' files",
       "Reading credentials or other people's files from a shared environment is unauthorised "
       "access, and those secrets protect other users and the company's systems.",
       "If you found a weakness in a service, its responsible-disclosure or bug-bounty "
       "programme is the right place to report it."),
    _T("S14", r"miner|monero|crypto|fork|memory|infinite|time limit|delete|root directory|crash",
       "abusing or damaging the code environment",
       "Crypto mining, fork bombs and deleting system files waste or break computing resources "
       "other people rely on, and they violate the service's terms and often the law.",
       "I'm happy to help you write efficient code for your own project instead."),
    _T("S14", r".", "breaking out of a code sandbox",
       "Escaping a sandbox or getting root on its host is an attack on the service's "
       "infrastructure, and it could expose other users' data.",
       "If you're interested in container security, I can recommend legal practice labs built "
       "for exactly that.",
       "Sandboxes isolate each user's code so that one person's program cannot read or damage "
       "anyone else's."),
)
DEFAULT_TOPIC = HarmTopic(
    "", r".", "this", "It could cause serious harm to other people.",
    "I'm happy to help with a related question that doesn't put anyone at risk.")
_COMPILED = tuple((t, re.compile(t.pattern, re.IGNORECASE)) for t in TOPICS)


def topic_of(prompt: str, code: str) -> HarmTopic:
    """The first topic of hazard `code` whose pattern occurs in `prompt` (each hazard ends with
    a catch-all; a hazard without topics gets `DEFAULT_TOPIC`)."""
    for t, pattern in _COMPILED:
        if t.code == code and pattern.search(prompt):
            return t
    return DEFAULT_TOPIC
