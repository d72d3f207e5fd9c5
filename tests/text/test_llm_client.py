"""The OpenAI-compatible LLM client and the LLM stage against a real HTTP server on loopback.

The server speaks the chat-completions protocol; a plan per prompt keyword injects 429s (with
Retry-After), 500s, timeouts, truncated JSON, empty choices, a wrong model name and non-JSON bodies.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from duplexgen.text.cache import cache_key
from duplexgen.text.client import LLMError, OpenAIChatClient, retry_after_s
from duplexgen.text.config import LLMConfig
from duplexgen.text.prompts import load_prompt
from duplexgen.text.writer import LLMStage, parse_dialog
from duplexgen.core.records import Conversation, RejectError, Turn

MODEL = "test-model"
SECRET = "sk-test-secret-123"


class FakeOpenAI:
    """A chat-completions server: ``plan[keyword]`` is a list of actions used by successive requests
    whose last user message contains ``keyword`` ("ok" once the list is used up)."""

    def __init__(self):
        self.plan: dict[str, list[str]] = {}
        self.requests: list[dict] = []
        self.auth: list[str] = []
        self.lock = threading.Lock()
        self.dialog_json: dict[str, str] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep pytest output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                user = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
                with outer.lock:
                    outer.requests.append(body)
                    outer.auth.append(self.headers.get("Authorization", ""))
                    action = "ok"
                    for key, actions in outer.plan.items():
                        if key in user and actions:
                            action = actions.pop(0)
                            break
                outer.respond(self, action, body, user)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def reply_text(self, user: str) -> str:
        for key, text in self.dialog_json.items():
            if key in user:
                return text
        return f"Here is my answer to {user.strip().rstrip('?')}. It has 2 parts."

    def respond(self, h: BaseHTTPRequestHandler, action: str, body: dict, user: str) -> None:
        def send(code: int, payload: bytes, headers: dict | None = None):
            h.send_response(code)
            h.send_header("Content-Type", "application/json")
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)

        completion = {
            "id": "cmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": "other-model" if action == "wrong_model" else body["model"],
            "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": self.reply_text(user)}}
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        if action == "429":
            send(429, b'{"error": {"message": "rate limited"}}', {"Retry-After": "0.05"})
        elif action == "500":
            send(500, b'{"error": {"message": "boom"}}')
        elif action == "400":
            send(400, b'{"error": {"message": "bad request"}}')
        elif action == "timeout":
            time.sleep(1.0)
            send(200, json.dumps(completion).encode())
        elif action == "truncated":
            send(200, json.dumps(completion).encode()[:40])
        elif action == "empty_choices":
            send(200, json.dumps(dict(completion, choices=[])).encode())
        elif action == "not_json":
            send(200, b"<html>gateway says hello</html>")
        elif action == "empty_content":
            completion["choices"][0]["message"]["content"] = ""
            send(200, json.dumps(completion).encode())
        else:
            send(200, json.dumps(completion).encode())

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server():
    s = FakeOpenAI()
    yield s
    s.close()


def make_client(server, tmp_path, **kw) -> OpenAIChatClient:
    cfg = LLMConfig(
        backend="openai",
        base_url=server.base_url,
        model=MODEL,
        api_key_env="DUPLEXGEN_TEST_KEY",
        timeout_s=kw.pop("timeout_s", 0.5),
        max_retries=kw.pop("max_retries", 3),
        retry_backoff_s=0.01,
        **kw,
    )
    return OpenAIChatClient(cfg, tmp_path / "cache")


def msgs(q: str):
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": q}]


def test_success_is_cached_and_key_never_stored(server, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("DUPLEXGEN_TEST_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    client = make_client(server, tmp_path)
    out = client.complete_batch([msgs("what is rain"), msgs("what is snow")])
    assert out[0].startswith("Here is my answer to what is rain")
    assert len(server.requests) == 2
    assert server.auth[0] == f"Bearer {SECRET}"
    # A rerun (a new client: a new process) costs nothing.
    again = make_client(server, tmp_path).complete_batch([msgs("what is rain"), msgs("what is snow")])
    assert again == out and len(server.requests) == 2
    # Other parameters are another key.
    make_client(server, tmp_path, max_tokens=7).complete_batch([msgs("what is rain")])
    assert len(server.requests) == 3 and server.requests[-1]["max_tokens"] == 7
    stored = "".join(p.read_text() for p in (tmp_path / "cache").rglob("*.json"))
    assert SECRET not in stored and SECRET not in caplog.text
    assert SECRET not in repr(client.cfg)


def test_retries_429_with_retry_after_then_succeeds(server, tmp_path):
    server.plan["tides"] = ["429", "429"]
    slept = []
    client = make_client(server, tmp_path)
    client._sleep = slept.append
    [text] = client.complete_batch([msgs("what causes tides")])
    assert "tides" in text
    assert len(server.requests) == 3 and slept == [0.05, 0.05]  # the server's Retry-After, not the backoff


@pytest.mark.parametrize("action", ["500", "timeout", "truncated", "empty_choices", "not_json", "empty_content"])
def test_transient_failures_are_retried_and_never_cached(server, tmp_path, action):
    server.plan["volcano"] = [action]
    client = make_client(server, tmp_path)
    [text] = client.complete_batch([msgs("what is a volcano")])
    assert "volcano" in text
    assert len(server.requests) == 2 and client.retries_made == 1
    # Only the good reply is in the cache, under the request's key.
    files = list((tmp_path / "cache").rglob("*.json"))
    assert len(files) == 1 and "volcano" in files[0].read_text()


def test_exhausted_retries_give_an_error_and_nothing_cached(server, tmp_path):
    server.plan["storms"] = ["500"] * 10
    client = make_client(server, tmp_path, max_retries=2)
    [res] = client.complete_batch([msgs("why storms happen")], return_errors=True)
    assert isinstance(res, LLMError) and "after 3 attempts" in res.reason and "HTTP 500" in res.reason
    assert len(server.requests) == 3
    assert not list((tmp_path / "cache").rglob("*.json"))
    with pytest.raises(LLMError):
        client.complete_batch([msgs("why storms happen")])


def test_wrong_model_and_4xx_are_not_retried(server, tmp_path):
    server.plan["granite"] = ["wrong_model"]
    server.plan["basalt"] = ["400"]
    client = make_client(server, tmp_path)
    res = client.complete_batch([msgs("what is granite"), msgs("what is basalt"), msgs("what is clay")], return_errors=True)
    assert isinstance(res[0], LLMError) and "other-model" in res[0].reason
    assert isinstance(res[1], LLMError) and "HTTP 400" in res[1].reason and "not retried" in res[1].reason
    assert isinstance(res[2], str)
    assert len(server.requests) == 3
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 1


def test_budget_limits_requests_and_cache_hits_are_free(server, tmp_path):
    client = make_client(server, tmp_path, budget_requests=2)
    res = client.complete_batch([msgs(f"question {i}") for i in range(4)], return_errors=True)
    assert sum(isinstance(r, str) for r in res) == 2
    assert all("budget" in r.reason for r in res if isinstance(r, LLMError))
    assert len(server.requests) == 2
    answered = [i for i, r in enumerate(res) if isinstance(r, str)]
    again = client.complete_batch([msgs(f"question {i}") for i in answered])  # cached: no budget needed
    assert again == [res[i] for i in answered] and len(server.requests) == 2


def test_concurrency_runs_requests_in_parallel(server, tmp_path):
    for i in range(4):
        server.plan[f"slow {i}"] = ["timeout"]  # each first try sleeps 1 s; the client timeout is 2 s
    client = make_client(server, tmp_path, timeout_s=2.0, concurrency=4)
    t0 = time.perf_counter()
    client.complete_batch([msgs(f"slow {i}") for i in range(4)])
    assert time.perf_counter() - t0 < 2.5  # serial would take 4 s


def test_retry_after_header_forms():
    assert retry_after_s({"retry-after": "3"}) == 3.0
    assert retry_after_s({"retry-after-ms": "250"}) == 0.25
    assert 0 <= retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) <= 0.0 + 1e-9
    assert retry_after_s({"retry-after": "soon"}) is None and retry_after_s({}) is None


def test_config_checks_name_the_key():
    with pytest.raises(ValueError, match="llm.backend"):
        LLMConfig(backend="llama")
    with pytest.raises(ValueError, match="llm.concurrency"):
        LLMConfig(concurrency=0)
    with pytest.raises(ValueError, match="llm.dialog_mode"):
        LLMConfig(dialog_mode="prose")


def test_prompts_are_versioned_files():
    p = load_prompt("answer_v1")
    m = p.messages(question="why is the sea salty")
    assert m[1]["content"] == "why is the sea salty" and "markdown" in m[0]["content"]
    assert cache_key("a", m, {"t": 0}) != cache_key("a", load_prompt("dialog_user_v1").messages(persona="x", topic="y", history="z"), {"t": 0})
    with pytest.raises(ValueError, match="answer_v9"):
        load_prompt("answer_v9")


def test_parse_dialog_shapes_and_errors():
    good = '```json\n{"turns": [{"speaker": "user", "text": "Hi"}, {"speaker": "assistant", "text": "Hello."},' \
           '{"speaker": "user", "text": "Bye"}, {"speaker": "agent", "text": "Bye now."}]}\n```'
    turns = parse_dialog(good, 2)
    assert [t.role for t in turns] == ["user", "agent", "user", "agent"] and turns[1].text == "Hello."
    assert len(parse_dialog('[{"user": "a", "agent": "b"}, {"user": "c", "agent": "d"}]', 1)) == 2
    for bad, why in [
        ('{"turns": [{"speaker": "user", "text": "Hi"', "bad JSON"),
        ("no json here", "no JSON"),
        ('{"turns": [{"speaker": "agent", "text": "Hi"}, {"speaker": "user", "text": "x"}]}', "start with the user"),
        ('{"turns": [{"speaker": "user", "text": "a"}, {"speaker": "user", "text": "b"}]}', "alternate"),
        ('{"turns": [{"speaker": "user", "text": "a"}, {"speaker": "agent", "text": "b"}]}', "need 2"),
        ('{"turns": [{"speaker": "narrator", "text": "a"}]}', "unknown speaker"),
    ]:
        with pytest.raises(ValueError, match=why):
            parse_dialog(bad, 2)


def _stage(server, tmp_path, **kw) -> LLMStage:
    cfg = LLMConfig(backend="openai", base_url=server.base_url, model=MODEL, api_key_env="DUPLEXGEN_TEST_KEY",
                    timeout_s=1.0, max_retries=1, retry_backoff_s=0.01, **kw)
    return LLMStage(cfg, cache_dir=str(tmp_path / "llm"))


def test_stage_fills_answers_chained_turns_and_passes_others(server, tmp_path):
    asr = Conversation("asr-1", "asr_qa", "asr_qa", "0", 1,
                       [Turn("user", "WHAT IS THE SPEED OF SOUND", audio_path="/x.flac"), Turn("agent", ""),
                        Turn("user", "and in water", audio_path="/y.flac"), Turn("agent", "")],
                       meta={"llm": {"task": "answer"}})
    plain = Conversation("alp-1", "alpaca", "alpaca", "1", 1, [Turn("user", "hi"), Turn("agent", "hello")])
    server.plan["broken question"] = ["500", "500"]
    broken = Conversation("asr-2", "asr_qa", "asr_qa", "1", 1, [Turn("user", "broken question"), Turn("agent", "")],
                          meta={"llm": {"task": "answer"}})
    out = _stage(server, tmp_path).process_batch([asr, plain, broken])
    assert out[1] is plain and plain.turns[1].text == "hello"
    filled = out[0]
    assert isinstance(filled, Conversation)
    # "2 parts" was expanded: LLM text is made speakable like every source's text.
    assert filled.turns[1].text.startswith("Here is my answer to WHAT IS THE SPEED OF SOUND") and "two parts" in filled.turns[1].text
    assert filled.turns[3].text and filled.meta["llm"]["model"] == MODEL and filled.meta["llm"]["prompt"] == "answer_v1"
    # The second answer saw the first exchange as context.
    second = [r for r in server.requests if r["messages"][-1]["content"] == "and in water"][0]
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]
    assert isinstance(out[2], RejectError) and out[2].stage == "llm" and "HTTP 500" in out[2].reason


def test_stage_dialog_json_retried_on_bad_json(server, tmp_path):
    good = json.dumps({"turns": [{"speaker": "user", "text": "I want to bake bread."}, {"speaker": "agent", "text": "Start with 500 g of flour."},
                                 {"speaker": "user", "text": "How long?"}, {"speaker": "agent", "text": "About an hour."}]})
    server.dialog_json["baking bread"] = good
    server.plan["baking bread"] = ["truncated"]  # transport-level damage: client retry
    server.dialog_json["gardening"] = '{"turns": [{"speaker": "user", "text": "hi"'  # always bad JSON
    convs = [
        Conversation(f"topic-{i}", "topic", "topic", str(i), 1, [], meta={"llm": {"task": "dialog", "topic": t, "persona": "a cook", "exchanges": 2}})
        for i, t in enumerate(["baking bread", "gardening"])
    ]
    out = _stage(server, tmp_path, dialog_attempts=2).process_batch(convs)
    ok, bad = out
    assert isinstance(ok, Conversation) and [t.role for t in ok.turns] == ["user", "agent", "user", "agent"]
    assert ok.turns[1].text == "Start with five hundred grams of flour."
    assert ok.meta["topic"] == "baking bread" and ok.meta["llm"]["attempts"] == 1
    assert isinstance(bad, RejectError) and "no valid dialog JSON" in bad.reason and "2 tries" in bad.reason
    garden = [r for r in server.requests if "gardening" in r["messages"][-1]["content"]]
    assert len(garden) == 2 and garden[1]["temperature"] > 0  # the retry samples instead of repeating itself


def test_stage_dialog_turn_by_turn_mode(server, tmp_path):
    """dialog_mode turns (the local default): user line, then agent answer, batched across dialogs."""
    convs = [
        Conversation(f"topic-{i}", "topic", "topic", str(i), 1, [], meta={"llm": {"task": "dialog", "topic": t, "persona": "a student", "exchanges": 2}})
        for i, t in enumerate(["green tea", "night trains"])
    ]
    out = _stage(server, tmp_path, dialog_mode="turns").process_batch(convs)
    for conv, topic in zip(out, ["green tea", "night trains"]):
        assert isinstance(conv, Conversation)
        assert [t.role for t in conv.turns] == ["user", "agent", "user", "agent"] and all(t.text for t in conv.turns)
        assert conv.meta["topic"] == topic and conv.meta["llm"]["prompt"] == "dialog_user_v1+answer_v1"
    # 2 dialogs x 2 exchanges x (user line + agent line); the second user line saw the first exchange.
    assert len(server.requests) == 8
    later = [r for r in server.requests if "Person:" in r["messages"][-1]["content"]]
    assert len(later) == 2 and "Assistant: Here is my answer" in later[0]["messages"][-1]["content"]


def test_stage_normalizes_llm_text_with_the_sources_options(server, tmp_path):
    """LLM answers follow ``sources[].options.normalize`` like the source's own text (carried in
    ``conv.meta['normalize_options']``); without options they get the defaults."""
    def conv(cid, meta):
        return Conversation(cid, "asr_qa", "asr_qa", "0", 1, [Turn("user", f"question {cid}"), Turn("agent", "")],
                            meta={"llm": {"task": "answer"}, **meta})

    out = _stage(server, tmp_path).process_batch([conv("a", {}), conv("b", {"normalize_options": {"numbers": "off"}})])
    assert "two parts" in out[0].turns[1].text  # default: numbers read out
    assert "2 parts" in out[1].turns[1].text and "two" not in out[1].turns[1].text  # the source said numbers: off
