"""Post a note on a GitLab merge request through the REST API with a project access token."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from contracts.errors import RunnerError

TIMEOUT_S = 30


class NotePostError(RunnerError):
    """GitLab refused the note or could not be reached."""


def notes_url(api_url: str, project_id: str, merge_request_iid: str) -> str:
    """Return the notes endpoint of merge request `merge_request_iid` of project `project_id` under `api_url`."""
    project = urllib.parse.quote(project_id, safe="")
    return f"{api_url.rstrip('/')}/projects/{project}/merge_requests/{merge_request_iid}/notes"


def post_note(url: str, token: str, body: str) -> int:
    """POST `body` as a note to the notes endpoint `url`; return the new note's id.

    Raises NotePostError when GitLab answers with an error or cannot be reached.
    """
    request = urllib.request.Request(
        url,
        data=json.dumps({"body": body}).encode(),
        headers={"PRIVATE-TOKEN": token, "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return int(json.load(response)["id"])
    except urllib.error.HTTPError as exc:
        raise NotePostError(
            f"GitLab must accept the note, got HTTP {exc.code} from {url}; the token needs the api scope "
            "and at least the Reporter role on the project"
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise NotePostError(f"GitLab must be reachable at {url}, got: {exc}") from exc
