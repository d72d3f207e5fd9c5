"""Output locations: a local folder or an object-store URL (``s3://bucket/prefix``, ``gs://...``), via fsspec.

Every output path in the pipeline is a *location* string, and these functions treat both kinds alike.
Locally, writes go to a temporary name and are renamed into place; on an object store each PUT is
already atomic (an object is either absent or complete), so a file is uploaded under its final name.
Shards are always built in a local staging folder first and then published file by file with
:func:`put_file` (audio tars first, the cuts manifest last), so a reader never sees a cuts file whose
audio is missing, on either kind of storage.

Credentials and endpoints come from the environment, as for every other S3/GCS tool, so the same
settings reach fsspec here, Lhotse/NeMo when they read the shards, and every Ray node
(``AWS_PROFILE`` / ``AWS_ACCESS_KEY_ID`` + ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL_S3`` for
MinIO/Ceph/R2, ``GOOGLE_APPLICATION_CREDENTIALS``). On a cluster, pass them with
``ray job submit --runtime-env-json '{"env_vars": {...}}'`` or give the nodes an instance role.

Example::

    out = "s3://my-bucket/corpus"
    write_text(join(out, "manifest", "alpaca.000000.json"), "{}")
    listdir(join(out, "manifest"))            # ['alpaca.000000.json']
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Union

from duplexgen.core.records import OutputError

Location = Union[str, Path]

#: The fsspec package each URL scheme needs, for the message when it is missing.
SCHEME_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs"}


def is_url(location: Location) -> bool:
    return "://" in str(location)


def join(root: Location, *parts: str) -> str:
    """``root/part/...`` for a path or a URL (``Path`` would fold ``s3://`` into ``s3:/``)."""
    if is_url(root):
        return "/".join([str(root).rstrip("/"), *(str(p).strip("/") for p in parts)])
    return str(Path(root, *parts))


def name_of(location: Location) -> str:
    return str(location).rstrip("/").rsplit("/", 1)[-1]


def parent_of(location: Location) -> str:
    if is_url(location):
        return str(location).rstrip("/").rsplit("/", 1)[0]
    return str(Path(location).parent)


def filesystem(url: str):
    """(fsspec filesystem, path inside it) for a URL, with a clear message when its package is missing."""
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as e:
        scheme = url.split("://", 1)[0]
        pkg = SCHEME_PACKAGES.get(scheme, f"the fsspec backend for {scheme}://")
        raise OutputError(f"{url}: {scheme}:// output needs {pkg} (pip install {pkg}); {e}") from None
    except ValueError as e:  # unknown protocol
        raise OutputError(f"{url}: not a storage URL fsspec knows ({e}); use a local path or s3://, gs://, ...") from None


def _remote_failure(op: str, url: str, e: Exception) -> OutputError:
    return OutputError(
        f"cannot {op} {url}: {type(e).__name__}: {e}; check that the bucket exists and that credentials and endpoint "
        "(AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL_S3, GOOGLE_APPLICATION_CREDENTIALS) "
        "reach this machine and every Ray node, then rerun to resume"
    )


def exists(location: Location) -> bool:
    if not is_url(location):
        return Path(location).exists()
    fs, path = filesystem(str(location))
    try:
        return fs.exists(path)
    except Exception as e:  # noqa: BLE001 - any backend error is an output failure with one message
        raise _remote_failure("check", str(location), e) from None


def listdir(location: Location) -> list[str]:
    """Sorted names of the files directly in a folder; [] when it does not exist."""
    if not is_url(location):
        d = Path(location)
        return sorted(p.name for p in d.iterdir() if p.is_file()) if d.is_dir() else []
    fs, path = filesystem(str(location))
    try:
        fs.invalidate_cache(path)  # other processes (Ray workers) add files; never trust a stale listing
        entries = fs.ls(path, detail=True)
    except FileNotFoundError:
        return []
    except Exception as e:  # noqa: BLE001
        raise _remote_failure("list", str(location), e) from None
    return sorted(name_of(e["name"]) for e in entries if e.get("type") != "directory")


def find(root: Location, pattern: str) -> list[str]:
    """Locations of files under ``root`` (recursively) whose name matches the glob ``pattern``."""
    if not is_url(root):
        return sorted(str(p) for p in Path(root).rglob(pattern))
    fs, path = filesystem(str(root))
    try:
        fs.invalidate_cache()
        found = fs.glob(f"{path.rstrip('/')}/**/{pattern}")
    except FileNotFoundError:
        return []
    except Exception as e:  # noqa: BLE001
        raise _remote_failure("list", str(root), e) from None
    return sorted(fs.unstrip_protocol(p) for p in found)


def read_bytes(location: Location) -> bytes:
    if not is_url(location):
        return Path(location).read_bytes()
    fs, path = filesystem(str(location))
    try:
        return fs.cat_file(path)
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001
        raise _remote_failure("read", str(location), e) from None


def read_text(location: Location) -> str:
    return read_bytes(location).decode("utf-8")


def read_many(locations: list[str]) -> list[bytes]:
    """The contents of many files, in order; on an object store fetched concurrently (one listing of a
    corpus-scale manifest is hundreds of thousands of small objects: one GET at a time would take hours)."""
    if not locations or not is_url(locations[0]):
        return [read_bytes(loc) for loc in locations]
    fs, _ = filesystem(locations[0])
    paths = [filesystem(loc)[1] for loc in locations]
    try:
        found = fs.cat(paths, on_error="raise")
    except Exception as e:  # noqa: BLE001
        raise _remote_failure("read", parent_of(locations[0]), e) from None
    return [found[p] for p in paths]


def write_bytes(location: Location, data: bytes) -> str:
    """Write a whole file so readers see the old or the new content, never a part."""
    if not is_url(location):
        path = Path(location)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return str(path)
    fs, path = filesystem(str(location))
    try:
        fs.pipe_file(path, data)
    except Exception as e:  # noqa: BLE001
        raise _remote_failure("write", str(location), e) from None
    return str(location)


def write_text(location: Location, text: str) -> str:
    return write_bytes(location, text.encode("utf-8"))


def put_file(local: Path, location: Location) -> str:
    """Move a finished local file to its final location (rename locally, upload to a URL)."""
    if not is_url(location):
        Path(location).parent.mkdir(parents=True, exist_ok=True)
        os.replace(local, location)
        return str(location)
    fs, path = filesystem(str(location))
    try:
        fs.put_file(str(local), path)
    except Exception as e:  # noqa: BLE001
        raise _remote_failure("upload to", str(location), e) from None
    Path(local).unlink(missing_ok=True)
    return str(location)


def check_writable(location: Location) -> None:
    """Create the output folder (or probe the bucket) or stop at once with a message naming it."""
    if not is_url(location):
        out = Path(location)
        try:
            out.mkdir(parents=True, exist_ok=True)
            probe = out / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as e:
            raise PermissionError(f"output_dir is not writable: {out} ({e.strerror}); choose another output_dir=...") from None
        return
    probe = join(location, ".write-test")
    write_bytes(probe, b"ok")
    fs, path = filesystem(probe)
    try:
        fs.rm_file(path)
    except Exception as e:  # noqa: BLE001
        raise _remote_failure("delete", probe, e) from None


def local_work_dir(output_dir: Location, work_dir: Union[str, None] = None) -> Path:
    """Local folder for staging and caches: the output itself when local, else ``work_dir`` or a
    per-output folder in the system temp dir (one per node; caches there only save work)."""
    if work_dir:
        return Path(work_dir)
    if not is_url(output_dir):
        return Path(output_dir)
    digest = hashlib.sha1(str(output_dir).rstrip("/").encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / "duplexgen-work" / digest
