"""OpenAI-compatible /v1/audio/speech backend against a real HTTP server on loopback that speaks with espeak."""

import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import soundfile as sf

from duplexgen.tts import TTSConfig, build_renderer, build_voice_pool
from duplexgen.tts.base import Voice
from duplexgen.tts.espeak import EspeakBackend

#: The server's voice names -> espeak voices (a stand-in for a neural server's voice list).
SERVER_VOICES = {"alloy": "en-us", "echo": "en+m3", "fable": "en-029+f2", "onyx": "en-gb-scotland+m1"}


class SpeechServer:
    """POST /v1/audio/speech -> 24 kHz WAV; the first ``fail_first`` requests get 429 then 500."""

    def __init__(self, fail_first=0, recordings=None):
        """``recordings``: text -> a WAV/FLAC file of real speech to answer with (a stand-in for a neural voice)."""
        self.fail_first = fail_first
        self.recordings = recordings or {}
        self.requests = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.espeak = EspeakBackend()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append(body)
                    n = len(server.requests)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if self.path != "/v1/audio/speech" or body.get("voice") not in SERVER_VOICES:
                        return self._reply(400, b'{"error": {"message": "unknown voice"}}', "application/json")
                    if n <= server.fail_first:
                        code = 429 if n % 2 else 500
                        return self._reply(code, b'{"error": {"message": "busy"}}', "application/json", {"retry-after-ms": "20"})
                    import soxr

                    if body["input"] in server.recordings:
                        audio, sr = sf.read(server.recordings[body["input"]], dtype="float32")
                    else:
                        syn = server.espeak.synthesize(body["input"], Voice.make(SERVER_VOICES[body["voice"]], "espeak"))
                        audio, sr = syn.audio, syn.sample_rate
                    time.sleep(0.05)  # a slow server, so concurrency shows
                    buf = io.BytesIO()
                    sf.write(buf, soxr.resample(audio, sr, 24000), 24000, format="WAV", subtype="PCM_16")
                    self._reply(200, buf.getvalue(), "audio/wav")
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _reply(self, code, data, ctype, headers=None):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _cfg(url, **kw):
    return TTSConfig(
        backend="openai", openai_base_url=url, agent_voice="alloy", user_voices=["alloy", "echo", "fable", "onyx"], **kw
    )


def test_renders_with_config_voices_retries_and_estimated_timings(tmp_path):
    with SpeechServer(fail_first=2) as server:
        cfg = _cfg(server.base_url, openai_retries=3, aligner="none")
        renderer = build_renderer(cfg, str(tmp_path))
        pool = build_voice_pool(cfg, seed=5)
        assert pool.agent.name == "alloy" and {v.name for v in pool.voices} == {"echo", "fable", "onyx"}
        turn = renderer.render("Could you book a table for two at seven?", pool.user_voice(1), "user")
        assert len(server.requests) == 3  # 429, 500, then success
        assert server.requests[-1]["voice"] == pool.user_voice(1).name
        assert turn.sample_rate == 16000 and turn.duration > 1.0 and turn.meta["native_sample_rate"] == 24000
        assert turn.timing_source == "estimate"  # no aligner configured: the character-share estimate
        assert [w.text for w in turn.words] == ["Could", "you", "book", "a", "table", "for", "two", "at", "seven"]
        assert turn.words[-1].end == pytest.approx(turn.duration, abs=1e-3)
        agent = renderer.render("Done.", pool.agent, "agent")
        assert agent.sample_rate == 22050 and agent.voice == pool.agent.key()
        # cached: a rerun sends nothing
        before = len(server.requests)
        again = build_renderer(cfg, str(tmp_path)).render("Could you book a table for two at seven?", pool.user_voice(1), "user")
        assert len(server.requests) == before and np.array_equal(again.audio, turn.audio)


def test_concurrency_and_one_failure_stays_in_its_slot(tmp_path):
    with SpeechServer() as server:
        cfg = _cfg(server.base_url, openai_concurrency=4, openai_retries=0)
        renderer = build_renderer(cfg, None)
        requests = [(f"Sentence number {i} is here.", Voice.make("echo", "openai"), "user") for i in range(8)]
        requests[3] = ("This voice does not exist.", Voice.make("nobody", "openai"), "user")
        t0 = time.perf_counter()
        out = renderer.render_many(requests)
        assert time.perf_counter() - t0 < 8 * 0.05 + 2
        assert server.max_in_flight > 1
        assert isinstance(out[3], Exception)
        assert all(o.sample_rate == 16000 for i, o in enumerate(out) if i != 3)


def test_a_server_without_timings_gets_forced_alignment(tmp_path, shared_data):
    """The server answers with real speech (LJSpeech LJ002-0020 for its transcript): pocketsphinx aligns the text."""
    clip = shared_data("asr/audio/LJ002-0020.wav")
    with SpeechServer(recordings={"In eighteen thirteen.": str(clip)}) as server:
        renderer = build_renderer(_cfg(server.base_url), str(tmp_path))
        turn = renderer.render("In eighteen thirteen.", Voice.make("alloy", "openai"), "agent")
        assert turn.timing_source == "forced-alignment"
        assert [w.text for w in turn.words] == ["In", "eighteen", "thirteen"]
        assert all(a.end <= b.start + 1e-6 for a, b in zip(turn.words, turn.words[1:]))
        # "eighteen" is longer than "In" and takes most of the first half of the clip (1.54 s of speech)
        assert turn.words[1].end - turn.words[1].start > 2 * (turn.words[0].end - turn.words[0].start)
        assert 0.1 < turn.words[1].start < turn.words[2].start < turn.duration
