"""Fault injection: killed drivers and workers, a full disk, failing TTS and LLM endpoints, nasty input,
and secrets. Every run here is a real `duplexgen generate` in its own process with its own local Ray.

Goal everywhere: the run finishes (or stops with a clear message), nothing finished is lost, no
half-written shard is visible to a reader, and every dropped row is in rejects.jsonl with a reason.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from duplexgen.pipeline.cli import main
from duplexgen.core.shards import find_shard_dirs, load_shards
from duplexgen.pipeline.validate import validate_dir

pytestmark = pytest.mark.slow

ALPACA_12 = """\
seed: 7
shard_size: 2
sources:
  - recipe: alpaca
    max_rows: 12
augment:
  backchannel: {enabled: true, prob: 0.3}
"""


def write_config(tmp_path: Path, text: str = ALPACA_12, name: str = "cfg.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def start_generate(config: Path, out: Path, *overrides: str, env: dict | None = None, log: Path | None = None) -> subprocess.Popen:
    """`duplexgen generate` as its own process group (driver + its local Ray), like a batch job."""
    log = log or out.parent / f"{out.name}.log"
    return subprocess.Popen(
        [sys.executable, "-m", "duplexgen.pipeline.cli", "generate", str(config), f"output_dir={out}", *overrides],
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )


def finished_shards(out: Path) -> int:
    d = out / "manifest"
    return len(list(d.glob("*.json"))) if d.exists() else 0


def wait_for(pred, timeout: float, what: str) -> None:
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)


def ray_worker_pids() -> set[int]:
    r = subprocess.run(["pgrep", "-f", "ray::"], capture_output=True, text=True)
    return {int(x) for x in r.stdout.split()}


def audio_by_cut(out: Path) -> dict[str, bytes]:
    """cut id + field -> FLAC bytes, over every visible shard (a reader's view)."""
    members = {}
    for d in find_shard_dirs(out / "shards"):
        for tar in sorted(d.glob("*.tar")):
            field = tar.name.split(".")[0]
            with tarfile.open(tar) as tf:
                for m in tf.getmembers():
                    if m.isfile() and not m.name.endswith(".json"):
                        members[f"{field}/{m.name}"] = tf.extractfile(m).read()
    return members


def assert_readable(out: Path) -> int:
    """Every visible shard loads completely (cuts + both audio streams): nothing half-written."""
    n = 0
    for d in find_shard_dirs(out / "shards"):
        assert len(list(d.glob("cuts.*.jsonl.gz"))) == len(list(d.glob("recording.*.tar"))) == len(list(d.glob("target_audio.*.tar")))
        for cut in load_shards(d):
            assert cut.load_audio().shape[1] > 0 and cut.load_target_audio().shape[1] > 0
            n += 1
    return n


def test_sigkill_the_driver_repeatedly_then_resume_equals_an_uninterrupted_run(tmp_path: Path):
    cfg = write_config(tmp_path)
    # The uninterrupted reference runs in its own process without Ray: same bytes from a different process
    # layout (isolated espeak renders do not depend on the process, its history or the clock).
    reference = tmp_path / "reference"
    p = start_generate(cfg, reference, "--no-ray")
    assert p.wait(timeout=600) == 0, (tmp_path / "reference.log").read_text()[-3000:]

    out = tmp_path / "killed"
    kills = 0
    for after in (1, 3):  # kill after this many finished shards (a rerun resumes each time)
        before = ray_worker_pids()
        p = start_generate(cfg, out)
        try:
            wait_for(lambda: finished_shards(out) >= after or p.poll() is not None, 240, f"{after} shards")
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                kills += 1
            p.wait()
        # The killed driver's Ray workers notice and exit on their own within seconds.
        wait_for(lambda: not (ray_worker_pids() - before), 60, "the killed run's Ray workers to exit")
        assert_readable(out)
        assert validate_dir(out / "shards").violations == []
    assert kills == 2, "a run finished before it could be killed"

    p = start_generate(cfg, out)
    assert p.wait(timeout=600) == 0, (out.parent / "killed.log").read_text()[-3000:]
    ref_ids = sorted(c.id for d in find_shard_dirs(reference / "shards") for c in load_shards(d))
    ids = sorted(c.id for d in find_shard_dirs(out / "shards") for c in load_shards(d))
    assert ids == ref_ids and len(ids) == len(set(ids)) == 12
    assert audio_by_cut(out) == audio_by_cut(reference), "resumed audio differs from the uninterrupted run"
    assert json.loads((out / "summary.json").read_text())["conversations"] == 12


def test_killing_a_render_worker_mid_run_loses_nothing(tmp_path: Path):
    cfg = write_config(tmp_path)
    out = tmp_path / "out"
    p = start_generate(cfg, out, "ray.render_workers=1")
    try:
        wait_for(lambda: finished_shards(out) >= 1 or p.poll() is not None, 240, "the first shard")
        r = subprocess.run(["pgrep", "-f", r"MapWorker\(Map\(_(Source)?AudioActor"], capture_output=True, text=True)
        killed = 0
        for pid in map(int, r.stdout.split()):
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:  # exited between pgrep and kill
                pass
        assert killed, "no render worker found to kill"
        assert p.wait(timeout=600) == 0, (tmp_path / "out.log").read_text()[-3000:]
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["conversations"] == 12 and summary["rejects"] == 0
    assert assert_readable(out) == 12


@pytest.fixture
def small_disk(tmp_path: Path):
    mnt = tmp_path / "small_disk"
    mnt.mkdir()
    # The 12-row output is ~2.3 MB (6 shards of ~0.38 MB): 1.5 MB holds some shards, never all of them.
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1536k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({r.stderr.decode().strip()}); needs root")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)])


def test_disk_full_mid_run_stops_clearly_and_keeps_finished_shards(tmp_path: Path, small_disk: Path):
    import shutil

    cfg = write_config(tmp_path)
    out = small_disk / "out"
    log = tmp_path / "full.log"
    p = start_generate(cfg, out, "ray.render_workers=1", log=log)
    assert p.wait(timeout=600) == 2
    text = log.read_text()
    assert "error: " in text and "No space left on device" in text and "rerun" in text, text[-2000:]
    assert "Traceback" not in text.split("error: ")[-1]
    kept = assert_readable(out)
    assert 0 < kept < 12, "the small disk should hold some shards but not all"
    assert validate_dir(out / "shards").violations == []
    # Move the partial output to a roomy disk and rerun: it resumes and completes.
    roomy = tmp_path / "roomy"
    shutil.copytree(out, roomy)
    assert main(["generate", str(cfg), f"output_dir={roomy}"]) == 0
    assert assert_readable(roomy) == 12


# --- failing TTS server ------------------------------------------------------------------------


class SpeechServer(ThreadingHTTPServer):
    """An OpenAI-compatible /v1/audio/speech server on loopback that speaks with espeak-ng, but crashes (500)
    on texts containing CRASH and hangs on texts containing HANG."""

    daemon_threads = True

    def __init__(self):
        from duplexgen.tts.base import Voice
        from duplexgen.tts.espeak import EspeakBackend

        self.backend = EspeakBackend(isolate=False)
        self.voice = Voice.make("en-us", "espeak")
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), SpeechHandler)


class SpeechHandler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["input"]
        if "CRASH" in text:
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b'{"error": "synthesis crashed"}')
            return
        if "HANG" in text:
            time.sleep(30)
        with self.server.lock:
            syn = self.server.backend.synthesize(text, self.server.voice)
        buf = io.BytesIO()
        sf.write(buf, syn.audio, syn.sample_rate, format="WAV", subtype="PCM_16")
        data = buf.getvalue()
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def speech_server():
    srv = SpeechServer()
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()


def test_tts_backend_that_crashes_or_hangs_fails_only_those_conversations(tmp_path: Path, speech_server: str):
    rows = [
        {"instruction": "Name a color.", "input": "", "output": "Green is a color."},
        {"instruction": "Please say CRASH now.", "input": "", "output": "I will not."},
        {"instruction": "What is two plus two?", "input": "", "output": "It is four."},
        {"instruction": "Please say HANG now.", "input": "", "output": "No."},
        {"instruction": "Name a fruit.", "input": "", "output": "An apple is a fruit."},
    ]
    src = tmp_path / "rows.json"
    src.write_text(json.dumps(rows))
    cfg = write_config(tmp_path, f"sources:\n  - recipe: alpaca\n    path: {src}\n")
    out = tmp_path / "out"
    rc = main([
        "generate", str(cfg), f"output_dir={out}", "shard_size=5", "--no-ray",
        "tts.backend=openai", f"tts.openai_base_url={speech_server}", "tts.user_voices=[alloy, echo]",
        "tts.agent_voice=nova", "tts.openai_retries=1", "tts.openai_timeout_s=2",
        "augment.barge_in.enabled=false", "augment.backchannel.enabled=false",
    ])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["conversations"] == 3
    rejects = {r["row_id"]: r for r in map(json.loads, (out / "rejects.jsonl").read_text().splitlines())}
    assert set(rejects) == {"1", "3"}
    assert "500" in rejects["1"]["reason"] or "crash" in rejects["1"]["reason"].lower()
    assert "time" in rejects["3"]["reason"].lower()
    assert validate_dir(out / "shards").violations == []


# --- nasty source input ------------------------------------------------------------------------


def nasty_corpus(root: Path) -> tuple[Path, int]:
    """Files in every source format with >= 50 bad rows (and a few good ones). Returns (config, bad rows)."""
    root.mkdir(parents=True, exist_ok=True)
    bad = 0
    junk = "\x00\x01\xff\xfe binary \x07"
    huge = "word " * 20_000  # 100 kB

    def jsonl(name: str, lines: list[str]) -> Path:
        p = root / name
        p.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogateescape")
        return p

    alpaca_bad = [
        '{"instruction": "unterminated',
        '[1, 2, 3]',
        '"just a string"',
        '{"instruction": null, "input": "", "output": "x"}',
        '{"input": "", "output": "no instruction key"}',
        '{"instruction": "No output key."}',
        '{"instruction": ["a", "list"], "input": "", "output": "wrong type"}',
        '{"instruction": "Wrong output type.", "input": "", "output": 3.5}',
        '{"instruction": "   ", "input": "", "output": "whitespace instruction"}',
        '{"instruction": "Whitespace output.", "input": "", "output": "\\t\\n  "}',
        json.dumps({"instruction": "Huge.", "input": "", "output": huge}),
        json.dumps({"instruction": junk, "input": "", "output": junk}),
        json.dumps({"instruction": "Input wrong type.", "input": {"a": 1}, "output": "ok"}),
        json.dumps({"instruction": "```python\nprint(1)\n```", "input": "", "output": "```\ncode only\n```"}),
        json.dumps({"instruction": "😀😀😀", "input": "", "output": "🎉🎉"}),
        json.dumps({"instruction": "日本語の質問です", "input": "", "output": "日本語の答えです"}),
    ]
    bad += len(alpaca_bad)
    alpaca_good = [json.dumps({"instruction": f"Name thing number {i}.", "input": "", "output": f"Here is thing number {i}."}) for i in range(3)]
    alpaca = jsonl("alpaca.jsonl", alpaca_good + alpaca_bad)

    marco_bad = [
        '{"query": "broken',
        json.dumps({"query_id": 1, "answers": ["only an answer, no query"]}),
        json.dumps({"query": "what is x", "answers": ["No Answer Present."], "wellFormedAnswers": []}),
        json.dumps({"query": "what is y", "answers": [], "wellFormedAnswers": []}),
        json.dumps({"query": "what is z", "answers": [""], "wellFormedAnswers": [""]}),
        json.dumps({"query": 42, "answers": ["forty two"], "wellFormedAnswers": []}),
        json.dumps({"query": "", "answers": ["empty query"], "wellFormedAnswers": []}),
        json.dumps({"query": "answers not a list", "answers": "a string", "wellFormedAnswers": []}),
        json.dumps({"query": junk, "answers": [junk], "wellFormedAnswers": []}),
        json.dumps({"query": "huge", "answers": [huge], "wellFormedAnswers": []}),
    ]
    bad += len(marco_bad)
    marco = jsonl("ms_marco.jsonl", [json.dumps({"query": "what is the boiling point of water", "query_type": "NUMERIC", "answers": ["One hundred degrees Celsius."], "wellFormedAnswers": [], "passages": {"is_selected": [1], "passage_text": ["p"], "url": ["u"]}})] + marco_bad)

    ultra_bad = [
        '{"messages": [',
        json.dumps({"messages": []}),
        json.dumps({"messages": [{"role": "assistant", "content": "agent first"}, {"role": "user", "content": "then user"}]}),
        json.dumps({"messages": [{"role": "user", "content": "no answer"}]}),
        json.dumps({"messages": "not a list"}),
        json.dumps({"messages": [{"role": "user"}, {"role": "assistant", "content": "missing content"}]}),
        json.dumps({"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "wrong type"}]}),
        json.dumps({"messages": [{"role": "user", "content": "   "}, {"role": "assistant", "content": "   "}]}),
        json.dumps({"id": 3, "data": "not a list"}),
        json.dumps({"no_messages": True}),
    ]
    bad += len(ultra_bad)
    ultra = jsonl("ultrachat.jsonl", [json.dumps({"messages": [{"role": "user", "content": "How are you today?"}, {"role": "assistant", "content": "I am well, thank you."}]})] + ultra_bad)

    audio_dir = root / "audio"
    audio_dir.mkdir(exist_ok=True)
    (audio_dir / "empty.wav").write_bytes(b"")
    (audio_dir / "junk.flac").write_bytes(os.urandom(2000))
    sf.write(audio_dir / "silent.wav", np.zeros(1), 16000)
    sf.write(audio_dir / "too_long.wav", 0.1 * np.sin(np.arange(16000 * 70) / 5.0), 16000)
    sf.write(audio_dir / "rate8k.wav", np.zeros(80), 8000)
    outside = root.parent / "outside.wav"
    sf.write(outside, 0.1 * np.sin(np.arange(16000) / 5.0), 16000)
    asr_bad = [
        '{"audio_filepath": "audio/x.wav", "duration": ',
        json.dumps({"audio_filepath": "audio/missing.wav", "duration": 1.0, "text": "missing file"}),
        json.dumps({"audio_filepath": "audio/empty.wav", "duration": 1.0, "text": "zero length file"}),
        json.dumps({"audio_filepath": "audio/junk.flac", "duration": 1.0, "text": "binary junk"}),
        json.dumps({"audio_filepath": "audio/silent.wav", "duration": 0.0001, "text": "one sample"}),
        json.dumps({"audio_filepath": "audio/too_long.wav", "duration": 70.0, "text": "seventy seconds"}),
        json.dumps({"audio_filepath": "audio/rate8k.wav", "duration": 0.01, "text": "wrong rate and tiny"}),
        json.dumps({"audio_filepath": "../outside.wav", "duration": 1.0, "text": "path outside the root"}),
        json.dumps({"audio_filepath": "/etc/passwd", "duration": 1.0, "text": "absolute path outside"}),
        json.dumps({"audio_filepath": "audio/silent.wav", "duration": "long", "text": "duration wrong type"}),
        json.dumps({"audio_filepath": "audio/silent.wav", "duration": 1.0}),
        json.dumps({"audio_filepath": "audio/silent.wav", "duration": 1.0, "text": ""}),
    ]
    bad += len(asr_bad)
    asr = jsonl("asr.jsonl", asr_bad)

    real_bad = [
        '{"id": "x", "turns": [',
        json.dumps({"id": "../../etc/evil", "turns": []}),
        json.dumps({"id": "no-turns"}),
        json.dumps({"id": "agent-first", "turns": [{"speaker": "agent", "text": "hi"}, {"speaker": "user", "text": "hello"}]}),
        json.dumps({"id": "bad-speaker", "turns": [{"speaker": "robot", "text": "beep"}, {"speaker": "agent", "text": "boop"}]}),
        json.dumps({"id": "bad-audio", "turns": [{"speaker": "user", "text": "hi", "audio_filepath": "audio/junk.flac"}, {"speaker": "agent", "text": "hello"}]}),
    ]
    bad += len(real_bad)
    real_good = json.dumps({"id": "../../etc/evil good", "turns": [{"speaker": "user", "text": "Is this id safe?"}, {"speaker": "agent", "text": "Yes, it is cleaned."}]})
    real = jsonl("real.jsonl", [real_good] + real_bad)

    topics = root / "topics.txt"
    topics.write_text("")  # an empty topic list: nothing to do, not a crash

    cfg = root / "nasty.yaml"
    cfg.write_text(
        f"""\
seed: 3
shard_size: 50
sources:
  - {{recipe: alpaca, path: {alpaca}}}
  - {{recipe: ms_marco, path: {marco}}}
  - {{recipe: ultrachat, path: {ultra}}}
  - {{recipe: asr_qa, path: {asr}, options: {{max_audio_s: 30, too_long: skip}}}}
  - {{recipe: real_conversations, path: {real}}}
augment:
  barge_in: {{enabled: false}}
  backchannel: {{enabled: false}}
llm:
  max_tokens: 8
"""
    )
    return cfg, bad


def test_fifty_nasty_rows_are_each_rejected_with_a_reason(tmp_path: Path):
    cfg, n_bad = nasty_corpus(tmp_path / "corpus")
    assert n_bad >= 50
    out = tmp_path / "out"
    assert main(["generate", str(cfg), f"output_dir={out}", "--no-ray"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    # Three "bad" rows are usable once cleaned: binary junk around the word "binary" (alpaca, ms_marco) and an
    # MS MARCO answer given as a plain string instead of a list. Every other bad row is rejected.
    usable = {("alpaca", "14"), ("ms_marco", "8"), ("ms_marco", "9")}
    assert len(rejects) == summary["rejects"] == n_bad - len(usable)
    assert not usable & {(r["source"], r["row_id"]) for r in rejects}
    for r in rejects:
        assert r["reason"].strip() and r["source"] and r["row_id"] != "" and r["stage"], r
    by_source = {}
    for r in rejects:
        by_source.setdefault(r["source"], []).append(r["reason"])
    assert set(by_source) == {"alpaca", "ms_marco", "ultrachat", "asr_qa", "real_conversations"}
    asr = " | ".join(by_source["asr_qa"])
    for expected in ["outside the dataset root", "malformed JSON", "audio file not found", "unreadable audio", "too long", "too short"]:
        assert expected in asr, asr
    assert summary["per_source"]["alpaca"]["conversations"] == 3 + 1  # the good rows + the cleaned junk row
    assert validate_dir(out / "shards").violations == []
    # Ids derived from input are sanitised: no path traversal, no tar member outside the shard.
    for d in find_shard_dirs(out / "shards"):
        for tar in d.glob("*.tar"):
            with tarfile.open(tar) as tf:
                for name in tf.getnames():
                    assert "/" not in name and not name.startswith(".."), name
        for cut in load_shards(d):
            assert "/" not in cut.id and ".." not in cut.id.split("-")[0]
    assert not any("evil" in p.name and p.parent != out for p in tmp_path.rglob("*evil*") if "corpus" not in str(p))


# --- secrets and the LLM endpoint -------------------------------------------------------------


class ChatServer(ThreadingHTTPServer):
    """A loopback OpenAI chat-completions server: answers, but fails permanently (500) on prompts that mention
    'boil' and returns 429 with Retry-After the first time it sees each other prompt. Records the Authorization
    headers. (Per prompt, not per call: requests run concurrently, and a global odd/even count could hand one
    prompt 429 on every try.)"""

    daemon_threads = True

    def __init__(self):
        self.auth = []
        self.seen: set[str] = set()
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), ChatHandler)


class ChatHandler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.auth.append(self.headers.get("Authorization", ""))
        prompt = " ".join(m["content"] for m in body["messages"])
        with self.server.lock:
            first = prompt not in self.server.seen
            self.server.seen.add(prompt)
        if "boil" in prompt:
            return self._send(500, {"error": {"message": "internal error"}})
        if first:
            self.send_response(429)
            self.send_header("Retry-After", "0")
            self.end_headers()
            return
        self._send(200, {
            "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "A short spoken answer."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        })

    def _send(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_llm_faults_and_the_api_key_never_leaks(tmp_path: Path, capfd):
    srv = ChatServer()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    secret = "sk-duplexgen-test-" + os.urandom(8).hex()
    os.environ["DUPLEXGEN_TEST_KEY"] = secret
    try:
        out = tmp_path / "out"
        rc = main([
            "generate", "demo", f"output_dir={out}", "shard_size=10", "--no-ray",
            "sources=[{recipe: asr_qa, max_rows: 3}]",
            "llm.backend=openai", f"llm.base_url=http://127.0.0.1:{srv.server_address[1]}/v1", "llm.model=test-model",
            "llm.api_key_env=DUPLEXGEN_TEST_KEY", "llm.max_retries=2", "llm.retry_backoff_s=0.01",
            "augment.barge_in.enabled=false",
        ])
    finally:
        srv.shutdown()
        del os.environ["DUPLEXGEN_TEST_KEY"]
    assert rc == 0
    assert all(a == f"Bearer {secret}" for a in srv.auth) and srv.auth
    summary = json.loads((out / "summary.json").read_text())
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    boil = [r for r in rejects if r["stage"] == "llm"]
    assert len(boil) == 1 and "500" in boil[0]["reason"], rejects
    assert summary["per_source"]["asr_qa"]["conversations"] == 2
    # The key appears in no output file, log or report.
    assert main(["report", str(out)]) == 0
    captured = capfd.readouterr()
    assert secret not in captured.out + captured.err
    for p in out.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            if p.suffix in (".gz",):
                import gzip

                data = gzip.decompress(data)
            assert secret.encode() not in data, p


def test_configs_are_parsed_never_evaluated(tmp_path: Path, capsys):
    os.environ["DUPLEXGEN_SECRET_FOR_TEST"] = "do-not-copy"
    try:
        cfg = write_config(tmp_path, "output_dir: ${oc.env:DUPLEXGEN_SECRET_FOR_TEST}\nsources:\n  - recipe: alpaca\n")
        assert main(["generate", str(cfg)]) == 2
        assert "interpolation" in capsys.readouterr().err
        cfg2 = write_config(tmp_path, "!!python/object/apply:os.system ['echo pwned']\n", name="evil.yaml")
        assert main(["generate", str(cfg2)]) == 2
    finally:
        del os.environ["DUPLEXGEN_SECRET_FOR_TEST"]
