"""The two exception families: the participant's fault and ours.

A `SubmissionError` is something the participant can fix (their output is malformed);
a `RunnerError` is something the organizer must fix (a broken config, a missing engine).
Both carry one human sentence that names the problem and, where there is one, the fix.
"""


class ChallengeError(Exception):
    """Base of every error the project raises on purpose; `str()` is one sentence."""


class SubmissionError(ChallengeError):
    """The participant's fault: bad output, a crash, a timeout."""


class InvalidOutputError(SubmissionError):
    """The submission's descriptors file breaks the output contract."""


class RunnerError(ChallengeError):
    """The organizer's side is broken: an engine, image, dataset or config problem."""


class ConfigError(RunnerError):
    """competition.yaml is invalid; `problems` lists every one found, with its field path."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = list(problems)
        joined = "; ".join(self.problems)
        super().__init__(f"{path} is invalid: {joined}")
