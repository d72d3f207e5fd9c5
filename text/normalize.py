"""Make written text speakable: the text in the supervision must be the text that is spoken.

Every source's turns pass through :func:`normalize_for_speech`, which

0. finds content a voice cannot read as written (:func:`find_unspeakable`): code (fenced or not: program
   text, shell, SQL, markup), tables, URLs, e-mail addresses, IPA transcriptions and runs of symbols. With
   ``unspeakable: verbalize`` (the default, per source) URLs and e-mail addresses are read out the way a
   reader says them ("example dot com slash docs") and everything else rejects the row with a reason naming
   what was found ("unspeakable code ('def f(x): ...')"); with ``unspeakable: reject`` anything found
   rejects the row. Nothing unspeakable is silently read aloud ("factorial equal sign one") or dropped;
1. strips markup a reader skips: inline code marks, markdown emphasis/headers/bullets/quotes/links, HTML
   tags, emojis and control characters; a run of underscores (a fill-in blank) is read "blank";
2. rejects the turn when little speakable text is left (a non-Latin script that the English voices would
   mangle, or nothing but markup);
3. expands numbers, units and symbols into words ("$5.50" -> "five dollars fifty cents"), with NVIDIA's
   ``nemo_text_processing`` WFST normalizer when it is installed (``numbers: auto`` or ``nemo``), and a
   small rule set on top of ``num2words`` otherwise (``numbers: rules``; also the per-sentence
   fallback when the WFST normalizer fails). Why both: nemo_text_processing is the well-kept
   normalizer NeMo's own TTS uses (dates, money, measures, times, ordinals, roman numerals...), but
   it needs ``pynini`` (a 165 MB wheel, ~40 s to pip install) and compiles its grammars once per
   cache folder (~25 s; 0.6 s to load after that); the rule set is instant and dependency-light;
4. caps the turn length (``max_turn_chars``): an agent turn is cut at the last sentence boundary
   that fits (``long_turn: truncate``) or the turn is rejected (``long_turn: reject``); a user turn
   that is too long is always rejected (cutting a question changes what is asked).

It returns the new text and the list of changes, so reports count rows changed and why;
:func:`normalize_conversation` records them in ``conv.meta["normalized"]`` and raises
:class:`RejectError` with a reason of the form ``"<kind> (<details>)"`` (grouped by kind in reports).

Example::

    text, changes = normalize_for_speech("**Hi** see https://x.org, it costs $5")
    # text == "Hi see x dot org, it costs five dollars", changes == ["url", "markdown", "numbers"]
"""

from __future__ import annotations

import logging
import os
import re
import threading
import unicodedata
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Optional, Union

from duplexgen.core.records import Conversation, RejectError

log = logging.getLogger(__name__)


#: What to do with content a voice cannot read as written (``normalize.unspeakable``).
UNSPEAKABLE_POLICIES = ("verbalize", "reject")


@dataclass
class NormalizeConfig:
    """How turns are made speakable (per source: ``sources[].options.normalize: {...}``)."""

    numbers: str = field(default="auto", metadata={"help": "number/unit/symbol expansion: auto (nemo_text_processing if installed, else rules), nemo, rules, off"})
    max_turn_chars: int = field(default=600, metadata={"help": "longest turn in characters after cleanup (~40 s of speech)"})
    long_turn: str = field(default="truncate", metadata={"help": "agent turn over max_turn_chars: truncate (at a sentence boundary) or reject"})
    min_letters: int = field(default=2, metadata={"help": "fewest letters a turn must keep to be spoken"})
    min_kept_fraction: float = field(default=0.4, metadata={"help": "reject a turn whose letters left after removing code/URLs/tables are below this fraction"})
    max_non_latin: float = field(default=0.3, metadata={"help": "reject a turn whose letters are more than this fraction non-Latin (English voices)"})
    unspeakable: str = field(default="verbalize", metadata={"help": "content a voice cannot read as written: verbalize (URLs and e-mail addresses read out; code, tables, IPA and symbol runs reject the row) or reject (anything found rejects the row)"})

    def __post_init__(self):
        if self.numbers not in ("auto", "nemo", "rules", "off"):
            raise ValueError(f"normalize.numbers must be auto, nemo, rules or off, got {self.numbers!r}")
        if self.long_turn not in ("truncate", "reject"):
            raise ValueError(f"normalize.long_turn must be truncate or reject, got {self.long_turn!r}")
        if self.max_turn_chars < 20:
            raise ValueError(f"normalize.max_turn_chars must be >= 20, got {self.max_turn_chars}")
        if not 0.0 <= self.min_kept_fraction <= 1.0:
            raise ValueError(f"normalize.min_kept_fraction must be in [0, 1], got {self.min_kept_fraction}")
        if not 0.0 <= self.max_non_latin <= 1.0:
            raise ValueError(f"normalize.max_non_latin must be in [0, 1], got {self.max_non_latin}")
        if self.unspeakable not in UNSPEAKABLE_POLICIES:
            raise ValueError(f"normalize.unspeakable must be one of {UNSPEAKABLE_POLICIES}, got {self.unspeakable!r}")

    @classmethod
    def from_options(cls, options: Optional[dict[str, Any]]) -> "NormalizeConfig":
        """A config from a recipe's ``options["normalize"]`` dict, naming any unknown key."""
        options = dict(options or {})
        known = {f.name for f in fields(cls)}
        bad = sorted(set(options) - known)
        if bad:
            raise ValueError(f"unknown normalize option(s) {bad}; choose from {sorted(known)}")
        return cls(**options)


DEFAULT = NormalizeConfig()

_CODE_BLOCK = re.compile(r"```.*?(?:```|\Z)", re.S)
_INDENTED_CODE = re.compile(r"(?:^(?: {4}|\t)\S.*(?:\n|$)){2,}", re.M)
_INLINE_CODE = re.compile(r"`([^`\n]*)`")
_URL = re.compile(r"\b(?:https?|ftp)://\S+|\bwww\.[^\s]+", re.I)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_HTML = re.compile(r"</?[a-zA-Z][^>]*>")
_TABLE_LINE = re.compile(r"^\s*\|.*\|\s*$|^\s*\|?\s*:?-{3,}.*$", re.M)
_MD_EMPH = re.compile(r"(\*\*|__|\*|_|~~)(?=\S)(.+?)(?<=\S)\1")
_MD_HEADER = re.compile(r"^\s{0,3}#{1,6}\s*", re.M)
_MD_QUOTE = re.compile(r"^\s*>\s?", re.M)
_MD_BULLET = re.compile(r"^\s*(?:[-*+•]|\d+[.)]|[a-zA-Z][.)])\s+", re.M)
_HRULE = re.compile(r"^\s*(?:[-*_]\s*){3,}$", re.M)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_WS = re.compile(r"[ \t\r\f\v]+")
_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=\S)")
#: Sentences with any of these need number/symbol expansion.
_NEEDS_EXPANSION = re.compile(r"[0-9$€£¥%&@#+=°×÷^~<>/]")


def _is_emoji(ch: str) -> bool:
    # Pictographs only: "°", "©" and other Latin-1 symbols are kept (they are expanded or spoken).
    return (unicodedata.category(ch) in ("So", "Cs", "Co") and ord(ch) >= 0x2190) or 0x1F000 <= ord(ch) <= 0x1FAFF or ch in "\ufe0f\u200d"


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def _non_latin_fraction(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    non_latin = sum(1 for ch in letters if not unicodedata.name(ch, "").startswith("LATIN"))
    return non_latin / len(letters)


def strip_markup(text: str) -> tuple[str, list[str]]:
    """Remove what cannot be spoken (code, URLs, markdown, tables, HTML, emojis); list what was removed."""
    changes: list[str] = []

    def sub(pattern: re.Pattern, repl: str, t: str, name: str) -> str:
        new = pattern.sub(repl, t)
        if new != t and name not in changes:
            changes.append(name)
        return new

    t = unicodedata.normalize("NFKC", text)
    t = sub(_CONTROL, " ", t, "control_chars")
    t = sub(_CODE_BLOCK, "\n", t, "code_block")
    t = sub(_INDENTED_CODE, "\n", t, "code_block")
    t = sub(_MD_LINK, r"\1", t, "markdown")
    t = sub(_URL, " ", t, "url")
    t = sub(_EMAIL, " ", t, "email")
    t = sub(_HTML, " ", t, "html")
    t = sub(_TABLE_LINE, "\n", t, "table")
    md = _INLINE_CODE.sub(r"\1", t)
    md = _MD_EMPH.sub(r"\2", md)
    md = _HRULE.sub("", md)
    md = _MD_HEADER.sub("", md)
    md = _MD_QUOTE.sub("", md)
    if md != t:
        changes.append("markdown")
    t = md
    # A list item is a sentence of its own when spoken: give it an end mark before joining lines.
    bullets = _MD_BULLET.sub("", t)
    if bullets != t:
        changes.append("list")
        lines = [ln.strip() for ln in bullets.split("\n")]
        bullets = "\n".join(ln if not ln or ln[-1] in ".!?:;," else ln + "." for ln in lines)
    t = bullets
    no_emoji = "".join(ch for ch in t if not _is_emoji(ch))
    if no_emoji != t:
        changes.append("emoji")
    t = no_emoji
    t = re.sub(r"\s*\n\s*", " ", t)
    t = _WS.sub(" ", t).strip()
    t = re.sub(r"\s+([,.!?;:])", r"\1", t)
    t = re.sub(r"([,.!?;:])\1+", r"\1", t) if re.search(r"([,;:])\1", t) else t
    return t, changes


# --- unspeakable content: find it, then verbalize what a reader would say, or reject the row -----------------

@dataclass(frozen=True)
class Finding:
    """Content a voice cannot read as written: ``kind`` is code, table, url, email, ipa or symbols."""

    kind: str
    start: int
    end: int
    excerpt: str

    def describe(self) -> str:
        text = " ".join(self.excerpt.split())
        return f"{self.kind} {text[:40]!r}" + ("..." if len(text) > 40 else "")


#: Kinds a reader can say aloud (with ``unspeakable: verbalize``); every other kind rejects the row.
VERBALIZABLE = ("url", "email")

_FENCED = re.compile(r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)", re.S)
# One line of program text. Only signals prose does not have: a definition header, a declaration, a control
# header ending in ":" or "{", a lone bracket, a shell command line, a statement ending in ";", code operators,
# an assignment, a bare call, a markup tag. Two such lines make a code block (one line could be a formula).
_CODE_LINE = re.compile(
    r"""^\s*(?:
        (?:def|class|function|fn|func|sub)\s+\w+\s*\(.*\)\s*(?:[:{]|->.*:)?\s*$
      | (?:public|private|protected|static|void|int|long|float|double|char|bool|boolean|String|const|let|var|auto)\s+[\w<>\[\],\s]*\w\s*(?:=|;|\(|\{).*$
      | (?:return|import|from\s+[\w.]+\s+import|\#include|\#define|using\s+namespace|package|require)\b(?:[^.!?]*|.*[\w)\]}]\s*;?)$
      | (?:if|elif|else\s+if|while|for|foreach|switch|catch|with)\b.*(?::|\{|\)\s*\{?)\s*$
      | (?:else|try|finally|do|then|fi|done|esac|end)\s*[:{]?\s*$
      | [{}\[\]();]+\s*$
      | \#!\s*/\S+.*$
      | \$\s+[a-z][\w.-]*(?:\s+\S+)+\s*$
      | (?:\$\s+)?(?:sudo|apt(?:-get)?|yum|brew|pip3?|npm|yarn|git|cd|ls|echo|export|chmod|chown|mkdir|rm|cp|mv|grep|sed|awk|curl|wget|cat|python3?|node|java|gcc|make|docker)\s+(?:-{1,2}\w|[\w./~$"'-]*[/.$-])\S*.*$
      | .*(?:==|!=|<=|>=|\+=|-=|\*=|/=|&&|\|\||=>|::|\+\+|--\s*$).*$
      | [A-Za-z_][\w.]*(?:\[[^\]]*\])?\s*=\s*[^=\s].*$
      | [A-Za-z_][\w.]*\s*\([^()]*\)\s*;?\s*$
      | .*[)\]}"'\w]\s*;\s*$
      | </?[A-Za-z][\w-]*(?:\s[^>]*)?/?>.*$
    )""",
    re.X,
)
# Signals strong enough on one line: a method call (str.upper(), console.log(x)), a list comprehension, a power
# or comparison/assignment operator between operands, an increment.
_CODE_SIGNAL = re.compile(
    r"\b[A-Za-z_]\w*\.[A-Za-z_]\w*\([^()]*\)|\[[^\]]*\bfor\s+\w+\s+in\b[^\]]*\]|\w\*\*\w|\S\s*(?:==|!=|&&|\|\||\+=|-=|\*=|/=)\s*\S"
    r"|\w\+\+\s*[;)]|\+\+[a-z_]"
)
_SQL = re.compile(r"\b(?:SELECT\s+(?:DISTINCT\s+)?[\w*.,\s()]+?\s+FROM\s+\w|INSERT\s+INTO\s+\w|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s+\w|CREATE\s+(?:TABLE|INDEX|VIEW|DATABASE)\s+\w|DROP\s+TABLE\s+\w)")
_SHELL_INLINE = re.compile(r"#!/\S+|\bif\s+\[\s+.*\s\]|\$\{\w+\}|\$\(\s*\w")
_TABLE = re.compile(r"(?:^[ \t]*\|.*\|[ \t]*$\n?){2,}|(?:^.*\t.*\t.*$\n?){3,}", re.M)
_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"')\]]+|\bwww\.[^\s<>\"')\]]+", re.I)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
# IPA letters (IPA Extensions block, stress and length marks, a few Greek/Latin letters IPA borrows) in a word,
# optionally inside /slashes/ or [brackets].
_IPA_LETTERS = "\u0250-\u02af\u02c8\u02cc\u02d0\u02d1\u1d00-\u1d7f\u0298\u03b8\u03b2\u00e6\u00f0\u014b\u0254"
_IPA = re.compile(r"[/\[]?[^\s/\[\]()]*[\u0250-\u02af\u02c8\u02cc\u02d0\u02d1\u1d7b][^\s/\[\]()]*[/\]]?")
# Symbols a voice reads by name or not at all, three or more in a row ("-->", "#$%", "|||"); repeated
# decoration ("----", "****", "....") is dropped by the markup cleanup first.
_SYMBOL_RUN = re.compile(r"[^\w\s.,;:!?'\"()\u2018\u2019\u201c\u201d\u2013\u2014-]{3,}|(?:[<>=|\\^~`{}\[\]#@*/+_-]\s?){3,}")


def symbol_runs(text: str) -> list[re.Match]:
    """Runs of three or more symbols, except emoji (dropped by the cleanup) and one repeated decoration
    character (a markdown rule or header: "----", "***", "###")."""
    runs = []
    for m in _SYMBOL_RUN.finditer(text):
        chars = {ch for ch in m.group() if not ch.isspace()}
        if all(_is_emoji(ch) for ch in chars) or (len(chars) == 1 and chars <= set("-*_=~#.")):
            continue
        if chars <= set("-") | {"\u2013", "\u2014"}:
            continue
        runs.append(m)
    return runs


def find_unspeakable(text: str) -> list[Finding]:
    """Everything in ``text`` a voice cannot read as written, in text order."""
    found: list[Finding] = []

    def add(kind: str, m: re.Match) -> None:
        if not any(f.start <= m.start() < f.end for f in found):
            found.append(Finding(kind, m.start(), m.end(), m.group()))

    for m in _FENCED.finditer(text):
        add("code", m)
    lines = list(re.finditer(r"[^\n]+", text))
    code_lines = [m for m in lines if _CODE_LINE.match(m.group()) and not any(f.start <= m.start() < f.end for f in found)]
    if len(code_lines) >= 2:
        found.append(Finding("code", code_lines[0].start(), code_lines[-1].end(), text[code_lines[0].start() : code_lines[-1].end()]))
    for pattern, kind in ((_CODE_SIGNAL, "code"), (_SQL, "code"), (_SHELL_INLINE, "code"), (_TABLE, "table"), (_URL, "url"), (_EMAIL, "email"), (_IPA, "ipa")):
        for m in pattern.finditer(text):
            add(kind, m)
    for m in symbol_runs(text):
        add("symbols", m)
    return sorted(found, key=lambda f: f.start)


_URL_WORDS = {".": " dot ", "/": " slash ", "-": " dash ", "_": " underscore ", "@": " at ", ":": " colon ", "~": " tilde ", "#": " hash ", "?": " question mark ", "=": " equals ", "&": " and "}


def verbalize_url(url: str, max_parts: int = 8) -> Optional[str]:
    """How a reader says a web address ("https://www.example.com/docs" -> "w w w dot example dot com slash docs");
    None when it is too long to read aloud (query strings, long paths: more than ``max_parts`` pieces)."""
    core = re.sub(r"^(?:https?|ftp)://", "", url.rstrip(".,;:!?"), flags=re.I).rstrip("/")
    pieces = [p for p in re.split(r"[./\-_@:~#?=&]", core) if p]
    if not pieces or len(pieces) > max_parts or any(len(p) > 20 or (any(ch.isdigit() for ch in p) and any(ch.isalpha() for ch in p)) for p in pieces):
        return None
    out = "".join(_URL_WORDS.get(ch, ch) for ch in core)
    out = re.sub(r"\bwww\b", "w w w", out, flags=re.I)
    return " ".join(out.split())


def verbalize_email(address: str) -> str:
    """How a reader says an e-mail address ("HR@company.com" -> "HR at company dot com")."""
    out = "".join(_URL_WORDS.get(ch, ch) for ch in address)
    return " ".join(out.split())


_BLANK = re.compile(r"_{2,}")


def speak_or_reject(text: str, policy: str = "verbalize") -> tuple[str, list[str]]:
    """Apply ``normalize.unspeakable`` to ``text``: URLs and e-mail addresses read out (``verbalize``), any
    other finding (or any finding at all, ``reject``) raises :class:`RejectError` naming it. Markdown links
    keep their text first (a reader says the link text, not the address). Returns (text, changes)."""
    changes: list[str] = []
    linked = _MD_LINK.sub(r"\1", text)
    if linked != text:
        changes.append("markdown")
    blanked = _BLANK.sub("blank", linked)  # a fill-in blank is read "blank", before it counts as symbols
    if blanked != linked:
        changes.append("blank")
    text = blanked
    findings = find_unspeakable(text)
    blocking = [f for f in findings if policy == "reject" or f.kind not in VERBALIZABLE]
    if blocking:
        kinds = sorted({f.kind for f in blocking})
        raise RejectError(f"unspeakable {' and '.join(kinds)} ({'; '.join(f.describe() for f in blocking[:3])})", code="normalize.unspeakable", stage="normalize")
    for f in reversed(findings):  # from the end, so the earlier spans stay valid
        core = f.excerpt.rstrip(".,;:!?") if f.kind == "url" else f.excerpt
        spoken = verbalize_url(core) if f.kind == "url" else verbalize_email(core)
        if spoken is None:
            raise RejectError(f"unspeakable url (too long to read aloud: {f.describe()})", code="normalize.unspeakable", stage="normalize")
        text = text[: f.start] + spoken + f.excerpt[len(core):] + text[f.end :]
    changes += sorted({f.kind for f in findings})
    return text, changes


# --- numbers, units, symbols ----------------------------------------------------------------

_nemo_lock = threading.Lock()
_nemo_normalizer: Any = None
_nemo_failed = False


def nemo_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("nemo_text_processing") is not None and importlib.util.find_spec("pynini") is not None


def _nemo():
    """NeMo's English WFST normalizer, built once per process; grammars cached on disk (~25 s the first time)."""
    global _nemo_normalizer, _nemo_failed
    with _nemo_lock:
        if _nemo_normalizer is None and not _nemo_failed:
            try:
                from nemo_text_processing.text_normalization.normalize import Normalizer
                # It logs every sentence at INFO and resets its level on later imports: filter instead.
                logging.getLogger("NeMo-text-processing").addFilter(lambda r: r.levelno >= logging.WARNING)

                cache = os.environ.get(
                    "DUPLEXGEN_TN_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "duplexgen", "nemo_text_processing")
                )
                os.makedirs(cache, exist_ok=True)
                _nemo_normalizer = Normalizer(input_case="cased", lang="en", cache_dir=cache)
            except Exception as e:  # noqa: BLE001 - an unusable install falls back to the rules
                log.warning("nemo_text_processing unusable (%s: %s); using the rule-based normalizer", type(e).__name__, e)
                _nemo_failed = True
        return _nemo_normalizer


_UNITS = {
    "km/h": "kilometers per hour", "mph": "miles per hour", "km": "kilometers", "cm": "centimeters",
    "mm": "millimeters", "m": "meters", "kg": "kilograms", "mg": "milligrams", "g": "grams",
    "lb": "pounds", "lbs": "pounds", "oz": "ounces", "ft": "feet", "mi": "miles", "ml": "milliliters",
    "l": "liters", "L": "liters", "GB": "gigabytes", "MB": "megabytes", "KB": "kilobytes", "TB": "terabytes",
    "Hz": "hertz", "kHz": "kilohertz", "MHz": "megahertz", "GHz": "gigahertz", "kW": "kilowatts",
    "W": "watts", "V": "volts", "h": "hours", "hr": "hours", "hrs": "hours", "min": "minutes",
    "s": "seconds", "sec": "seconds", "ms": "milliseconds", "°C": "degrees Celsius", "°F": "degrees Fahrenheit",
    "°": "degrees", "%": "percent",
}
_CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"), "€": ("euro", "euros", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"), "¥": ("yen", "yen", "", "")}
_SYMBOLS = {"&": " and ", "@": " at ", "+": " plus ", "=": " equals ", "×": " times ", "÷": " divided by ", "^": " to the power of ", "<": " less than ", ">": " greater than ", "~": " about ", "#": " number "}


def _n2w(n: Union[int, float, str], to: str = "cardinal") -> str:
    from num2words import num2words

    return num2words(n, to=to, lang="en").replace(",", "").replace("-", " ")


def _cardinal(num: str) -> str:
    """"1,234.56" -> "one thousand two hundred thirty four point five six"."""
    num = num.replace(",", "")
    if "." in num:
        whole, frac = num.split(".", 1)
        return f"{_n2w(int(whole or 0))} point {' '.join(_n2w(int(d)) for d in frac)}"
    return _n2w(int(num))


_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"


def _money(m: re.Match) -> str:
    one, many, sub_one, sub_many = _CURRENCY[m.group(1)]
    amount = m.group(2).replace(",", "")
    scale = f" {m.group(3).lower()}" if m.group(3) else ""
    whole, _, frac = amount.partition(".")
    if scale or not frac or len(frac) != 2 or not sub_one:
        return f"{_cardinal(amount)}{scale} {many if (scale or amount != '1') else one}"
    w, c = int(whole or 0), int(frac)
    parts = []
    if w:
        parts.append(f"{_n2w(w)} {one if w == 1 else many}")
    if c:
        parts.append(f"{_n2w(c)} {sub_one if c == 1 else sub_many}")
    return " and ".join(parts) or f"zero {many}"


def expand_with_rules(text: str) -> str:
    """A small, predictable rule set for numbers, units and symbols (``num2words`` for the words)."""
    t = text
    t = re.sub(r"([$€£¥])\s?(" + _NUM + r")(?:\s?(thousand|million|billion|trillion|[kKmMbB])\b)?", lambda m: _money_scaled(m), t)
    t = re.sub(r"\b(\d{1,2}):(\d{2})\s?([ap])\.?m\.?\b", lambda m: _time(m.group(1), m.group(2)) + f" {m.group(3).upper()} M", t, flags=re.I)
    t = re.sub(r"\b(\d{1,2}):(\d{2})\b", lambda m: _time(m.group(1), m.group(2)), t)
    t = re.sub(r"\b(\d+)(st|nd|rd|th)\b", lambda m: _n2w(int(m.group(1)), "ordinal"), t)
    t = expand_units(t)
    t = re.sub(r"(?<![\d.,])(1[1-9]\d\d|20\d\d)(?!\d|[,.]\d)", lambda m: _n2w(int(m.group(1)), "year"), t)
    t = re.sub(r"(?<![\w.])(-)?(" + _NUM + r")(?![\w])", lambda m: ("minus " if m.group(1) else "") + _cardinal(m.group(2)), t)
    t = re.sub(r"(?<=\w)/(?=\w)", " or ", t)
    for sym, word in _SYMBOLS.items():
        t = t.replace(sym, word)
    t = re.sub(r"(\d)", lambda m: f" {_n2w(int(m.group(1)))} ", t)  # stray digits inside words (e.g. "mp3")
    return _WS.sub(" ", t).replace(" ,", ",").replace(" .", ".").strip()


_PER = {"s": "second", "sec": "second", "h": "hour", "hr": "hour", "min": "minute", "day": "day", "kg": "kilogram", "m": "meter"}
_UNIT_RE = "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True))
_MEASURE = re.compile(r"(" + _NUM + r")\s?(" + _UNIT_RE + r")(?:/(" + "|".join(_PER) + r"))?(?![A-Za-z])")


def expand_units(text: str) -> str:
    """"500 g" -> "five hundred grams", "3 km/s" -> "three kilometers per second" (run before the
    WFST normalizer too: it reads lone unit letters such as "g" or "W" as letters)."""

    def one(m: re.Match) -> str:
        per = f" per {_PER[m.group(3)]}" if m.group(3) else ""
        return f"{_cardinal(m.group(1))} {_unit(m.group(1), m.group(2))}{per}"

    text = re.sub(r"\b(1[1-9]\d\d|20\d\d)s\b", lambda m: _decade(int(m.group(1))), text)  # "1990s", not seconds
    text = re.sub(r"(?<![\w-])-(?=\d)", "minus ", text)  # a sign, not a range ("10-20") or a dash
    return _MEASURE.sub(one, text)


def _money_scaled(m: re.Match) -> str:
    scale = m.group(3)
    names = {"k": "thousand", "m": "million", "b": "billion"}
    if scale and scale.lower() in names:
        scale = names[scale.lower()]

    class _M:
        def group(self, i):
            return {1: m.group(1), 2: m.group(2), 3: scale}[i]

    return _money(_M())  # type: ignore[arg-type]


def _decade(year: int) -> str:
    words = _n2w(year, "year")  # "nineteen ninety" -> "nineteen nineties"
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


def _time(h: str, mm: str) -> str:
    hour = _n2w(int(h))
    if mm == "00":
        return f"{hour} o'clock"
    minutes = _n2w(int(mm))
    return f"{hour} oh {minutes}" if mm.startswith("0") else f"{hour} {minutes}"


def _unit(num: str, unit: str) -> str:
    word = _UNITS[unit]
    if num.replace(",", "") in ("1", "1.0") and word.endswith("s") and not word.startswith("degrees"):
        return {"feet": "foot", "hertz": "hertz", "pence": "penny"}.get(word, word[:-1])
    return word


def expand_numbers(text: str, mode: str = "auto") -> str:
    """Numbers, units and symbols as words, sentence by sentence (only sentences that need it)."""
    if mode == "off" or not _NEEDS_EXPANSION.search(text):
        return text
    use_nemo = mode == "nemo" or (mode == "auto" and nemo_available())
    normalizer = _nemo() if use_nemo else None
    if mode == "nemo" and normalizer is None:
        raise RuntimeError("normalize.numbers=nemo but nemo_text_processing is not usable: pip install nemo_text_processing")
    text = expand_units(text)
    out = []
    for sent in _SENT_SPLIT.split(text):
        if not _NEEDS_EXPANSION.search(sent):
            out.append(sent)
            continue
        done = None
        if normalizer is not None:
            try:
                done = normalizer.normalize(sent, verbose=False, punct_post_process=True)
            except Exception as e:  # noqa: BLE001 - one odd sentence must not lose the row
                log.debug("nemo_text_processing failed on %r: %s", sent[:60], e)
        if done is None or _NEEDS_EXPANSION.search(re.sub(r"[/<>~^#@&+=]", "", done)):
            done = expand_with_rules(done if done is not None else sent)
        out.append(done)
    return " ".join(out)


# --- length ---------------------------------------------------------------------------------


def truncate_at_sentence(text: str, max_chars: int) -> Optional[str]:
    """The longest run of whole leading sentences within ``max_chars``; None if even one is too long."""
    kept = ""
    for sent in _SENT_SPLIT.split(text):
        candidate = f"{kept} {sent}".strip()
        if len(candidate) > max_chars:
            break
        kept = candidate
    return kept or None


# --- entry points ---------------------------------------------------------------------------


def normalize_for_speech(
    text: str, cfg: Optional[NormalizeConfig] = None, *, role: str = "agent"
) -> tuple[str, list[str]]:
    """Speakable text and the list of changes; :class:`RejectError` when nothing sensible can be spoken."""
    cfg = cfg or DEFAULT
    if not isinstance(text, str):
        raise RejectError(f"turn text is {type(text).__name__}, expected a string", code="normalize.not-text", stage="normalize")
    text, spoken = speak_or_reject(text, cfg.unspeakable)
    before = _letters(text)
    t, changes = strip_markup(text)
    changes = list(dict.fromkeys(spoken + changes))
    runs = [m.group() for m in symbol_runs(t)]
    if runs:  # what markup cleanup leaves: symbols a voice reads by name or not at all
        raise RejectError(f"unspeakable symbols ({', '.join(repr(r) for r in runs[:3])})", code="normalize.unspeakable", stage="normalize")
    letters = _letters(t)
    if letters < cfg.min_letters and not re.search(r"\d", t):
        removed = ", ".join(changes) or "nothing"
        raise RejectError(f"no speakable text left after normalization (removed {removed})", code="normalize.unspeakable", stage="normalize")
    if before and letters / before < cfg.min_kept_fraction and set(changes) & {"code_block", "url", "table", "email", "html"}:
        raise RejectError(
            f"mostly unspeakable content ({letters} of {before} letters left after removing {', '.join(changes)})",
            code="normalize.unspeakable", stage="normalize",
        )
    if _non_latin_fraction(t) > cfg.max_non_latin:
        raise RejectError(f"non-Latin script ({_non_latin_fraction(t):.0%} of letters > sources[].options.normalize.max_non_latin={cfg.max_non_latin:.0%}; the voices speak English)", code="normalize.non-latin", stage="normalize")
    expanded = expand_numbers(t, cfg.numbers)
    if expanded != t:
        changes.append("numbers")
        t = expanded
    if _letters(t) < cfg.min_letters:  # e.g. only punctuation and symbols that have no spoken form
        raise RejectError(f"no speakable text left after normalization (removed {', '.join(changes) or 'nothing'})", code="normalize.unspeakable", stage="normalize")
    if len(t) > cfg.max_turn_chars:
        if role != "agent" or cfg.long_turn == "reject":
            raise RejectError(
                # name the limit by its full key: the TTS has a limit of its own (tts.max_chars)
                f"turn too long ({len(t)} chars > sources[].options.normalize.max_turn_chars={cfg.max_turn_chars})",
                code="normalize.too-long", stage="normalize",
            )
        cut = truncate_at_sentence(t, cfg.max_turn_chars)
        if cut is None:
            raise RejectError(
                f"turn too long ({len(t)} chars, first sentence over sources[].options.normalize.max_turn_chars={cfg.max_turn_chars})", code="normalize.too-long", stage="normalize"
            )
        t = cut
        changes.append("truncated")
    return t, changes


def normalize_conversation(conv: Conversation, cfg: Optional[NormalizeConfig] = None) -> Conversation:
    """Normalize every text turn; record what changed in ``conv.meta['normalized']`` ({turn index: changes}).

    The config comes from ``cfg``, else from ``conv.meta['normalize_options']``, else the defaults. Turns with real audio keep their transcript
    (it is what was said), and empty agent placeholders (filled later by the LLM stage) are skipped."""
    if cfg is None:
        cfg = NormalizeConfig.from_options(conv.meta.get("normalize_options"))
    changed: dict[str, list[str]] = {}
    for i, turn in enumerate(conv.turns):
        if turn.audio_path:
            continue
        if turn.role == "agent" and not turn.text and "llm" in conv.meta:
            continue
        try:
            turn.text, changes = normalize_for_speech(turn.text, cfg, role=turn.role)
        except RejectError as e:
            kind, _, detail = e.reason.partition(" (")
            detail = f"turn {i} {turn.role}; {detail[:-1]}" if detail else f"turn {i} {turn.role}"
            raise RejectError(f"{kind} ({detail})", code=e.code, stage="normalize", item=conv.id) from None
        if changes:
            changed[str(i)] = changes
    if changed:
        conv.meta["normalized"] = changed
    return conv


def apply_options(conv: Conversation, options: dict[str, Any]) -> Conversation:
    """Carry ``options["normalize"]`` (checked now, so a bad key fails at the first row) into the conversation."""
    if options.get("normalize"):
        NormalizeConfig.from_options(options["normalize"])
        conv.meta["normalize_options"] = dict(options["normalize"])
    return conv


def count_outcomes(results: Iterable[Union[Conversation, BaseException]]) -> dict[str, Any]:
    """Per-source report numbers: kept, changed (by kind of change), rejected (by reason kind)."""
    kept = changed = rejected = 0
    changes: Counter = Counter()
    reasons: Counter = Counter()
    for r in results:
        if isinstance(r, BaseException):
            rejected += 1
            reason = getattr(r, "reason", f"{type(r).__name__}: {r}")
            reasons[reason.split(" (")[0]] += 1
            continue
        kept += 1
        norm = r.meta.get("normalized") or {}
        if norm:
            changed += 1
            changes.update({c for cs in norm.values() for c in cs})
    return {"kept": kept, "changed": changed, "rejected": rejected, "changes": dict(changes), "reasons": dict(reasons)}


__all__ = [
    "NormalizeConfig",
    "Finding",
    "find_unspeakable",
    "speak_or_reject",
    "verbalize_url",
    "verbalize_email",
    "UNSPEAKABLE_POLICIES",
    "normalize_for_speech",
    "normalize_conversation",
    "apply_options",
    "strip_markup",
    "expand_numbers",
    "expand_with_rules",
    "truncate_at_sentence",
    "count_outcomes",
    "nemo_available",
]
