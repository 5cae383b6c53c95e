"""Whether models/manifest.json records exactly the submitted models, as they are."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

MANIFEST = Path("models") / "manifest.json"
#: Far above a manifest of a few models (about 2 KiB each); a larger one is not read.
MAX_MANIFEST_BYTES = 1024**2
FIX = "run make check-models and commit models/manifest.json"


def manifest_problems(submission_dir: Path, models: list[Path]) -> list[str]:
    """Return one sentence per disagreement between models/manifest.json and `models` (relative paths).

    A model not recorded, recorded with another sha256, or an entry without its model is
    a problem; so is a manifest that is missing, too large or not a JSON object.
    """
    path = submission_dir / MANIFEST
    if not path.is_file() or path.is_symlink():
        return [f"{MANIFEST} is missing: {FIX}"]
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        return [f"{MANIFEST} is over {MAX_MANIFEST_BYTES} bytes: {FIX}"]
    try:
        manifest = json.loads(path.read_bytes())
    except ValueError as exc:
        return [f"{MANIFEST} is not valid JSON ({exc}): {FIX}"]
    if not isinstance(manifest, dict):
        return [f"{MANIFEST} must be a JSON object keyed by model file name: {FIX}"]
    problems = []
    names = {model.name for model in models}
    for model in models:
        entry = manifest.get(model.name)
        digest = hashlib.sha256((submission_dir / model).read_bytes()).hexdigest()
        if not isinstance(entry, dict):
            problems.append(f"{model.as_posix()} is not recorded in {MANIFEST}: {FIX}")
        elif entry.get("sha256") != digest:
            problems.append(f"{model.as_posix()} changed since {MANIFEST} recorded it: {FIX}")
    for name in sorted(set(manifest) - names):
        problems.append(f"{MANIFEST} records models/{name}, which is not submitted: {FIX}")
    return problems
