"""Errors a user can act on. Each message says what is wrong, where, and what to do."""


class SkillRouterError(Exception):
    """Base class: anything the handler reports as a failed invocation with a clear message."""


class ConfigurationError(SkillRouterError):
    """The deployment is misconfigured (environment, secrets): nothing can be done until fixed."""


class NotConfigured(ConfigurationError):
    """The stack is deployed but not set up yet (the credentials secret still holds the template's
    empty placeholder, or no matrix was ever uploaded): a run says so and is not a failure, so the
    alarms stay quiet during set-up. `skill-router doctor` lists what is left to do."""


class MatrixError(SkillRouterError):
    """The skill matrix cannot be loaded or is invalid."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        joined = "\n  ".join(problems)
        super().__init__(f"skill matrix {source} is invalid ({len(problems)} problem(s)):\n  {joined}")


class OutOfTime(SkillRouterError):
    """Not enough of the invocation is left to wait or retry; the work stays for the next run."""
