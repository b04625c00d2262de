"""The skill matrix, one module per job:

    model      rules, escalation steps, first match on a caller's attributes
    load       parse the YAML and validate every rule and step (file:line rule N 'field')
    resolve    skill, language and user names -> ids and emails, through Genesys
    lint       what loads but cannot do what its author meant (warnings)
    index      which rule a value reaches, without trying every rule (matrix diff)

The matrix in S3 (its ETag, the last good version) is matrix_source.py.
"""

from skill_router.durations import format_duration, parse_duration
from skill_router.matrix.load import MAX_MATRIX_BYTES, parse_matrix
from skill_router.matrix.model import (
    DEFAULT_MAX_WAIT_SECONDS,
    NOTIFY_RECIPIENT_LIMITS,
    PRIORITY_BOUND,
    Matrix,
    Rule,
    Step,
    fold,
)
from skill_router.matrix.resolve import resolve_matrix

__all__ = [
    "DEFAULT_MAX_WAIT_SECONDS",
    "MAX_MATRIX_BYTES",
    "NOTIFY_RECIPIENT_LIMITS",
    "PRIORITY_BOUND",
    "Matrix",
    "Rule",
    "Step",
    "fold",
    "format_duration",
    "parse_duration",
    "parse_matrix",
    "resolve_matrix",
]
