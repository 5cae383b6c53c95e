"""The work of the pipeline's organizer jobs on the store: admit, record a run, rescore, and the team's note.

Each function takes an open `Store` and plain values, so the jobs' YAML stays one command.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from challenge.rules import has_ended, quota, refusal, stamp
from challenge.store import ADMITTED, NOT_RUN, Record, Store, StoreError
from contracts.competition import Competition, Metric
from contracts.descriptors import read_descriptors
from contracts.names import PRIVATE, PUBLIC
from contracts.status import Fault, Status
from evaluate.groundtruth import load_groundtruth
from evaluate.reports import fpr_label, score_document
from evaluate.scoring import score_submission
from pipeline.public_score import PublicScore, note_body

NOT_RUN_REASON = "An earlier job (check or build) failed, so the runner never ran it: it does not count."
NEVER_ADMITTED = "An earlier job failed before the admission: nothing was run and nothing counts."


def admit(
    store: Store, competition: Competition, team: str, merge_request: str, commit: str, pipeline: str
) -> tuple[Record, bool]:
    """Record the submission of `pipeline` and decide it under the phases and the quota; return it and the verdict."""
    return store.admit(team, merge_request, commit, pipeline, lambda own, now: refusal(competition, own, now))


def record_end(store: Store, pipeline: str, run_dir: Path) -> Record | None:
    """Set how the run of `pipeline` ended, from `run_dir`/run.json, unless it is already set; return the record.

    Without a run.json the record becomes not_run (an earlier job failed; it does not count).
    A record that is refused or already ended is left as it is; a pipeline never admitted
    gives None.
    """
    record = store.find(pipeline)
    if record is None or record.status != ADMITTED:
        return record
    try:
        report: dict[str, Any] = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return store.finish(pipeline, NOT_RUN, None, NOT_RUN_REASON)
    status = str(report.get("status", Status.ENGINE_ERROR))
    fault = report.get("fault") or (None if status == Status.OK else Fault.ORGANIZER)
    message = str(report.get("message") or f"The run ended with status {status}.")
    return store.finish(pipeline, status, fault, message, report.get("wall_s"), report.get("execution_provider"))


def record_run(store: Store, pipeline: str, run_dir: Path, score_path: Path, keep_dir: Path) -> Record | None:
    """Record the end of the run of `pipeline` (`record_end`) and, when it ran ok, its scores from `score_path`.

    The run's descriptors are copied to `keep_dir`/descriptors.npz (organizer side) for a
    later rescore. Raises StoreError when the score cannot be read.
    """
    record = record_end(store, pipeline, run_dir)
    if record is None or record.status != Status.OK:
        return record
    try:
        document = json.loads(score_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"the score of pipeline {pipeline} must be readable at {score_path}, got: {exc}") from exc
    keep_dir.mkdir(parents=True, exist_ok=True)
    kept = keep_dir / "descriptors.npz"
    shutil.copyfile(run_dir / "output" / "descriptors.npz", kept)
    store.set_scores(record.id, document, str(kept))
    return store.record(pipeline)


def rescore(store: Store, gt_dir: Path, metric: Metric) -> list[Record]:
    """Score every stored submission's kept descriptors again against `gt_dir` under `metric`; return those rescored.

    Raises contracts.errors.ChallengeError when the ground truth or a kept descriptors file is unreadable.
    """
    truth = load_groundtruth(gt_dir)
    done = []
    for record in store.records():
        if record.descriptors is None:
            continue
        submitted = read_descriptors(Path(record.descriptors), expected_track_ids=truth.track_id, dim=truth.dim)
        scores = score_submission(
            submitted, truth, metric.fpr, (PUBLIC, PRIVATE), similarity=metric.similarity, negatives=metric.negatives
        )
        store.set_scores(record.id, score_document(scores, metric))
        done.append(record)
    return done


def team_note(
    store: Store,
    competition: Competition,
    pipeline: str,
    public_score: PublicScore | None,
    team: str | None = None,
    pipeline_url: str | None = None,
) -> str:
    """Return the merge request note of `pipeline`: its status, its public score, the team's earlier public
    scores and its quota left (that of `team` when the pipeline has no record). Reads only public columns.
    """
    record = store.find(pipeline)
    now = store.clock()
    if record is None:
        lines = [f"**Submission not run**: {NEVER_ADMITTED}"]
        own = store.records(team) if team else []
        return "\n".join([*lines, "", *_quota_lines(competition, own, now)]) + "\n"
    if record.status == Status.OK and public_score is not None:
        lines = [note_body(public_score, pipeline_url).rstrip("\n")]
    else:
        lines = [f"**Submission {record.status}**: {record.reason}"]
        if record.status == ADMITTED:
            lines = ["**Submission not scored**: the run did not finish; see the infer job's log."]
        if pipeline_url:
            lines.append(f"Pipeline: {pipeline_url}")
    own = store.records(record.team)
    lines += ["", *_history(own, record), *_quota_lines(competition, own, now)]
    return "\n".join(lines) + "\n"


def _quota_lines(competition: Competition, own: Sequence[Record], now: datetime) -> list[str]:
    if has_ended(competition, now):
        return ["The competition has ended: the final ranking uses the private score."]
    state = quota(own, now, competition.submissions.per_day)
    if state.left is None:
        return ["No daily quota in this competition."]
    opens = f"; the next slot opens at {stamp(state.next_slot)}" if state.next_slot else ""
    return [f"Quota: {state.left} of {state.per_day} scored submissions left in the last 24 hours{opens}."]


def _history(own: Sequence[Record], current: Record) -> list[str]:
    earlier = [r for r in own if r.id != current.id and r.public_tpr is not None and r.created_at <= current.created_at]
    if not earlier:
        return ["No earlier scored submission."]
    fpr = fpr_label(earlier[0].primary_fpr or 0.0)
    lines = ["Your earlier public scores:", "", f"| Submitted | Commit | Public TPR@FPR={fpr} |", "|---|---|---|"]
    for record in earlier:
        lines.append(f"| {stamp(record.created_at)} | {record.commit[:8]} | {record.public_tpr:.4f} |")
    return [*lines, ""]
