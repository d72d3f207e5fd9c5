"""The generation stages, declared like NeMo Curator's: a name, resources (a :class:`StageSpec` that the Ray
Data plan is built from), lazy setup of heavy state, process.

```
ChunkTask --SourceStage--> conversations (text) --LLMStage--> answers/dialogs filled
          --AudioStage: plan -> TTS -> assemble/augment -> Shar shard--> ManifestEntry
```

The unit of work between stages is a *chunk*: the rows that make one shard. The three audio steps
(render, assemble, write) run fused in one actor so that audio never crosses the object store;
only text and small results travel between workers. Each stage is a plain class usable without
Ray (tests call ``process`` directly); :mod:`duplexgen.pipeline.generate` wraps them in Ray Data.

Every item-level failure becomes a reject record ``{source, row_id, item, stage, reason}``: a bad
row or a TTS crash fails that conversation only, never the chunk.
"""

from __future__ import annotations

import errno
import json
import logging
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from duplexgen.core.records import Conversation, ManifestEntry, OutputError, Reject, RejectError, SkipRow, derive_seed
from duplexgen.pipeline.manifest import write_manifest_entry

log = logging.getLogger(__name__)

#: Concurrent source-reading tasks (reading is cheap next to TTS; more only costs worker processes).
SOURCE_TASKS = 2


@dataclass
class StageSpec:
    """What a stage needs from the executor (read by ``generate.build_dataset``, printed at start)."""

    name: str
    input: str
    output: str
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    #: actor pool size (kind="actor") or most concurrent tasks (kind="task")
    workers: int = 1
    #: source rows per call: one chunk, which becomes one shard
    batch_size: int = 1
    #: actor = heavy state set up lazily once per worker (callable class); task = stateless function.
    kind: str = "task"

    def describe(self) -> str:
        gpus = f", {self.num_gpus:g} GPU" if self.num_gpus else ""
        return (f"{self.name:<7} {self.kind:<5} x{self.workers:<3} {self.num_cpus:g} CPU{gpus} each, "
                f"{self.batch_size} rows per call: {self.input} -> {self.output}")


@dataclass
class ChunkTask:
    """The rows ``[start, stop)`` of one source that become shard ``shard_index`` of that source."""

    source: str
    recipe: str
    path: str
    start: int
    stop: int
    shard_index: int
    seed: int
    options: dict = field(default_factory=dict)


def reject_record(source: str, row_id: str, item: str, stage: str, reason: str, code: str = "unclassified") -> dict[str, str]:
    """A :class:`Reject` as the JSON-able dict that travels in Ray rows and manifest entries."""
    return Reject(source, str(row_id), item, stage, reason, code).to_dict()


def _reject_from_error(e: BaseException, source: str, row_id: str, item: str, default_stage: str) -> dict[str, str]:
    if isinstance(e, RejectError):
        return reject_record(source, row_id, e.item or item, e.stage or default_stage, e.reason, e.code)
    # An unexpected exception is still an item failure: keep its type and message, log the stack.
    log.warning("%s failed on %s: %s", default_stage, item, traceback.format_exc(limit=3))
    return reject_record(source, row_id, item, default_stage, f"{type(e).__name__}: {e}", "crash")


class SourceStage:
    """ChunkTask -> conversations: read the rows with the recipe, validate, normalize text."""

    @staticmethod
    def spec(cfg: Any) -> StageSpec:
        # Reading rows is light I/O: it must not wait for CPUs held by the actor pools (that deadlocks a
        # 2-core machine); a small bounded pool of reused workers keeps Ray from starting one per chunk.
        return StageSpec("source", "ChunkTask", "chunk of Conversation", num_cpus=0, workers=SOURCE_TASKS,
                         batch_size=cfg.shard_size, kind="task")

    def process(self, task: ChunkTask) -> dict[str, Any]:
        from duplexgen.recipes import get_recipe
        from duplexgen.text.normalize import apply_options, normalize_conversation

        recipe = get_recipe(task.recipe)
        convs, rejects = [], []
        for row in recipe.read_rows(task.path, task.start, task.stop):  # only this chunk's rows are read
            item = f"{task.source}:{row.row_id}"
            try:
                conv = recipe.to_conversation(row, seed=task.seed, **task.options)
                conv.source = task.source
                apply_options(conv, task.options)  # sources[].options.normalize, for every recipe
                normalize_conversation(conv)
                convs.append(conv.to_dict())
            except SkipRow:
                continue
            except Exception as e:  # noqa: BLE001 - every row failure is a reject, never a crash
                rejects.append(_reject_from_error(e, task.source, row.row_id, item, "source"))
        return chunk_row(task, convs, rejects)


def chunk_row(task: ChunkTask, convs: list[dict], rejects: list[dict]) -> dict[str, Any]:
    """The Ray Data row for a chunk in flight: text only, as JSON strings (schemas vary per source)."""
    return {
        "task": json.dumps(asdict(task)),
        "conversations": json.dumps(convs),
        "rejects": json.dumps(rejects),
    }


def unpack_chunk(row: dict[str, Any]) -> tuple[ChunkTask, list[Conversation], list[dict]]:
    task = ChunkTask(**json.loads(row["task"]))
    convs = [Conversation.from_dict(d) for d in json.loads(row["conversations"])]
    return task, convs, json.loads(row["rejects"])


class LLMChunkStage:
    """Fills the conversations that ask for LLM text (answers, topic dialogs), batched per chunk."""

    @staticmethod
    def spec(cfg: Any) -> StageSpec:
        return StageSpec("llm", "chunk of Conversation", "chunk of Conversation", num_cpus=1, num_gpus=cfg.ray.llm_gpus,
                         workers=cfg.ray.llm_workers, batch_size=cfg.shard_size, kind="actor")

    def __init__(self, llm_cfg: Any, cache_dir: str):
        self.llm_cfg = llm_cfg
        self.cache_dir = cache_dir
        self._stage = None

    def setup(self):
        if self._stage is None:
            from duplexgen.text.writer import LLMStage

            self._stage = LLMStage(self.llm_cfg, self.cache_dir)
        return self._stage

    def process(self, row: dict[str, Any]) -> dict[str, Any]:
        task, convs, rejects = unpack_chunk(row)
        if not any("llm" in c.meta for c in convs):
            return row
        results = self.setup().process_batch(convs)
        kept = []
        for conv, res in zip(convs, results):
            if isinstance(res, BaseException):
                rejects.append(_reject_from_error(res, conv.source, conv.row_id, conv.id, "llm"))
            else:
                kept.append(res.to_dict())
        return chunk_row(task, kept, rejects)


class AudioStage:
    """Chunk of conversations -> one Lhotse Shar shard: plan augmentation, render, assemble, write.

    Heavy objects (the TTS backend, the voice pool) are built lazily once per worker."""

    @staticmethod
    def spec(cfg: Any, workers: int) -> StageSpec:
        return StageSpec("audio", "chunk of Conversation", "Shar shard + manifest entry", num_cpus=cfg.ray.render_cpus,
                         num_gpus=cfg.ray.render_gpus, workers=workers, batch_size=cfg.shard_size, kind="actor")

    def __init__(self, cfg: Any):
        self.cfg = cfg
        self._renderer = None
        self._voices = None
        self._count_tokens = None

    @property
    def out(self) -> str:
        """Where shards and manifest entries go: a local folder or an object-store URL."""
        return self.cfg.output_dir

    @property
    def work(self) -> Path:
        """Local folder for staging and caches (the output itself when that is local)."""
        from duplexgen.core.storage import local_work_dir

        return local_work_dir(self.cfg.output_dir, self.cfg.work_dir)

    def setup(self):
        if self._renderer is None:
            from duplexgen.tts import build_renderer, build_voice_pool

            from duplexgen.text.tokens import token_counter

            self._renderer = build_renderer(self.cfg.tts, cache_dir=str(self.work / "cache" / "tts"))
            self._voices = build_voice_pool(self.cfg.tts, seed=self.cfg.seed)
            # The EOS rule for shortened (barge-in) turns counts with the training tokenizer when given.
            self._count_tokens = token_counter(self.cfg.augment.tokenizer)
        return self._renderer, self._voices

    def render_conversation(self, conv: Conversation):
        """Text conversation -> (planned conversation, rendered turns, assembled streams)."""
        from duplexgen.augment import assemble, plan_conversation

        renderer, voices = self.setup()
        conv_seed = derive_seed(self.cfg.seed, conv.id)
        conv = plan_conversation(conv, self.cfg.augment, seed=conv_seed)
        user_voice = voices.user_voice(conv_seed)
        rendered = []
        for i, turn in enumerate(conv.turns):
            try:
                if turn.audio_path:
                    from duplexgen.recipes.asr_qa import load_user_audio

                    from duplexgen.tts.align import align_recorded

                    recorded = load_user_audio(turn, max_audio_s=self._max_audio_s(conv))
                    recorded.words, recorded.timing_source = align_recorded(recorded.text, recorded.audio, recorded.sample_rate, renderer.aligner)
                    rendered.append(recorded)
                else:
                    voice = voices.agent if turn.role == "agent" else user_voice
                    rendered.append(renderer.render(turn.text, voice, turn.role, kind=turn.kind))
            except RejectError as e:
                raise RejectError(f"turn {i} ({turn.role}): {e.reason}", code=e.code, stage=e.stage or "tts", item=conv.id) from None
        assembled = assemble(conv, rendered, self.cfg.augment, seed=conv_seed, count_tokens=self._count_tokens)
        return conv, rendered, assembled

    def _max_audio_s(self, conv: Conversation) -> float:
        return float(conv.meta.get("max_audio_s", 30.0))

    def make_cut(self, conv: Conversation):
        from duplexgen.pipeline.shards import shard_cut

        conv, rendered, assembled = self.render_conversation(conv)
        voices = sorted({t.voice for t in rendered})
        custom = {
            "source": conv.source,
            "recipe": conv.recipe,
            "row_id": conv.row_id,
            "seed": conv.seed,
            "user_voice": next((t.voice for t in rendered if t.role == "user" and t.voice), ""),
            "agent_voice": next((t.voice for t in rendered if t.role == "agent"), ""),
            "voices": voices,
            "timing_source": sorted({t.timing_source for t in rendered}),
        }
        for key in ("normalized", "llm_model", "topic"):
            if key in conv.meta:
                custom[key] = conv.meta[key]
        words = {i: t.words for i, t in enumerate(rendered) if t.words}
        return shard_cut(assembled, conv.id, custom, words_by_turn=words)

    def process(self, row: dict[str, Any]) -> dict[str, Any]:
        from duplexgen.pipeline.shards import write_shard
        from duplexgen.core.storage import join

        t0 = time.perf_counter()
        task, convs, rejects = unpack_chunk(row)
        cuts = []
        for conv in convs:
            try:
                cuts.append(self.make_cut(conv))
            except OSError as e:
                if is_output_failure(e, self.out):
                    raise OutputError(f"cannot write under {self.out} while rendering {conv.id}: {e}; free space or fix the folder, then rerun to resume") from e
                rejects.append(_reject_from_error(e, conv.source, conv.row_id, conv.id, "tts"))
            except Exception as e:  # noqa: BLE001 - one conversation's failure never fails the shard
                rejects.append(_reject_from_error(e, conv.source, conv.row_id, conv.id, "tts"))
        files: dict[str, str] = {}
        if cuts:
            shard_dir = join(self.out, "shards", task.source)
            try:
                files = write_shard(cuts, shard_dir, task.shard_index, self.work / ".staging")
            except OSError as e:
                raise OutputError(
                    f"cannot write shard {task.shard_index:06d} of {shard_dir}: {e}; finished shards are intact: "
                    "free space or fix the folder, then rerun the same command to resume"
                ) from e
        entry = ManifestEntry(
            source=task.source,
            shard_index=task.shard_index,
            cuts=len(cuts),
            seconds=round(sum(c.duration for c in cuts), 3),
            rejects=rejects,
            files=files,
            elapsed_s=round(time.perf_counter() - t0, 3),
            cut_ids=[c.id for c in cuts],
            node_id=current_node_id(),
            stats=[cut_stats(c) for c in cuts],
            rows=[task.start, task.stop],
            path=task.path,
            recipe=task.recipe,
        )
        write_manifest_entry(self.out, entry)
        return {"result": json.dumps(entry.to_dict())}


#: Errors that say the output itself is failing (not one bad item): they stop the run.
OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def is_output_failure(e: OSError, out: Any) -> bool:
    if e.errno in OUTPUT_ERRNOS:
        return True
    return e.errno in (errno.EACCES, errno.EPERM) and str(e.filename or "").startswith(str(out))


def cut_stats(cut) -> dict[str, Any]:
    """Per-conversation facts for the index and the report (no audio), from a ``ShardCut``."""
    custom = cut.custom or {}
    return {
        "id": cut.id,
        "duration": round(cut.duration, 3),
        "turns": sum(1 for s in cut.supervisions if (s.get("custom") or {}).get("kind", "turn") != "backchannel"),
        "barge_ins": len(custom.get("barge_in", []) or []),
        "backchannels": len(custom.get("backchannels", []) or []),
        "gaps": custom.get("gaps", []),
        "user_voice": custom.get("user_voice", ""),
        "agent_voice": custom.get("agent_voice", ""),
        "augmentations": [a.get("name", "") if isinstance(a, dict) else str(a) for a in custom.get("augmentations", []) or []],
        "text_changes": sorted({c for changes in (custom.get("normalized") or {}).values() for c in changes}),
        **text_speech_stats(cut),
        **({"timing": timing_stats(custom)} if custom.get("timing") else {}),
    }


def text_speech_stats(cut) -> dict[str, int]:
    """How far a cut's text is its speech (the report's agreement rate): supervisions, those with a word
    alignment, those whose alignment spells their text, and barge-ins keeping an exact prefix."""
    from duplexgen.core.words import is_word_prefix
    from duplexgen.pipeline.validate import alignment_violation, word_alignment

    aligned = [s for s in cut.supervisions if word_alignment(s) is not None]
    barge_ins = (cut.custom or {}).get("barge_in", []) or []
    return {
        "supervisions": len(cut.supervisions),
        "aligned": len(aligned),
        "spelled": sum(1 for s in aligned if alignment_violation(s) is None),
        "barge_ins_exact": sum(1 for b in barge_ins if is_word_prefix(b.get("full_text") or "", b.get("spoken_text") or "")),
    }


def timing_stats(custom: dict[str, Any]) -> dict[str, Any]:
    """Realised timing of a natural/custom cut for the report: offsets between turns (the trailing gap left out),
    barge-in stop delays and depths, backchannel positions (fraction of the agent turn, delay after the word)."""
    barge, bcs = custom.get("barge_in") or [], custom.get("backchannels") or []
    return {
        "profile": custom["timing"].get("profile"),
        "params": custom["timing"].get("params"),
        "offsets": [g for g in (custom.get("gaps") or [])[:-1] if g is not None],
        "stop_delays": [b["kept"] for b in barge],
        "depth_s": [b["depth_s"] for b in barge if "depth_s" in b],
        "backchannel_frac": [b["frac"] for b in bcs],
        "backchannel_after_word_s": [round(b["start"] - b["after_word_end"], 4) for b in bcs if "after_word_end" in b],
    }


def current_node_id() -> str:
    """The Ray node that wrote a shard (for reports and the scale-out check); "local" outside Ray."""
    try:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - diagnostics only
        pass
    return "local"
