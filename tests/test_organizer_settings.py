"""The organizers' pipeline settings: a fixed file on the runner host, and make ci-local's copy naming its own."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from pipeline.organizer_settings import SETTINGS, SETTINGS_FILE, settings_text, write_local_pipeline

ROOT = Path(__file__).resolve().parent.parent
VALUES = {name: f"/srv/{name.lower()} with space" for name in SETTINGS}


def test_no_organizer_setting_is_a_ci_variable_and_every_organizer_job_reads_the_file() -> None:
    pipeline = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text(encoding="utf-8"))
    assert not set(SETTINGS) & set(pipeline["variables"])
    script = pipeline[".organizer_settings"]["before_script"]
    assert script == [f"unset {' '.join(SETTINGS)}", f". {SETTINGS_FILE}"]
    for job in ("check", "admit", "build", "infer", "score:public", "score:private", "mr-note", "final-pick", "pages"):
        extends = pipeline[job]["extends"]
        chain = [extends] if isinstance(extends, str) else extends
        assert ".organizer_settings" in chain or ".organizer_job" in chain, job


def test_the_settings_file_sets_every_name_quoted(tmp_path: Path) -> None:
    text = settings_text(VALUES)
    probe = subprocess.run(
        ["sh", "-c", '. /dev/stdin; echo "$ORGANIZER_TOOLS|$SCORES_DIR"'], input=text, capture_output=True, text=True
    )
    assert probe.stdout == "/srv/organizer_tools with space|/srv/scores_dir with space\n"
    with pytest.raises(ValueError, match=r"missing \['SCORES_DIR'\], unknown \['EXTRA'\]"):
        settings_text({**{k: v for k, v in VALUES.items() if k != "SCORES_DIR"}, "EXTRA": "x"})


def test_the_local_copy_reads_its_own_file_and_differs_in_nothing_else(tmp_path: Path) -> None:
    copy = write_local_pipeline(ROOT / ".gitlab-ci.yml", tmp_path / "ci-local", VALUES)
    settings = tmp_path / "ci-local" / "pipeline.env"
    original = (ROOT / ".gitlab-ci.yml").read_text(encoding="utf-8")
    assert copy.read_text(encoding="utf-8") == original.replace(SETTINGS_FILE, str(settings))
    assert settings.read_text(encoding="utf-8") == settings_text(VALUES)
    other = tmp_path / "other.yml"
    other.write_text("infer:\n  script: [true]\n")
    with pytest.raises(ValueError, match=f"does not read {SETTINGS_FILE}"):
        write_local_pipeline(other, tmp_path / "x", VALUES)
