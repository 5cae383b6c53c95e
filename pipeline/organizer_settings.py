"""The organizers' settings of the pipeline: a file on each runner host, never a CI variable.

Where a participant may pass pipeline variables (GitLab lets Developers do so unless the
project forbids it), any setting that comes from a variable is theirs: `ORGANIZER_TOOLS`
pointed at the branch's checkout makes root run the branch's own Python, and
`SUBMISSION_ENGINE=local` runs the submission unsandboxed. So the organizer jobs unset
every such name and read it from SETTINGS_FILE, a fixed path written into the organizers'
.gitlab-ci.yml; the runner itself refuses an engine outside the sandboxed ones
(`python -m submission run --pipeline`).

`make ci-local` cannot write /etc on a developer's machine: it writes the file under
build/ci-local and runs gitlab-ci-local on a copy of .gitlab-ci.yml whose fixed path names
that file (`write_local_pipeline`). Only the organizers' project holds the CI
configuration file, so a participant cannot make GitLab read such a copy.
"""

from __future__ import annotations

import shlex
from pathlib import Path

#: The fixed path, on every runner host, of the organizers' settings (shell `NAME=value` lines).
SETTINGS_FILE = "/etc/mcs-challenge/pipeline.env"
#: Every setting the organizer jobs take from SETTINGS_FILE and from nowhere else.
SETTINGS = (
    "ORGANIZER_TOOLS",
    "SUBMISSION_ENGINE",
    "CHALLENGE_TEST",
    "CHALLENGE_CONFIG",
    "RUNS_DIR",
    "RUNS_KEEP",
    "CHALLENGE_GT",
    "SCORES_DIR",
    "CHALLENGE_STORE",
    "DESCRIPTOR_DIM",
)


def settings_text(values: dict[str, str]) -> str:
    """Return the settings file holding `values`, one quoted `NAME=value` line each, in SETTINGS order.

    Raises ValueError naming the settings missing from `values` or unknown to SETTINGS.
    """
    missing = [name for name in SETTINGS if name not in values]
    unknown = sorted(set(values) - set(SETTINGS))
    if missing or unknown:
        raise ValueError(
            f"the pipeline settings must be exactly {', '.join(SETTINGS)}: missing {missing}, unknown {unknown}"
        )
    return "".join(f"{name}={shlex.quote(values[name])}\n" for name in SETTINGS)


def write_local_pipeline(ci_file: Path, out_dir: Path, values: dict[str, str]) -> Path:
    """Write out_dir/pipeline.env from `values` and a copy of `ci_file` that reads it instead of SETTINGS_FILE.

    Returns the copy's path (for gitlab-ci-local's --file). Raises ValueError when `values`
    is incomplete or `ci_file` does not name SETTINGS_FILE (nothing would read the settings).
    """
    text = ci_file.read_text(encoding="utf-8")
    if SETTINGS_FILE not in text:
        raise ValueError(f"{ci_file} does not read {SETTINGS_FILE}: its organizer jobs would take variables instead")
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = out_dir / "pipeline.env"
    settings.write_text(settings_text(values), encoding="utf-8")
    copy = out_dir / "gitlab-ci.yml"
    copy.write_text(text.replace(SETTINGS_FILE, str(settings.resolve())), encoding="utf-8")
    return copy
