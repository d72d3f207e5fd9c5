"""Output to an object store: ``generate output_dir=s3://...`` against a real S3 API on loopback.

The S3 server is moto's (``ThreadedMotoServer``): real HTTP, real S3 semantics, served from this process.
Credentials and the endpoint reach fsspec/s3fs, Lhotse (smart_open/boto3) and the Ray workers through the
standard environment variables, exactly as they would on a cluster. One real Ray run writes the corpus to
the bucket; the checks then read it back with the project's validator, its training data loader and the
report, resume it after a lost shard, and compare it byte for byte with the same run written locally.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path

import pytest

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

from duplexgen.pipeline.cli import main  # noqa: E402
from duplexgen.core.shards import load_shards  # noqa: E402
from duplexgen.pipeline.validate import validate_dir  # noqa: E402

pytestmark = pytest.mark.slow

BUCKET = "duplex-corpus"
CONFIG = """\
seed: 1234
augment:
  barge_in: {enabled: false}
  backchannel: {enabled: false}
sources:
  - recipe: alpaca
    max_rows: 4
"""


@pytest.fixture(scope="module")
def s3():
    """An S3 endpoint on 127.0.0.1 with one bucket; the environment points every client at it."""
    import s3fs

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    mp = pytest.MonkeyPatch()
    for key, value in {
        "AWS_ACCESS_KEY_ID": "duplexgen-test",
        "AWS_SECRET_ACCESS_KEY": "duplexgen-test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": f"http://{host}:{port}",
    }.items():
        mp.setenv(key, value)
    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem()
    fs.mkdir(BUCKET)
    yield fs
    s3fs.S3FileSystem.clear_instance_cache()
    mp.undo()
    server.stop()


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "alpaca_s3.yaml"
    path.write_text(CONFIG)
    return path


def generate(out: str, config: Path, work: Path, *overrides: str) -> int:
    return main(["generate", str(config), f"output_dir={out}", f"work_dir={work}", "shard_size=2",
                 "ray.render_workers=2", *overrides])


@pytest.fixture(scope="module")
def s3_run(s3, config, tmp_path_factory):
    """One generate run into s3://BUCKET/run (2 shards of 2 Alpaca conversations)."""
    cwd = tmp_path_factory.mktemp("cwd")
    mp = pytest.MonkeyPatch()
    mp.chdir(cwd)
    try:
        # tts.cache=true: espeak keeps no render cache by default; with one, it must stay in work_dir too.
        assert generate(f"s3://{BUCKET}/run", config, cwd / "work", "tts.cache=true") == 0
    finally:
        mp.undo()
    return f"s3://{BUCKET}/run", cwd


def tar_members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}


def test_generate_writes_the_corpus_to_the_bucket(s3, s3_run):
    out, cwd = s3_run
    names = {p.split(f"{BUCKET}/run/", 1)[1] for p in s3.find(f"{BUCKET}/run")}
    for i in ("000000", "000001"):
        assert {f"shards/alpaca/cuts.{i}.jsonl.gz", f"shards/alpaca/recording.{i}.tar",
                f"shards/alpaca/target_audio.{i}.tar", f"manifest/alpaca.{i}.json"} <= names
    assert {"summary.json", "rejects.jsonl", "index.parquet", "nemo_input_cfg.yaml", "config.json"} <= names
    assert not any(n.startswith((".staging", ".write-test", "cache")) for n in names), names

    summary = json.loads(s3.cat(f"{BUCKET}/run/summary.json"))
    assert summary["conversations"] == 4 and summary["shards"] == 2 and summary["rejects"] == 0
    assert summary["shard_dirs"] == [f"{out}/shards/alpaca"]

    # NeMo trains straight from the bucket: the input_cfg points at the URL, not at a local copy.
    nemo_cfg = s3.cat(f"{BUCKET}/run/nemo_input_cfg.yaml").decode()
    assert f"shar_path: {out}/shards/alpaca" in nemo_cfg

    import pyarrow.parquet as pq

    index = pq.read_table(io.BytesIO(s3.cat(f"{BUCKET}/run/index.parquet"))).to_pylist()
    assert len(index) == 4 and {r["shard"] for r in index} == {"shards/alpaca/cuts.000000.jsonl.gz", "shards/alpaca/cuts.000001.jsonl.gz"}

    # Nothing landed in a local folder named after the URL; staging and caches stayed in work_dir.
    assert not (cwd / "s3:").exists()
    assert (cwd / "work" / "cache" / "tts").is_dir()
    assert not list((cwd / "work").rglob("*.tar"))


def test_bucket_shards_pass_the_contract_and_feed_the_trainer(s3_run):
    out, _ = s3_run
    report = validate_dir(f"{out}/shards")
    assert report.ok, report.violations[:5]
    assert report.cuts == 4 and report.shard_dirs == [f"{out}/shards/alpaca"]

    from duplexgen.training.data import list_shards, open_cuts

    shards = list_shards([out])
    assert [s["cuts"] for s in shards] == [f"{out}/shards/alpaca/cuts.00000{i}.jsonl.gz" for i in range(2)]
    cut = next(iter(open_cuts(shards, seed=0, infinite=False)))
    assert cut.load_audio().shape[1] == round(cut.duration * 16000)
    assert cut.load_target_audio().shape[1] == round(cut.duration * 22050)


def test_bucket_output_matches_local_output_byte_for_byte(s3, s3_run, config, tmp_path):
    out, _ = s3_run
    local = tmp_path / "local"
    assert generate(str(local), config, tmp_path / "work") == 0
    for name in ["cuts.000001.jsonl.gz", "recording.000001.tar", "target_audio.000001.tar"]:
        remote = s3.cat(f"{BUCKET}/run/shards/alpaca/{name}")
        mine = (local / "shards" / "alpaca" / name).read_bytes()
        if name.endswith(".tar"):
            assert tar_members(remote) == tar_members(mine), name
        else:
            assert [c.id for c in load_shards(f"{out}/shards/alpaca")] == [c.id for c in load_shards(local / "shards" / "alpaca")]


def test_rerun_resumes_a_lost_shard_in_the_bucket(s3, s3_run, config, tmp_path, capsys):
    out, _ = s3_run
    # A crash after shard 1's upload but before its manifest entry: the rerun must redo it, and only it.
    s3.rm(f"{BUCKET}/run/manifest/alpaca.000001.json")
    s3.rm(f"{BUCKET}/run/shards/alpaca/cuts.000001.jsonl.gz")
    kept = s3.info(f"{BUCKET}/run/shards/alpaca/target_audio.000000.tar")["LastModified"]
    time.sleep(1.1)  # S3 LastModified has one-second resolution
    capsys.readouterr()
    assert generate(out, config, tmp_path / "work2") == 0
    assert "resuming: 1 of 2 shards already finished, 1 to go" in capsys.readouterr().err
    s3.invalidate_cache()
    assert s3.info(f"{BUCKET}/run/shards/alpaca/target_audio.000000.tar")["LastModified"] == kept
    ids = [c.id for c in load_shards(f"{out}/shards/alpaca")]
    assert len(ids) == len(set(ids)) == 4
    assert json.loads(s3.cat(f"{BUCKET}/run/summary.json"))["conversations"] == 4


def test_report_index_and_export_read_the_bucket(s3_run, tmp_path):
    out, _ = s3_run
    html = tmp_path / "report.html"
    assert main(["report", out, "--html", str(html), "--examples", "1"]) == 0
    text = html.read_text()
    assert "4 conversations" in text and "<audio controls" in text
    assert main(["export", "webdataset", f"{out}/shards", str(tmp_path / "wds")]) == 0
    assert len(list((tmp_path / "wds").glob("duplex-*.tar"))) == 1


def test_missing_bucket_stops_at_once_naming_the_url(s3, config, tmp_path, capsys):
    out = "s3://no-such-bucket/run"
    assert generate(out, config, tmp_path / "work") == 2
    err = capsys.readouterr().err
    assert "cannot write s3://no-such-bucket/run/.write-test" in err and "bucket exists" in err
    assert not (tmp_path / "work" / ".staging").exists()
