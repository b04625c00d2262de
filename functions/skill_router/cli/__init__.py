"""`skill-router`: the command line (commands.py), one module per command (matrix, audit,
doctor), and what they share (errors.py: exit codes, UserError, aws_problem)."""

from skill_router.cli.commands import main

__all__ = ["main"]
