"""Review before render (issue 13): a job asked with `review: true` stops at `awaiting_review`
once its script is written; its owner reads the script (with an ETag), may replace it (by the
rules a given script passes, under If-Match) and approves the render.

The script a client reads is the editable draft: the rendered `Script` less what follows from
the rest (the voice-over text is the scenes' narration in order), so the same body sent back
is a valid edit and a changed narration needs no second change."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from omnigen.shared.domain.errors import NotInReview
from omnigen.shared.domain.jobs import Job
from omnigen.shared.domain.script_rules import given_script_problems
from omnigen.shared.domain.scripts import Script, ScriptDraft


def script_etag(script: Script) -> str:
    """A strong ETag of the script's content: equal scripts, equal tags."""
    canonical = json.dumps(script.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return f'"{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"'


def editable_script(script: Script) -> dict[str, Any]:
    """The script as a client edits it: a valid `ScriptDraft` (the voice-over left out)."""
    plain = script.model_dump(mode="json")
    plain["audio_spec"].pop("voiceover_text", None)
    return plain


def reviewed_script(job: Job) -> Script:
    """The script awaiting review; `NotInReview` when the job is not waiting for one."""
    script = job.script
    if not job.in_review or script is None:
        raise NotInReview(job.job_id, job.stage, job.status.value)
    return script


def edit_problems(job: Job, draft: ScriptDraft) -> list[tuple[str, str]]:
    """What keeps `draft` from replacing the job's script, as (field, message) pairs named
    from the request (`script.scenes[2].narration`): the rules any given script must pass, for
    this job's duration, language, voice and speech rate."""
    return given_script_problems(job.request.model_copy(update={"script": draft}))


def edited_script(job: Job, draft: ScriptDraft) -> Script:
    """The script a fit `draft` makes for this job (check `edit_problems` first)."""
    return draft.complete(style=job.options.style)
