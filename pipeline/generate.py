"""`duplexgen generate`: run the stages on Ray Data and write resumable Shar shards.

The driver only plans: it counts each source's rows, cuts them into chunks of ``shard_size`` rows
(chunk k of a source becomes shard k of ``shards/<source>/``), skips chunks whose shard is already
recorded in ``manifest/``, and streams the rest through Ray Data. Workers write shards and manifest
entries themselves, so the driver never holds the corpus and a rerun after a crash or Ctrl-C
finishes only what is missing. Same config + seed = same cut ids and audio bytes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Optional

from duplexgen.core import storage
from duplexgen.core.records import ManifestEntry, OutputError
from duplexgen.pipeline.config import GenerateConfig, config_to_dict
from duplexgen.pipeline.console import JobProgress, ray_output_to_log
from duplexgen.recipes import get_recipe
from duplexgen.pipeline.stages import (
    AudioStage,
    ChunkTask,
    LLMChunkStage,
    SourceStage,
    StageSpec,
)
from duplexgen.pipeline.manifest import finished_shards, manifest_name, read_manifest
from duplexgen.pipeline.timing import resolve_timing

log = logging.getLogger(__name__)


def needs_llm(task: ChunkTask) -> bool:
    """The recipe of this chunk leaves agent text for the LLM stage (it says so itself)."""
    return get_recipe(task.recipe).needs_llm


def prepare_output_dir(out: storage.Location, work: Optional[Path] = None) -> None:
    """Create the output folder (or probe the bucket) or stop at once with a message naming it;
    clear the staging debris a killed run left in the local work folder."""
    storage.check_writable(out)
    if work is None:
        if storage.is_url(out):
            return
        work = Path(out)
    work = Path(work)
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PermissionError(f"work_dir is not writable: {work} ({e.strerror}); choose another work_dir=...") from None
    shutil.rmtree(work / ".staging", ignore_errors=True)


def source_path(src) -> str:
    from duplexgen.recipes import get_recipe
    from duplexgen.recipes.base import check_input_file

    path = src.path or get_recipe(src.recipe).default_path()
    check_input_file(path)
    return path


def plan_chunks(cfg: GenerateConfig) -> list[ChunkTask]:
    """Cut every source into chunks of ``shard_size`` rows (streaming count, nothing held)."""
    tasks = []
    for src in cfg.sources:
        recipe = get_recipe(src.recipe)
        path = source_path(src)
        cap = src.max_rows
        if src.hours is not None:
            cap = min(cap if cap is not None else sys.maxsize, rows_for_hours(src, cfg))
        n = sum(1 for _ in recipe.read_rows(path, 0, cap))  # never counts past the rows the run needs
        for k, start in enumerate(range(0, n, cfg.shard_size)):
            tasks.append(
                ChunkTask(
                    source=src.name,
                    recipe=src.recipe,
                    path=path,
                    start=start,
                    stop=min(start + cfg.shard_size, n),
                    shard_index=k,
                    seed=cfg.seed,
                    options=dict(src.options),
                )
            )
    return interleave_sources(tasks)


def rows_for_hours(src, cfg: GenerateConfig) -> int:
    """Rows needed to reach ``hours * mixture_scale`` (``src.hours`` set) given the source's mean seconds per row."""
    return max(1, int(round(src.hours * cfg.mixture_scale * 3600 / src.seconds_per_row)))


def interleave_sources(tasks: list[ChunkTask]) -> list[ChunkTask]:
    """Round-robin over sources so shards of every source are produced from the start."""
    by_source: dict[str, list[ChunkTask]] = {}
    for t in tasks:
        by_source.setdefault(t.source, []).append(t)
    out = []
    queues = list(by_source.values())
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


def pending_chunks(out: storage.Location, tasks: list[ChunkTask]) -> list[ChunkTask]:
    done = finished_shards(out)
    return [t for t in tasks if manifest_name(t.source, t.shard_index) not in done]


def init_ray(cfg: GenerateConfig) -> None:
    import ray

    if ray.is_initialized():
        return
    address = cfg.ray.address or os.environ.get("RAY_ADDRESS")
    kwargs: dict[str, Any] = {"log_to_driver": True, "include_dashboard": bool(address)}
    if address:
        ray.init(address=address, **{k: v for k, v in kwargs.items() if k != "include_dashboard"})
        log.info("connected to Ray cluster at %s: %s", address, ray.cluster_resources())
    else:
        # "local": a fresh Ray of our own, never an instance some earlier `ray start` left on this machine.
        ray.init(address="local", num_cpus=cfg.ray.num_cpus, include_dashboard=False, log_to_driver=True)


# --- Ray wrappers: thin callables around the stage classes ------------------------------------


def _source_fn(row: dict[str, Any]) -> dict[str, Any]:
    return SourceStage().process(ChunkTask(**json.loads(row["task"])))


class _LLMActor:
    def __init__(self, cfg_dict: dict):
        cfg = _cfg_from_dict(cfg_dict)
        self.stage = LLMChunkStage(cfg.llm, cache_dir=str(work_dir(cfg) / "cache" / "llm"))

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        return self.stage.process(row)


class _AudioActor:
    def __init__(self, cfg_dict: dict):
        self.stage = AudioStage(_cfg_from_dict(cfg_dict))

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        return self.stage.process(row)


class _SourceAudioActor(_AudioActor):
    """Reads its chunk's rows itself, then renders, assembles and writes (the plan when no source needs the LLM)."""

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        return self.stage.process(SourceStage().process(ChunkTask(**json.loads(row["task"]))))


def work_dir(cfg: GenerateConfig) -> Path:
    return storage.local_work_dir(cfg.output_dir, cfg.work_dir)


def _cfg_from_dict(d: dict) -> GenerateConfig:
    from omegaconf import OmegaConf

    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(GenerateConfig), d))


def stage_plan(cfg: GenerateConfig, tasks: list[ChunkTask]) -> list[tuple[StageSpec, Any]]:
    """(spec, Ray callable) per stage, in order; the LLM stage only when a source needs it.

    Without an LLM stage the render actors read their chunks themselves: reading is light next to TTS, and a
    separate pool of source workers costs a Ray worker process each (~1.5 CPU s of start-up and ~200 MB:
    Python, Ray, the reading stack) plus one object-store hop per chunk."""
    llm = any(needs_llm(t) for t in tasks)
    audio = AudioStage.spec(cfg, render_workers(cfg, llm))
    if not llm:
        return [(replace(audio, input="ChunkTask (reads its rows)"), _SourceAudioActor)]
    return [(SourceStage.spec(cfg), _source_fn), (LLMChunkStage.spec(cfg), _LLMActor), (audio, _AudioActor)]


def build_dataset(cfg: GenerateConfig, tasks: list[ChunkTask], plan: Optional[list[tuple[StageSpec, Any]]] = None):
    """The streaming Ray Data plan: chunk tasks -> source -> [llm] -> audio (shard written), each stage
    mapped with the resources its :class:`StageSpec` declares."""
    import ray
    from ray.data import ActorPoolStrategy, TaskPoolStrategy

    quiet_ray_data()
    cfg_dict = config_to_dict(cfg)
    # Start work only once every actor of a pool is up: otherwise the first actor ready takes the first chunks
    # while the others still import, and a short job can end on one node (Ray's default is not to wait).
    ray.data.DataContext.get_current().wait_for_min_actors_s = cfg.ray.start_timeout_s
    items = [{"task": json.dumps(asdict(t))} for t in tasks]
    # One block per chunk so chunks spread over the actor pool instead of queueing in one block.
    ds = ray.data.from_items(items, override_num_blocks=len(items))
    for spec, fn in plan or stage_plan(cfg, tasks):
        kwargs: dict[str, Any] = {"num_cpus": spec.num_cpus}
        if spec.num_gpus:
            kwargs["num_gpus"] = spec.num_gpus
        if spec.kind == "actor":
            # One chunk in flight per actor: a chunk is a whole shard of TTS, so queueing a second behind it (Ray's
            # default is 2) only leaves other actors idle at the end; the next chunk goes to an idle actor.
            kwargs.update(compute=ActorPoolStrategy(size=spec.workers, max_tasks_in_flight_per_actor=1),
                          fn_constructor_kwargs={"cfg_dict": cfg_dict})
        else:
            kwargs["compute"] = TaskPoolStrategy(size=spec.workers)
        ds = ds.map(fn, **kwargs)
    return ds


def quiet_ray_data() -> None:
    """Turn off Ray Data's progress bars, progress log lines and end-of-run stats: ``JobProgress`` shows the job
    instead, and on 2 cores they cost about half of the pipeline's marginal CPU on Ray (driver and workers;
    16 vs 160 rows, twice each: 5.8-6.5 CPU s per 144 rows with them, 2.4-3.4 without; BENCHMARKS.md)."""
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.enable_operator_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.enable_auto_log_stats = False


def render_workers(cfg: GenerateConfig, needs_llm: bool) -> int:
    """Size of the render actor pool: as configured, else every CPU the LLM actors leave free."""
    if cfg.ray.render_workers is not None:
        return cfg.ray.render_workers
    import ray

    cpus = int(ray.cluster_resources().get("CPU", 1))
    reserved = cfg.ray.llm_workers if needs_llm else 0
    return max(1, int((cpus - reserved) // max(cfg.ray.render_cpus, 1e-3)))


def generate(cfg: GenerateConfig, *, ray_data: bool = True, progress: Optional[JobProgress] = None,
             ray_log: Optional[str] = None) -> dict[str, Any]:
    """Run the pipeline; returns the summary (also written to ``summary.json``).

    ``progress`` shows the job (default: a :class:`JobProgress` on stderr); with ``ray_log`` set, everything Ray
    prints goes to that file and only its error lines reach ``progress.note`` (what the command line does)."""
    from duplexgen.pipeline.summary import summarize, write_summary

    out = cfg.output_dir  # a folder or an object-store URL
    cfg = dataclasses.replace(cfg, augment=resolve_timing(cfg.augment))  # timing=custom + estimate_from: fit once, here
    tasks = plan_chunks(cfg)  # checks every input file before anything is written
    prepare_output_dir(out, work_dir(cfg))
    storage.write_text(storage.join(out, "config.json"), json.dumps(config_to_dict(cfg), indent=1))
    todo = pending_chunks(out, tasks)
    progress = progress or JobProgress(todo)
    skipped = len(tasks) - len(todo)
    if skipped:
        progress.note(f"resuming: {skipped} of {len(tasks)} shards already finished, {len(todo)} to go")
    try:
        if todo and ray_data:
            capture = contextlib.nullcontext()
            if ray_log:
                progress.note(f"Ray's own output goes to {ray_log} (its error lines are shown here)")
                capture = ray_output_to_log(ray_log, show=lambda line: progress.note(f"ray: {line}"))
            with capture:
                run_on_ray(cfg, todo, progress)
        elif todo:  # the same stages in-process (debugging, tests of the stage logic)
            llm = LLMChunkStage(cfg.llm, str(work_dir(cfg) / "cache" / "llm"))
            audio = AudioStage(cfg)
            for t in todo:
                row = SourceStage().process(t)
                if needs_llm(t):
                    row = llm.process(row)
                progress.update(ManifestEntry.from_dict(json.loads(audio.process(row)["result"])))
    finally:
        progress.close()
    entries = read_manifest(out)  # once: summary, rejects and index all come from it
    summary = summarize(out, planned_shards=len(tasks), entries=entries, source_index={s.name: i for i, s in enumerate(cfg.sources)})
    write_summary(out, summary, entries)
    from duplexgen.pipeline.index import write_index

    write_index(out, entries)
    write_nemo_input_cfg(out, summary)
    return summary


def run_on_ray(cfg: GenerateConfig, todo: list[ChunkTask], progress: JobProgress) -> None:
    """Stream the chunks through the Ray Data plan, counting each finished shard."""
    import ray

    started_ray = not ray.is_initialized()
    init_ray(cfg)
    try:
        plan = stage_plan(cfg, todo)
        progress.note("stages:\n" + "\n".join(f"  {spec.describe()}" for spec, _ in plan))
        for row in build_dataset(cfg, todo, plan).iter_rows():
            progress.update(ManifestEntry.from_dict(json.loads(row["result"])))
    except Exception as e:
        cause = find_output_error(e)
        if cause is not None:
            raise OutputError(str(cause)) from None
        raise
    finally:
        if started_ray:  # leave the process as we found it (a library call, a test)
            ray.shutdown()


def ray_log_path(cfg: GenerateConfig) -> Path:
    """Where the command line sends Ray's output: a new file per run under the local work folder."""
    return work_dir(cfg) / "logs" / f"generate-{time.strftime('%Y%m%d-%H%M%S')}.log"


def find_output_error(e: BaseException) -> Optional[BaseException]:
    """The OutputError behind a (Ray-wrapped) failure, if any: it deserves a plain message, not a stack."""
    import re
    import traceback

    seen, cur = set(), e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OutputError):
            return cur
        cur = getattr(cur, "cause", None) or cur.__cause__ or cur.__context__
    # Ray Data may carry the worker's exception only as formatted text.
    text = "".join(traceback.format_exception(e))
    found = re.findall(r"OutputError: (.+)", text)
    return OutputError(found[-1].strip()) if found else None


def write_nemo_input_cfg(out: storage.Location, summary: dict[str, Any]) -> str:
    """The NeMo ``train_ds.input_cfg`` that trains on this output: one Shar folder per source,
    weighted by its hours so the mixture is sampled as generated."""
    import yaml

    entries = [
        {"type": "lhotse_shar", "shar_path": storage.join(out, "shards", name), "weight": round(max(v["hours"], 1e-9), 6), "tags": {"source": name}}
        for name, v in summary["per_source"].items()
        if v["shards"]
    ]
    header = "# NeMo speechlm2 data.train_ds.input_cfg for this corpus (weights = hours per source)\n"
    return storage.write_text(storage.join(out, "nemo_input_cfg.yaml"), header + yaml.safe_dump({"input_cfg": entries}, sort_keys=False))
