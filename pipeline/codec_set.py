"""`duplexgen generate-codec-set`: the codec-personalization set, N utterances of the agent voice only.

The paper fine-tunes NanoCodec on ~21k utterances of its one agent voice (arXiv 2505.15670). This
stage makes that set from the same sources as the training mixture: every turn's text (agent and
user turns alike: any text, spoken in the AGENT voice; turns left empty for the LLM are skipped),
normalised for speech, split into utterances of at most ``max_utterance_chars`` at sentence ends,
de-duplicated, drawn round-robin over the sources until ``num_utterances``. Each utterance is
rendered with the agent voice at 22,050 Hz and written as a Lhotse ``MonoCut`` (the recording + one
supervision, speaker "agent", with the text and word timings) into Shar shards
(``fields={"recording": "flac"}``) under ``train/`` and ``heldout/``. The split is a hash of the
utterance id (not of the seed), so the held-out set stays the same across seeds and reruns.

The driver only plans (texts, ids, split, chunks); a Ray Data actor pool renders and writes one
shard per chunk atomically (staging folder, manifest last) and records it in ``manifest/``; a rerun
skips finished shards. Bad text or a failed render rejects that utterance only (``rejects.jsonl``).

Example::

    cfg = load_codec_set_config("codec_set_demo", ["output_dir=out/codec_set", "num_utterances=40"])
    summary = generate_codec_set(cfg)     # out/codec_set/{train,heldout}/cuts.000000.jsonl.gz + recording.000000.tar
    # or: duplexgen generate-codec-set codec_set_demo num_utterances=40 output_dir=out/codec_set
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from duplexgen.core.audio import memory_recording
from duplexgen.core.records import AGENT, RejectError, safe_id
from duplexgen.core.shards import STAGING_DIR
from duplexgen.core.storage import write_text
from duplexgen.core.timing import AGENT_SAMPLE_RATE
from duplexgen.pipeline.config import (CONFIGS_DIR, RayConfig, SourceConfig, config_to_dict, help_field,
                                       load_config, resolve_config_path)
from duplexgen.pipeline.shards import write_shard
from duplexgen.tts.config import TTSConfig

log = logging.getLogger(__name__)

SPLITS = ("train", "heldout")
CODEC_SET_FIELDS = {"recording": "flac"}
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")


@dataclass
class CodecSetConfig:
    """`duplexgen generate-codec-set`: agent-voice utterances from the sources' text -> Shar train/heldout."""

    output_dir: str = help_field("where train/, heldout/, manifest/, summary.json and rejects.jsonl go", "out/codec_set")
    seed: int = help_field("seed for the recipes' random choices (the held-out split does not depend on it)", 1234)
    num_utterances: int = help_field("utterances to make (paper: ~21,000); fewer if the sources run out of distinct text", 21000)
    heldout_fraction: float = help_field("fraction of utterances held out for evaluation (by hash of the utterance id)", 0.02)
    shard_size: int = help_field("utterances per shard", 500)
    max_utterance_chars: int = help_field("split longer texts at sentence ends into utterances of at most this many characters", 300)
    min_utterance_chars: int = help_field("drop utterances shorter than this many characters (after normalisation)", 8)
    roles: list = help_field("which turns' text to speak (in the agent voice): agent, user", ["agent", "user"])
    cache_renders: bool = help_field("keep a TTS render cache under output_dir/cache/tts (doubles disk; speeds up reruns)", False)
    sources: list[SourceConfig] = help_field("the text sources (same keys as the generate config's sources)", [])
    tts: TTSConfig = field(default_factory=TTSConfig, metadata={"help": "text-to-speech: backend and the agent voice"})
    ray: RayConfig = field(default_factory=RayConfig, metadata={"help": "Ray execution (render_workers, render_cpus, render_gpus)"})

    def __post_init__(self):
        if self.num_utterances < 1:
            raise ValueError(f"num_utterances must be >= 1, got {self.num_utterances}")
        if not 0 <= self.heldout_fraction < 1:
            raise ValueError(f"heldout_fraction must be in [0, 1), got {self.heldout_fraction}")
        if self.shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {self.shard_size}")
        if self.max_utterance_chars < 20:
            raise ValueError(f"max_utterance_chars must be >= 20, got {self.max_utterance_chars}")
        if not self.sources:
            raise ValueError("sources is empty: list at least one text source (see recipes/configs/codec_set_demo.yaml)")
        bad = [r for r in self.roles if r not in ("agent", "user")]
        if bad or not self.roles:
            raise ValueError(f"roles must be a non-empty subset of [agent, user], got {self.roles}")
        names = [s.name for s in self.sources]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"sources[].name must be unique, repeated: {dup} (set sources[].name)")


def resolve_codec_set_config_path(name_or_path: str) -> Path:
    return resolve_config_path(name_or_path, CONFIGS_DIR, kind="codec-set config", pattern="codec_set*.yaml")


def load_codec_set_config(name_or_path: Optional[str], overrides: list[str] = ()) -> CodecSetConfig:
    """Schema defaults <- YAML <- ``key=value`` overrides; a relative output_dir is relative to the caller."""
    path = str(resolve_codec_set_config_path(name_or_path)) if name_or_path else None
    cfg = load_config(CodecSetConfig, path, list(overrides))
    if "://" not in cfg.output_dir:
        cfg.output_dir = os.path.abspath(cfg.output_dir)
    return cfg


# ---------------------------------------------------------------- planning (pure, in the driver)
def is_heldout(utterance_id: str, fraction: float) -> bool:
    """Deterministic split: the first 8 bytes of sha1(id) as a number in [0, 1) below ``fraction``."""
    h = int.from_bytes(hashlib.sha1(utterance_id.encode("utf-8")).digest()[:8], "big")
    return h / 2**64 < fraction


def split_utterances(text: str, max_chars: int) -> list[str]:
    """Whole sentences grouped into pieces of at most ``max_chars``; a longer single sentence is cut at a word."""
    pieces, cur = [], ""
    for sent in _SENTENCE_END.split(text.strip()):
        while len(sent) > max_chars:  # one very long sentence: cut at the last space that fits
            cut = sent.rfind(" ", 0, max_chars)
            cut = cut if cut > 0 else max_chars
            if cur:
                pieces.append(cur)
                cur = ""
            pieces.append(sent[:cut].strip())
            sent = sent[cut:].strip()
        candidate = f"{cur} {sent}".strip()
        if len(candidate) > max_chars and cur:
            pieces.append(cur)
            candidate = sent
        cur = candidate
    if cur:
        pieces.append(cur)
    return [p for p in pieces if p]


def source_texts(src: SourceConfig, cfg: CodecSetConfig) -> Iterator[dict[str, str]]:
    """Utterance items {id, text, source, row_id} of one source, in file order (rows that fail are skipped)."""
    from duplexgen.pipeline.generate import source_path
    from duplexgen.recipes import get_recipe
    from duplexgen.text.normalize import normalize_for_speech

    recipe = get_recipe(src.recipe)
    rows = recipe.read_rows(source_path(src))
    if src.max_rows is not None:
        rows = itertools.islice(rows, src.max_rows)
    for row in rows:
        try:
            conv = recipe.to_conversation(row, seed=cfg.seed, **src.options)
        except Exception as e:  # noqa: BLE001 - an unreadable row gives no text; the source goes on
            log.debug("codec set: %s row %s skipped: %s", src.name, row.row_id, e)
            continue
        for t, turn in enumerate(conv.turns):
            if turn.role not in cfg.roles or not (turn.text or "").strip():
                continue  # empty = written later by the LLM stage
            try:
                text, _ = normalize_for_speech(turn.text, role=AGENT)
            except RejectError:
                continue
            for p, piece in enumerate(split_utterances(text, cfg.max_utterance_chars)):
                if len(piece) >= cfg.min_utterance_chars:
                    yield {"id": safe_id(src.name, row.row_id, f"t{t}", f"p{p}"), "text": piece,
                           "source": src.name, "row_id": str(row.row_id)}


def plan_utterances(cfg: CodecSetConfig) -> list[dict[str, str]]:
    """Up to ``num_utterances`` distinct texts, drawn round-robin over the sources (streaming: stops when full)."""
    streams = [source_texts(s, cfg) for s in cfg.sources]
    seen, out = set(), []
    while streams and len(out) < cfg.num_utterances:
        alive = []
        for it in streams:
            for item in it:  # the next distinct text of this source
                key = " ".join(item["text"].lower().split())
                if key not in seen:
                    seen.add(key)
                    out.append(item)
                    alive.append(it)
                    break
            if len(out) >= cfg.num_utterances:
                break
        streams = alive
    return out


@dataclass
class CodecChunk:
    """The utterances of shard ``index`` of ``split``."""

    split: str
    index: int
    items: list = field(default_factory=list)


def plan_chunks(cfg: CodecSetConfig, utterances: list[dict[str, str]]) -> list[CodecChunk]:
    by_split: dict[str, list] = {s: [] for s in SPLITS}
    for u in utterances:
        by_split["heldout" if is_heldout(u["id"], cfg.heldout_fraction) else "train"].append(u)
    chunks = []
    for split, items in by_split.items():
        for k, start in enumerate(range(0, len(items), cfg.shard_size)):
            chunks.append(CodecChunk(split, k, items[start : start + cfg.shard_size]))
    return chunks


def manifest_file(out: Path, split: str, index: int) -> Path:
    return out / "manifest" / f"{split}.{index:06d}.json"


# ---------------------------------------------------------------- rendering + writing (one shard per call)
def utterance_cut(item: dict[str, str], turn) -> Any:
    """A MonoCut: the agent recording (22,050 Hz) + one supervision (speaker agent, text, word timings)."""
    from lhotse import MonoCut, SupervisionSegment
    from lhotse.supervision import AlignmentItem

    rec = memory_recording(turn.audio, turn.sample_rate, item["id"])
    words = [AlignmentItem(symbol=w.text, start=round(w.start, 4), duration=round(max(w.end - w.start, 0.0), 4))
             for w in turn.words if w.end <= rec.duration + 0.005]
    sup = SupervisionSegment(id=item["id"], recording_id=item["id"], start=0.0, duration=rec.duration, channel=0,
                             text=turn.text, speaker=AGENT, alignment={"word": words} if words else None)
    return MonoCut(id=item["id"], start=0.0, duration=rec.duration, channel=0, recording=rec, supervisions=[sup],
                   custom={"source": item["source"], "row_id": item["row_id"], "voice": turn.voice})


class CodecSetWriter:
    """Renders a chunk's texts with the agent voice and writes its shard (a plain class; Ray wraps it as an actor)."""

    def __init__(self, cfg: CodecSetConfig):
        self.cfg = cfg
        self.out = Path(cfg.output_dir)
        self._renderer = self._voice = None

    def setup(self):
        if self._renderer is None:
            from duplexgen.tts import build_renderer, build_voice_pool

            cache = str(self.out / "cache" / "tts") if self.cfg.cache_renders else None
            tts = self.cfg.tts if self.cfg.cache_renders or not self.cfg.tts.cache_dir else _without_cache(self.cfg.tts)
            self._renderer = build_renderer(tts, cache_dir=cache)
            self._voice = build_voice_pool(self.cfg.tts, seed=self.cfg.seed).agent
        return self._renderer, self._voice

    def process(self, chunk: CodecChunk) -> dict[str, Any]:
        renderer, voice = self.setup()
        t0 = time.perf_counter()
        cuts, rejects = [], []
        for item in chunk.items:
            try:
                turn = renderer.render(item["text"], voice, AGENT)
                if turn.sample_rate != AGENT_SAMPLE_RATE:
                    raise RejectError(f"render is {turn.sample_rate} Hz, expected {AGENT_SAMPLE_RATE}", code="tts.sample-rate", stage="tts")
                cuts.append(utterance_cut(item, turn))
            except Exception as e:  # noqa: BLE001 - one utterance's failure never fails the shard
                reason = e.reason if isinstance(e, RejectError) else f"{type(e).__name__}: {e}"
                rejects.append({"source": item["source"], "row_id": item["row_id"], "item": item["id"], "stage": "tts", "reason": reason})
        files = write_shard(cuts, self.out / chunk.split, chunk.index, self.out / STAGING_DIR, fields=CODEC_SET_FIELDS) if cuts else {}
        record = {"split": chunk.split, "index": chunk.index, "cuts": len(cuts), "seconds": round(sum(c.duration for c in cuts), 3),
                  "rejects": rejects, "files": files, "elapsed_s": round(time.perf_counter() - t0, 3)}
        write_text(manifest_file(self.out, chunk.split, chunk.index), json.dumps(record))
        return record


def _without_cache(tts: TTSConfig) -> TTSConfig:
    import dataclasses

    return dataclasses.replace(tts, cache_dir=None)


class _CodecSetActor:
    def __init__(self, cfg_dict: dict):
        from omegaconf import OmegaConf

        self.writer = CodecSetWriter(OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(CodecSetConfig), cfg_dict)))

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        d = json.loads(row["chunk"])
        return {"result": json.dumps(self.writer.process(CodecChunk(**d)))}


# ---------------------------------------------------------------- driver
def generate_codec_set(cfg: CodecSetConfig, *, ray_data: bool = True) -> dict[str, Any]:
    """Plan, render and write the set; returns the summary (also ``output_dir/summary.json``)."""
    from dataclasses import asdict

    from duplexgen.pipeline.generate import init_ray, prepare_output_dir, render_workers

    out = Path(cfg.output_dir)
    utterances = plan_utterances(cfg)
    if not utterances:
        raise ValueError("the sources gave no speakable text (check sources[].recipe/path and roles)")
    chunks = plan_chunks(cfg, utterances)
    prepare_output_dir(out)
    (out / "config.json").write_text(json.dumps(config_to_dict(cfg), indent=1))
    todo = [c for c in chunks if not manifest_file(out, c.split, c.index).exists()]
    if len(todo) < len(chunks):
        print(f"resuming: {len(chunks) - len(todo)} of {len(chunks)} shards already finished", file=sys.stderr)
    t0 = time.perf_counter()
    if todo and ray_data:
        import ray
        from ray.data import ActorPoolStrategy

        init_ray(cfg)
        items = [{"chunk": json.dumps(asdict(c))} for c in todo]
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        ds = ds.map(_CodecSetActor, fn_constructor_kwargs={"cfg_dict": config_to_dict(cfg)},
                    compute=ActorPoolStrategy(size=min(len(todo), render_workers(cfg, needs_llm=False))),
                    num_cpus=cfg.ray.render_cpus, num_gpus=cfg.ray.render_gpus)
        for i, row in enumerate(ds.iter_rows(), 1):
            r = json.loads(row["result"])
            print(f"[{i}/{len(todo)} shards] {r['split']}.{r['index']:06d}: {r['cuts']} utterances, "
                  f"{r['seconds'] / 60:.1f} min audio, {len(r['rejects'])} rejects", file=sys.stderr, flush=True)
    elif todo:  # the same writer in-process (debugging)
        writer = CodecSetWriter(cfg)
        for c in todo:
            writer.process(c)
    summary = summarize_codec_set(out, planned=len(utterances), shards=len(chunks))
    summary["elapsed_s"] = round(time.perf_counter() - t0, 2)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def summarize_codec_set(out: Path, planned: int, shards: int) -> dict[str, Any]:
    """Counts per split from the shard manifests; every reject goes to ``rejects.jsonl``."""
    per = {s: {"utterances": 0, "hours": 0.0, "shards": 0} for s in SPLITS}
    rejects = []
    for p in sorted((out / "manifest").glob("*.json")):
        r = json.loads(p.read_text())
        per[r["split"]]["utterances"] += r["cuts"]
        per[r["split"]]["hours"] += r["seconds"] / 3600
        per[r["split"]]["shards"] += 1 if r["cuts"] else 0
        rejects.extend(r["rejects"])
    with open(out / "rejects.jsonl", "w") as f:
        for r in rejects:
            f.write(json.dumps(r) + "\n")
    for v in per.values():
        v["hours"] = round(v["hours"], 4)
    return {"output_dir": str(out), "planned_utterances": planned, "planned_shards": shards,
            "utterances": sum(v["utterances"] for v in per.values()), "rejects": len(rejects), "splits": per}
