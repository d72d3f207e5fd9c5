"""The LLM's writing job: the agent answers (ASR-QA) and whole spoken dialogs (Topic) of a chunk.

Recipes that need an LLM return a :class:`Conversation` whose ``meta["llm"]`` says what to write
(``{"task": "answer", ...}`` or ``{"task": "dialog", "topic", "persona", "exchanges"}``) and whose
agent turns are placeholders (text ``""``). :class:`LLMStage` fills a whole chunk of them in batched
calls to a :class:`~duplexgen.text.client.ChatClient` and turns replies into speakable turns
(markdown gone, cut-off sentences and loops dropped, normalised for speech). The Ray wrapper is
``pipeline.stages.LLMChunkStage``.

Example::

    stage = LLMStage(LLMConfig(backend="openai", base_url="http://localhost:8000/v1",
                               model="meta-llama/Llama-3.1-8B-Instruct"), cache_dir="out/cache/llm")
    filled = stage.process_batch(conversations)   # Conversation or RejectError per input
"""

from __future__ import annotations

import json
import re
from typing import Any, Optional, Union

from duplexgen.core.records import AGENT, USER, Conversation, RejectError, Turn
from duplexgen.text.client import ChatClient, LLMError, build_client
from duplexgen.text.config import LLMConfig
from duplexgen.text.normalize import NormalizeConfig, normalize_for_speech
from duplexgen.text.prompts import load_prompt

#: The start of the dialog JSON, given to a local model as the beginning of its reply.
DIALOG_PREFILL = '{"turns": [{"speaker": "user", "text": "'


def spoken_answer(text: str, cfg: Optional[NormalizeConfig] = None) -> str:
    """A model reply as a speakable answer: markdown and lists gone, a cut-off last sentence dropped;
    ``cfg`` is the source's normalization (default: NormalizeConfig())."""
    text = re.sub(r"^\s*(assistant|agent|answer)\s*:\s*", "", text.strip(), flags=re.I)
    spoken, _ = normalize_for_speech(text, cfg)
    return drop_repeated_sentences(drop_unfinished_sentence(spoken))


def source_normalize_config(conv: Conversation) -> NormalizeConfig:
    """The normalization of the conversation's source (``sources[].options.normalize``, carried in
    ``conv.meta`` by ``apply_options``): LLM text is made speakable by the same rules as the source's own text."""
    return NormalizeConfig.from_options(conv.meta.get("normalize_options"))


def drop_repeated_sentences(text: str) -> str:
    """Small models loop ("X. X. X."): keep each sentence once."""
    seen, kept = set(), []
    for sent in re.split(r"(?<=[.!?])\s+", text):
        key = re.sub(r"\W+", " ", sent.lower()).strip()
        if key and key not in seen:
            seen.add(key)
            kept.append(sent)
    return " ".join(kept)


def first_sentences(text: str, n: int) -> str:
    parts = re.split(r"(?<=[.!?])\s+", text.strip())
    return " ".join(parts[:n])


def drop_unfinished_sentence(text: str) -> str:
    """Cut a reply that stopped at max_tokens back to its last full sentence (if it has one)."""
    text = text.strip()
    if not text or text[-1] in ".!?\"'”’)":
        return text
    cut = max(text.rfind(". "), text.rfind("! "), text.rfind("? "))
    return text[: cut + 1] if cut > 0 else text


_ROLE_NAMES = {"user": USER, "human": USER, "customer": USER, "agent": AGENT, "assistant": AGENT, "ai": AGENT, "bot": AGENT}


def parse_dialog(text: str, exchanges: int) -> list[Turn]:
    """The dialog JSON a model wrote -> alternating user/agent turns, exactly ``exchanges`` pairs.

    Accepted shapes: ``{"turns": [{"speaker"|"role": ..., "text"|"content": ...}]}``, the bare list,
    or ``[{"user": ..., "agent": ...}]``. Code fences and text around the JSON are ignored. Raises
    ``ValueError`` saying what is wrong (the caller retries)."""
    body = re.sub(r"```(?:json)?", "", text)
    start = min((i for i in (body.find("{"), body.find("[")) if i >= 0), default=-1)
    if start < 0:
        raise ValueError("no JSON object in the reply")
    try:
        data, _ = json.JSONDecoder().raw_decode(body[start:])
    except json.JSONDecodeError as e:
        raise ValueError(f"bad JSON ({e.msg})") from None
    items = data.get("turns", data.get("dialog", data.get("conversation"))) if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise ValueError("JSON has no list of turns")
    turns: list[Turn] = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("a turn is not an object")
        if "user" in item and ("agent" in item or "assistant" in item):
            pairs = [(USER, item["user"]), (AGENT, item.get("agent", item.get("assistant")))]
        else:
            who = str(item.get("speaker", item.get("role", ""))).strip().lower()
            if who not in _ROLE_NAMES:
                raise ValueError(f"unknown speaker {who!r}")
            pairs = [(_ROLE_NAMES[who], item.get("text", item.get("content")))]
        for role, said in pairs:
            if not isinstance(said, str) or not said.strip():
                raise ValueError("a turn has no text")
            turns.append(Turn(role, said.strip()))
    if turns[0].role != USER:
        raise ValueError("the dialog must start with the user")
    for a, b in zip(turns, turns[1:]):
        if a.role == b.role:
            raise ValueError("speakers do not alternate")
    if len(turns) // 2 < exchanges:
        raise ValueError(f"{len(turns) // 2} exchanges, need {exchanges}")
    return turns[: 2 * exchanges]


# --- the stage ------------------------------------------------------------------------------


class LLMStage:
    """Fills ``meta["llm"]`` conversations of a chunk in batched calls; others pass through untouched.

    The model is loaded on the first batch that needs it (Ray actors build this once per worker)."""

    def __init__(self, cfg: LLMConfig, cache_dir: Optional[str] = None):
        self.cfg = cfg
        self.cache_dir = cfg.cache_dir or cache_dir
        self._client: Optional[ChatClient] = None

    @property
    def client(self) -> ChatClient:
        if self._client is None:
            self._client = build_client(self.cfg, self.cache_dir)
        return self._client

    def process_batch(self, convs: list[Conversation]) -> list[Union[Conversation, RejectError]]:
        results: list[Union[Conversation, RejectError]] = list(convs)
        answers = [i for i, c in enumerate(convs) if c.meta.get("llm", {}).get("task") == "answer"]
        dialogs = [i for i, c in enumerate(convs) if c.meta.get("llm", {}).get("task") == "dialog"]
        for i, c in enumerate(convs):
            task = c.meta.get("llm", {}).get("task") if isinstance(c.meta.get("llm"), dict) else None
            if "llm" in c.meta and task not in ("answer", "dialog"):
                results[i] = RejectError(f"unknown llm task {task!r} (expected answer or dialog)", code="llm.bad-row", stage="llm", item=c.id)
        if answers:
            self._fill_answers([convs[i] for i in answers], answers, results)
        if dialogs:
            mode = self.cfg.dialog_mode
            if mode == "auto":
                mode = "turns" if self.cfg.backend == "local" else "json"
            if mode == "json":
                self._fill_dialogs([convs[i] for i in dialogs], dialogs, results)
            else:
                self._fill_dialogs_by_turns([convs[i] for i in dialogs], dialogs, results)
        return results

    # Answers: one prompt per agent placeholder; a multi-turn conversation sends the earlier turns as context.
    def _fill_answers(self, convs: list[Conversation], where: list[int], results: list, failed_reasons: Optional[dict] = None) -> None:
        prompt = load_prompt(self.cfg.answer_prompt)
        failed: dict[int, RejectError] = {}
        # Turn by turn, so that a later answer sees the earlier ones (batched across conversations).
        while True:
            batch, slots = [], []
            for c in convs:
                if id(c) in failed:
                    continue
                k = next((j for j, t in enumerate(c.turns) if t.role == AGENT and not t.text.strip()), None)
                if k is None:
                    continue
                if k == 0:
                    failed[id(c)] = RejectError("agent turn before any user turn", code="llm.bad-row", stage="llm", item=c.id)
                    continue
                history = c.turns[:k]
                msgs = prompt.messages(question=history[-1].text)
                if len(history) > 1:
                    ctx = [{"role": "user" if t.role == USER else "assistant", "content": t.text} for t in history[:-1]]
                    msgs = msgs[:1] + ctx + msgs[1:]
                batch.append(msgs)
                slots.append((c, k))
            if not batch:
                break
            replies = self.client.complete_batch(batch, return_errors=True)
            for (c, k), r in zip(slots, replies):
                try:
                    if isinstance(r, LLMError):
                        raise r
                    c.turns[k].text = spoken_answer(r, source_normalize_config(c))
                    if not c.turns[k].text:
                        raise RejectError("empty after cleanup", code="llm.no-answer", stage="llm")
                except RejectError as e:
                    failed[id(c)] = RejectError(f"no usable LLM answer ({e.reason})", code="llm.no-answer", stage="llm", item=c.id)
        if failed_reasons is not None:  # called for dialog lines: the caller reports
            for c in convs:
                if id(c) in failed:
                    failed_reasons[id(c)] = f"agent line: {failed[id(c)].reason}"
            return
        for c, i in zip(convs, where):
            if id(c) in failed:
                results[i] = failed[id(c)]
                continue
            c.meta["llm"] = dict(c.meta["llm"], prompt=prompt.name, model=self.client.model_name)
            c.meta["llm_model"] = self.client.model_name
            results[i] = c

    def _fill_dialogs_by_turns(self, convs: list[Conversation], where: list[int], results: list) -> None:
        """Write each dialog one line at a time: the user's line, then the agent's answer, batched
        across conversations. Slower than one JSON reply but a small model gets every line right."""
        user_prompt = load_prompt(self.cfg.dialog_user_prompt)
        for c in convs:
            c.turns = []
        failed: dict[int, str] = {}
        rounds = max(int(c.meta["llm"].get("exchanges", 4)) for c in convs)
        for k in range(rounds):
            live = [c for c in convs if id(c) not in failed and k < int(c.meta["llm"].get("exchanges", 4))]
            if not live:
                break
            batch = []
            for c in live:
                spec = c.meta["llm"]
                history = "\n".join(f"{'Person' if t.role == USER else 'Assistant'}: {t.text}" for t in c.turns) or "(nothing yet)"
                batch.append(user_prompt.messages(persona=spec.get("persona", "a curious adult"), topic=spec["topic"], history=history))
            replies = self.client.complete_batch(batch, return_errors=True, max_tokens=min(self.cfg.max_tokens, 48))
            for c, r in zip(live, replies):
                try:
                    if isinstance(r, LLMError):
                        raise r
                    line = re.sub(r"^\s*(person|user|me)\s*:\s*", "", r.strip(), flags=re.I).split("\n")[0].strip(" \"'")
                    c.turns += [Turn(USER, first_sentences(spoken_answer(line, source_normalize_config(c)), 2)), Turn(AGENT, "")]
                except RejectError as e:
                    failed[id(c)] = f"user line {k + 1}: {e.reason}"
            # The agent's lines are ordinary answers with the dialog so far as context.
            self._fill_answers([c for c in live if id(c) not in failed], [-1] * len(live), [None] * len(live), failed_reasons=failed)
        for c, i in zip(convs, where):
            if id(c) in failed:
                results[i] = RejectError(f"no usable LLM dialog ({failed[id(c)]})", code="llm.no-dialog", stage="llm", item=c.id)
                continue
            c.meta["llm"] = dict(c.meta["llm"], prompt=f"{user_prompt.name}+{self.cfg.answer_prompt}", model=self.client.model_name)
            c.meta["llm_model"] = self.client.model_name
            c.meta.setdefault("topic", c.meta["llm"].get("topic"))
            results[i] = c

    def _fill_dialogs(self, convs: list[Conversation], where: list[int], results: list) -> None:
        prompt = load_prompt(self.cfg.dialog_prompt)
        todo = list(zip(convs, where))
        reasons: dict[int, str] = {}
        for attempt in range(self.cfg.dialog_attempts):
            if not todo:
                break
            batch = []
            for c, _ in todo:
                spec = c.meta["llm"]
                msgs = prompt.messages(topic=spec["topic"], persona=spec.get("persona", "a curious adult"), exchanges=spec.get("exchanges", 4))
                if self.cfg.backend == "local":  # a small local model needs the JSON started for it
                    msgs.append({"role": "assistant", "content": DIALOG_PREFILL})
                batch.append(msgs)
            # A retry must differ from the failed try: sample, with a seed per conversation and attempt.
            params: dict[str, Any] = {"max_tokens": self.cfg.max_tokens * 4}
            if attempt > 0:
                params.update(temperature=max(self.cfg.temperature, 0.7), seed=attempt)
            replies = self.client.complete_batch(batch, return_errors=True, **params)
            still = []
            for (c, i), r in zip(todo, replies):
                if isinstance(r, LLMError):
                    reasons[i] = r.reason
                    if "budget" in r.reason:
                        continue
                    still.append((c, i))
                    continue
                try:
                    turns = parse_dialog(r, int(c.meta["llm"].get("exchanges", 4)))
                    for t in turns:
                        t.text, _ = normalize_for_speech(t.text, source_normalize_config(c))
                except (ValueError, RejectError) as e:
                    reasons[i] = str(getattr(e, "reason", e))
                    still.append((c, i))
                    continue
                c.turns = turns
                c.meta["llm"] = dict(c.meta["llm"], prompt=prompt.name, model=self.client.model_name, attempts=attempt + 1)
                c.meta["llm_model"] = self.client.model_name
                c.meta.setdefault("topic", c.meta["llm"].get("topic"))
                results[i] = c
            todo = still
        for c, i in todo:
            results[i] = RejectError(
                f"no valid dialog JSON from the LLM ({self.cfg.dialog_attempts} tries; last: {reasons.get(i, '?')})",
                code="llm.no-dialog", stage="llm",
                item=c.id,
            )


__all__ = ["LLMStage", "spoken_answer", "parse_dialog", "drop_repeated_sentences", "drop_unfinished_sentence", "first_sentences", "DIALOG_PREFILL"]
