"""Surface cues of how a message is written: shouting, repeated punctuation, swearing, "again",
sarcasm, explicit requests for a human and words of distress.

Pure regular expressions on purpose: the emotion component, the per-turn action and the eval
command all need the same cues, and none of them should pay for a tokenizer to find "!!!".
Text inside quotation marks is removed first, so "my son said 'I HATE this'" is not the
customer shouting.
"""

import re
from dataclasses import asdict, dataclass
from typing import Final

# Longer messages add nothing to the cues but cost regex time; a 100 KB rant is cut here.
MAX_CHARS: Final = 5000

_QUOTED = re.compile(r"\"[^\"\n]{1,300}\"|“[^”\n]{1,300}”|(?<![A-Za-z])'[^'\n]{2,300}'(?![A-Za-z])")
_LETTERS = re.compile(r"[^\W\d_]")
_WORD = re.compile(r"[^\W\d_]{2,}")
_PUNCT_BURST = re.compile(r"[!?]{2,}")

_PROFANITY = re.compile(
    r"\b(f+u+c+k\w*|f\*+\w*|f[-_]?ing|sh[i1*]t\w*|crap\w*|damn\w*|bloody|hell|wtf|ffs|bs|bullsh\w*|"
    r"arse\w*|ass(hole)?s?|bastard\w*|piss\w*|screw(ed)?|sucks?)\b",
    re.IGNORECASE,
)
_POSITIVE = re.compile(
    r"\b(thanks?|thank you|cheers|brilliant|great|amazing|awesome|love|perfect|excellent|fantastic|"
    r"wonderful|legend|lifesaver|sorted|appreciate\w*|helpful)\b",
    re.IGNORECASE,
)
# "another" is not here: "another order" is calm (issue 17); "yet again", "once more" say it.
_REPETITION = re.compile(
    r"\b(again|still|yet again|once more|keep (getting|saying|telling|asking)|"
    r"(second|third|fourth|fifth|nth|\d+(st|nd|rd|th)) time|(two|three|four|five|\d+) times|twice|"
    r"how many times|already (told|said|asked|explained|gave)|over and over|every time|for weeks|for days|"
    r"same (thing|answer|problem|message))\b",
    re.IGNORECASE,
)
_FAILURE = re.compile(
    r"\b(not|never|no|nothing|didn'?t|doesn'?t|won'?t|can'?t|cannot|isn'?t|wasn'?t|broken|wrong|late|"
    r"missing|lost|failed|fail\w*|useless|again|still|another|third time|waiting|nobody)\b",
    re.IGNORECASE,
)
_SARCASM_OPENERS = re.compile(
    r"\b(oh (great|wonderful|brilliant|perfect|fantastic|joy|lovely|good)|"
    r"just (great|perfect|brilliant|wonderful)|"
    r"great,? just great|yeah,? right|thanks for nothing|thanks a lot|great job|well done|"
    r"what a (surprise|shock)|love (that|how|it when)|so helpful|really helpful|as usual|shocker)\b",
    re.IGNORECASE,
)
# Sarcasm that needs no failure word next to it: praise repeated flatly ("great, just great" after
# "order 10003 is delayed"), or set phrases nobody says in earnest.  Context lives in the previous
# turn, which a per-message cue cannot see; these forms are sarcastic on their own.
_SARCASM_ALONE = re.compile(
    r"\b(?P<word>great|brilliant|perfect|wonderful|fantastic|lovely|marvellous|super)[,.!]*\s+"
    r"(just|really|absolutely|simply)\s+(?P=word)\b|"
    r"\b(thanks for nothing|yeah,? right|oh,? joy|what a (surprise|shock)|shocker|cheers for nothing)\b",
    re.IGNORECASE,
)
# Asking for a person, not mentioning one: "the agent sorted my refund" is thanks, not a request
# (issue 17), so a word like "agent" counts only after a request ("put me through to an agent") or
# as the whole message ("agent please").
_PEOPLE = (
    r"(human( being)?|person|agent|representative|rep|operator|manager|supervisor|staff( member)?|"
    r"customer (service|support)( team| agent)?|advisor|adviser)"
)
_HUMAN_REQUEST = re.compile(
    r"\b(real|actual|live) (person|human|agent|people|support)\b|"
    r"\b((speak|talk|chat) (to|with)|(connect|transfer|put|pass|escalate) (me|this)( through| over)?( to)?|"
    r"(get|give|find) me|(i|we) (want|need|would like|'?d like|demand)( to (speak|talk|chat) (to|with))?|"
    r"can (i|we|you) (have|get|speak to|talk to|chat to|chat with|talk with|speak with)|"
    r"let me (speak|talk|chat) (to|with)|is there (a|an|any)|are there any|where is (a|an|the|your))"
    r"\s+(to\s+)?(a |an |the |some |one of your |your |any |one )?(real |actual |live )?"
    rf"({_PEOPLE}|someone|somebody)\b|"
    rf"^\W*({_PEOPLE})(,? (please|pls|plz|now|asap))*\W*$",
    re.IGNORECASE,
)
# The customer correcting or turning down what the bot just said ("no, I said the west").
_CORRECTION = re.compile(
    r"^\W*(no|nope|nah|not|wrong|incorrect)\b|"
    r"\b(that'?s not (what|right|correct|it)|i (said|meant|asked for)|not what i|"
    r"(is|was)(n'?t| not) (correct|right|what)|you misunderstood|that'?s wrong)\b",
    re.IGNORECASE,
)
# The customer saying they are lost ("what do you mean?"): a signal of its own (issue 17), because
# confusion calls for a clearer answer before it calls for an apology.
_CONFUSION = re.compile(
    r"\b(i (do not|don'?t|dont|still don'?t) (understand|get it|follow)|what do you mean|confus\w*|"
    r"makes? no sense|not sure what you mean|i'?m (lost|not following))\b",
    re.IGNORECASE,
)
_DISTRESS = re.compile(
    r"\b(scared|afraid|terrified|frightened|panic\w*|desperate\w*|anxious|anxiety|emergency|urgent\w*|"
    r"crying|in tears|can'?t cope|can'?t afford|overdrawn|rent|bills?|medication|medicine|insulin|"
    r"hospital|disabled|vulnerable|unsafe|threat\w*|fraud\w*|stolen|hacked|scam\w*|help me|please help|"
    r"losing my mind|breaking down|no money|evicted|at my wits'? end)\b",
    re.IGNORECASE,
)

CUE_NAMES: Final = (
    "caps_ratio",
    "exclamations",
    "punctuation_burst",
    "profanity",
    "positive_profanity",
    "repetition",
    "sarcasm",
    "human_request",
    "distress_words",
    "quoted",
    "correction",
)


@dataclass(frozen=True)
class Cues:
    """Each cue in [0, 1]; ``as_vector`` keeps the order of ``CUE_NAMES`` for the classifier."""

    caps_ratio: float = 0.0
    exclamations: float = 0.0
    punctuation_burst: float = 0.0
    profanity: float = 0.0
    positive_profanity: float = 0.0
    repetition: float = 0.0
    sarcasm: float = 0.0
    human_request: float = 0.0
    distress_words: float = 0.0
    quoted: float = 0.0
    correction: float = 0.0

    def as_vector(self) -> list[float]:
        return [float(getattr(self, name)) for name in CUE_NAMES]

    def to_dict(self) -> dict[str, float]:
        return {name: round(value, 3) for name, value in asdict(self).items()}


def _caps_ratio(text: str) -> float:
    """Share of letters in shouted words (>= 2 letters, all caps); 0 for messages too short to shout."""
    words = _WORD.findall(text)
    letters = sum(len(w) for w in words)
    if letters < 6:
        return 0.0
    shouted = sum(len(w) for w in words if w.isupper())
    return shouted / letters


def without_quotes(text: str) -> str:
    """``text`` with quoted speech removed: "my son said 'I hate this'" is not the customer's anger."""
    clipped = text[:MAX_CHARS]
    return " ".join(_QUOTED.sub(" ", clipped).split()) if _QUOTED.search(clipped) else text


def extract_cues(text: str) -> Cues:
    """Cues of ``text``; empty, emoji-only or non-Latin text simply yields zeros where nothing applies."""
    text = text[:MAX_CHARS]
    unquoted = _QUOTED.sub(" ", text)
    quoted = unquoted != text
    profane = bool(_PROFANITY.search(unquoted))
    positive = bool(_POSITIVE.search(unquoted))
    failure = bool(_FAILURE.search(unquoted))
    praise_with_failure = bool(_SARCASM_OPENERS.search(unquoted)) or (
        positive and bool(_REPETITION.search(unquoted))
    )
    sarcasm = (praise_with_failure and failure) or bool(_SARCASM_ALONE.search(unquoted))
    return Cues(
        caps_ratio=_caps_ratio(unquoted) if _LETTERS.search(unquoted) else 0.0,
        exclamations=min(unquoted.count("!"), 3) / 3,
        punctuation_burst=1.0 if _PUNCT_BURST.search(unquoted) else 0.0,
        profanity=1.0 if profane and not (positive and not failure) else 0.0,
        positive_profanity=1.0 if profane and positive and not failure else 0.0,
        repetition=min(len(_REPETITION.findall(unquoted)), 2) / 2,
        sarcasm=1.0 if sarcasm else 0.0,
        human_request=1.0 if _HUMAN_REQUEST.search(unquoted) else 0.0,
        distress_words=min(len(_DISTRESS.findall(unquoted)), 2) / 2,
        quoted=1.0 if quoted else 0.0,
        correction=1.0 if _CORRECTION.search(unquoted) else 0.0,
    )


def confusion_words(text: str) -> float:
    """1 when the customer says they do not follow ("I don't understand", "what do you mean").

    Not one of ``CUE_NAMES``: those are inputs of the trained emotion model, whose shape a new cue
    would change; the frustration score reads this one directly from the text.
    """
    return 1.0 if _CONFUSION.search(without_quotes(text)) else 0.0
