"""`skill-router doctor`: is a deployed stack ready to route callers? Run it before enabling.

Each check is one line, `ok` or `FIX` with what to do and the README step. It uses the caller's
own AWS credentials and the stack's Genesys OAuth client, and changes nothing: the login does not
touch the function's token cache, each Genesys permission is probed with a harmless call (a read,
or a PATCH to a conversation id that cannot exist, which Genesys answers 404 when the permission is
there and 403 when it is not), and the matrix is only read. Exit 0 only when every check is ok.
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from skill_router import aws
from skill_router.cli import expressions
from skill_router.cli.errors import EXIT_INVALID, EXIT_OK, EXIT_USAGE, UserError, aws_problem, function_logs_muted
from skill_router.errors import ConfigurationError, MatrixError, SkillRouterError
from skill_router.settings import Settings, changed_from_default, load_settings

# The endpoints the function calls, the permission each needs (README Deploy step 1, one row
# each, in its order: a test keeps them equal), and when. None: the SDK's page for the call says
# "Requires no permissions"; a 403 there is the role's divisions, or the org's own restrictions.
AGENTLESS = "POST /api/v2/conversations/emails/agentless"
TOPICS = "GET /api/v2/notifications/availabletopics"
# The staffing guard's read (RoutingApi.md get_routing_queue_members: "Requires ANY permissions:
# routing:queue:view, routing:queue:edit, routing:queue:readonly, routing:queueMember:manage").
# Without it the guard stays off, so a 403 here is a warning, not a FIX.
MEMBERS = "GET /api/v2/routing/queues/{id}/members"
# Genesys' check of a skill expression (issue 28), asked about each expression the matrix names
# (cli/expressions.py): needed only when the matrix has one, and a 403 is a warning (the function
# does not call it; expressions are then checked by skill-router's own parser only).
VALIDATE = expressions.ENDPOINT
PERMISSIONS: tuple[tuple[str, str | None, str], ...] = (
    ("POST /api/v2/analytics/conversations/details/query", "analytics:conversationDetail:view", "always"),
    ("GET /api/v2/conversations/{id}", "conversation:communication:view", "always"),
    ("PATCH /api/v2/routing/conversations/{id}", "routing:conversation:edit", "always"),
    ("GET /api/v2/routing/skills", "routing:skill:view", "always"),
    ("GET /api/v2/users/{id}", None, "notify by user id"),
    ("GET /api/v2/routing/languages", None, "a matrix language"),
    (AGENTLESS, "conversation:agentlessEmail:send", "NotifyChannel=genesys"),
    (TOPICS, None, "event mode"),
    (MEMBERS, "routing:queue:view", "STAFFING_GUARD=on"),
    (VALIDATE, expressions.PERMISSION, "a matrix skill expression"),
)
WARN_ONLY = {
    MEMBERS: "the staffing guard stays off until it is added",
    VALIDATE: "Genesys cannot check the matrix's skill expressions before they are used until it is added",
}
EVENT_TOPICS = (
    "v2.detail.events.conversation.{id}.acd.start",
    "v2.detail.events.conversation.{id}.attributes",
)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    warning: bool = False  # ok for readiness, but something works less well until fixed

    def line(self) -> str:
        mark = "warn" if self.warning else "ok  " if self.ok else "FIX "
        return f"{mark} {self.name}: {self.detail}"


class Doctor:
    def __init__(self, settings: Settings, event_source: str | None, schedule: str | None) -> None:
        self.settings = settings
        self.event_source = event_source
        self.schedule = schedule
        self.checks: list[Check] = []

    def add(self, name: str, ok: bool, detail: str, warning: bool = False) -> bool:
        check = Check(name, ok, detail, warning)
        self.checks.append(check)
        print(check.line(), flush=True)
        return ok

    def run(self) -> bool:
        from skill_router.genesys.client import GenesysClient
        from skill_router.genesys.token import TokenProvider
        from skill_router.secrets import SecretsAdapter

        s = self.settings
        secrets = SecretsAdapter(s.credentials_secret, s.token_secret)
        try:
            secrets.load_credentials()
        except ConfigurationError as exc:
            self.add("credentials secret", False, f"{exc}")
            return self.finish(genesys=None)
        self.add("credentials secret", True, f"{s.credentials_secret} holds a client id and secret")
        # A login of its own: the function's token cache is neither read nor written.
        tokens = TokenProvider(
            s.login_url,
            load_credentials=secrets.load_credentials,
            read_cache=lambda: None,
            write_cache=lambda token: None,
            timeout=(s.http_connect_timeout, s.http_read_timeout),
        )
        try:
            tokens.token()
        except SkillRouterError as exc:
            self.add("Genesys login", False, f"{exc} (README Deploy step 3)")
            return self.finish(genesys=None)
        self.add("Genesys login", True, f"client credentials accepted by {s.login_url}")
        genesys = GenesysClient(
            s.api_url, tokens, connect_timeout=s.http_connect_timeout, read_timeout=s.http_read_timeout, max_attempts=2
        )
        return self.finish(genesys)

    def finish(self, genesys: Any) -> bool:
        matrix = None
        if genesys is not None:
            self.permissions(genesys)
            matrix = self.matrix(genesys)
            self.expressions(genesys, matrix)
        else:
            self.add("Genesys permissions", False, "not checked: fix the login first")
            self.add("skill matrix", False, "not checked: its skill names are resolved through Genesys")
        self.notifications(genesys, matrix)
        if self.settings.event_mode:
            self.event_mode(genesys)
        ready = all(c.ok for c in self.checks)
        warnings = [c.name for c in self.checks if c.warning]
        if self.schedule == "DISABLED":
            print(
                "note: ScheduleState is DISABLED; enable it with sam deploy --parameter-overrides ScheduleState=ENABLED"
            )
        if ready and warnings:
            print(
                f"ready: every check is ok, with {len(warnings)} warning(s): "
                "the lines marked warn say what works less well until fixed"
            )
        else:
            print("ready: every check is ok" if ready else "not ready: fix the lines marked FIX, then run doctor again")
        return ready

    def permissions(self, genesys: Any) -> None:
        from skill_router.genesys.errors import GenesysError

        nobody = str(uuid.uuid4())  # a conversation and a user that cannot exist: 404 when permitted
        now = datetime.now(UTC).replace(microsecond=0)
        probe_name = ["skill-router doctor probe"]
        probes: dict[str, Callable[[], Any]] = {
            PERMISSIONS[0][0]: lambda: genesys.query_waiting(now - timedelta(minutes=1), now, 1),
            PERMISSIONS[1][0]: lambda: genesys.get_conversation(nobody),
            PERMISSIONS[2][0]: lambda: genesys.patch_routing(nobody, [], None),
            PERMISSIONS[3][0]: lambda: genesys.skill_ids_by_name(probe_name),
            PERMISSIONS[4][0]: lambda: genesys.user_email(nobody),
            PERMISSIONS[5][0]: lambda: genesys.language_ids_by_name(probe_name),
            # No recipient: Genesys refuses it (400) when the permission is there; nothing is sent.
            AGENTLESS: lambda: genesys.probe_agentless_email(self.settings.notify_from),
            TOPICS: genesys.available_topics,
            # A queue that cannot exist: 404 (or an empty list) when permitted, 403 when not.
            MEMBERS: lambda: genesys.queue_members(nobody),
        }
        needed = {
            AGENTLESS: self.settings.notify_channel == "genesys",
            TOPICS: self.settings.event_mode,
            MEMBERS: self.settings.staffing_guard == "on",
        }
        for endpoint, permission, when in PERMISSIONS:
            name = f"permission {permission}" if permission else f"permission none ({endpoint})"
            if endpoint == VALIDATE:  # probed with the matrix's own expressions, once it is read
                continue
            if not needed.get(endpoint, True):
                self.add(name, True, f"{endpoint}: not used by this deployment (needed only for {when})")
                continue
            try:
                probes[endpoint]()
            except GenesysError as exc:
                if endpoint == AGENTLESS and exc.status == 400:
                    self.add(name, True, f"{endpoint} (a request without a recipient, refused as expected)")
                elif endpoint == MEMBERS and exc.status == 404:
                    self.add(name, True, f"{endpoint} (a queue that cannot exist, not found as expected)")
                elif exc.status == 403 and endpoint in WARN_ONLY:
                    self.add(
                        name,
                        True,
                        f"{endpoint} answered 403: {WARN_ONLY[endpoint]}; add {permission} to the OAuth client's "
                        "role (README Deploy step 1)",
                        warning=True,
                    )
                elif exc.status == 403 and permission:
                    optional = "" if when == "always" else f" (needed only for {when})"
                    self.add(
                        name,
                        False,
                        f"{endpoint} answered 403: add {permission} to the OAuth client's role{optional} "
                        "(README Deploy step 1)",
                    )
                elif exc.status == 403:
                    self.add(
                        name,
                        False,
                        f"{endpoint} answered 403, although it needs no permission: give the OAuth client's "
                        "role the divisions it acts on (README Deploy step 1)",
                    )
                else:
                    self.add(name, False, f"{endpoint} failed: {exc}")
                continue
            self.add(name, True, endpoint)

    def matrix(self, genesys: Any) -> Any:
        from skill_router.runtime import matrix_source_for

        source = matrix_source_for(self.settings, genesys)  # exactly as the function loads it
        try:
            matrix = source.current()
        except MatrixError as exc:
            self.add("skill matrix", False, "; ".join(exc.problems) + " (README Deploy step 5)")
            return None
        except SkillRouterError as exc:
            self.add("skill matrix", False, f"{exc}")
            return None
        if matrix.broken_rules:  # the function routes the other rules; these fail until fixed
            problems = [p for r in matrix.broken_rules for p in r.broken]
            self.add("skill matrix", False, "; ".join(problems) + " (this rule fails; the others route)")
            return matrix
        self.add(
            "skill matrix",
            True,
            f"{source.location} version {matrix.version}: {len(matrix.rules)} rules valid, names resolved",
        )
        return matrix

    def expressions(self, genesys: Any, matrix: Any) -> None:
        """The matrix's skill expressions, asked of Genesys' validate endpoint: the permission's
        line (not needed without an expression; a warning on a 403) and, when asked, their line."""
        s = self.settings
        name, location = f"permission {expressions.PERMISSION}", f"s3://{s.matrix_bucket}/{s.matrix_key}"
        # A matrix that could not be loaded has had its line; it asks for no expression here.
        found = expressions.expressions_of(matrix) if matrix is not None else []
        if not found:
            self.add(name, True, f"{VALIDATE}: not used by this deployment (needed only for a matrix skill expression)")
            return
        local = expressions.local_problems(found, location)
        if local:
            self.add("skill expressions", False, "; ".join(local) + " (not sent to Genesys)")
            return
        checked = expressions.check_online(found, location, genesys)
        if checked.denied:
            self.add(
                name,
                True,
                f"{VALIDATE} answered 403: {WARN_ONLY[VALIDATE]}; add {expressions.PERMISSION} to the OAuth "
                "client's role (README Deploy step 1)",
                warning=True,
            )
            return
        self.add(name, True, VALIDATE)
        self.add(
            "skill expressions",
            not checked.problems,
            "; ".join(checked.problems) if checked.problems else f"Genesys accepts all {checked.accepted}",
        )

    def notifications(self, genesys: Any, matrix: Any) -> None:
        s = self.settings
        if s.notify_channel == "none":
            emails = matrix is not None and any(r.high_priority and (r.notify or r.notify_users) for r in matrix.rules)
            self.add(
                "notifications",
                True,
                "NotifyChannel=none: no supervisor emails"
                + (" (the matrix names recipients: set NotifyChannel and NotifyFrom to send)" if emails else ""),
            )
        elif s.notify_channel == "ses":
            self.ses_identity()
        else:
            self.add(
                "notifications",
                True,
                f"NotifyChannel=genesys from {s.notify_from}: not sent by doctor; the OAuth role needs "
                "conversation:agentlessEmail:send and the sender's domain must be an email domain of the org",
            )

    def ses_identity(self) -> None:
        sender = self.settings.notify_from
        domain = sender.rpartition("@")[2]
        try:
            answer = aws.client("ses").get_identity_verification_attributes(Identities=[sender, domain])
        except Exception as exc:
            self.add("SES sender", False, aws_problem(exc, "reading SES identities"))
            return
        states = {k: v.get("VerificationStatus") for k, v in answer.get("VerificationAttributes", {}).items()}
        if "Success" in (states.get(sender), states.get(domain)):
            self.add("SES sender", True, f"{sender} is verified")
        else:
            self.add(
                "SES sender",
                False,
                f"{sender} (or {domain}) is not verified in SES in this region; verify it (README Deploy step 4)",
            )

    def event_mode(self, genesys: Any) -> None:
        source = self.event_source
        if genesys is not None:
            try:
                offered = genesys.available_topics()
            except SkillRouterError as exc:
                self.add("event topics", False, f"GET /api/v2/notifications/availabletopics failed: {exc}")
            else:
                missing = [
                    t for t in EVENT_TOPICS if not {x.lower() for x in offered.get(t, ())} & {"eventbridge", "all"}
                ]
                self.add(
                    "event topics",
                    not missing,
                    f"{', '.join(missing)} not offered for EventBridge in this org (README Event mode step 1)"
                    if missing
                    else "both topics are offered for EventBridge",
                )
        if not source:
            self.add("event source", False, "event mode is on but the event source name is unknown; give --stack")
            return
        try:
            aws.client("events").describe_event_bus(Name=source)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                self.add(
                    "event source",
                    False,
                    f"no event bus {source}: associate the partner event source with an event bus "
                    "(README Event mode step 2)",
                )
            else:
                self.add("event source", False, aws_problem(exc, f"reading event bus {source}"))
            return
        self.add("event source", True, f"{source} is associated with its event bus")


def stack_environment(stack: str) -> tuple[dict[str, str], dict[str, str]]:
    """The poll function's environment and the stack's parameters, read from CloudFormation and Lambda."""
    described = aws.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}
    if "PollFunctionName" not in outputs:
        raise ConfigurationError(f"stack {stack!r} has no PollFunctionName output: is it a skill-router stack?")
    configuration = aws.client("lambda").get_function_configuration(FunctionName=outputs["PollFunctionName"])
    return dict(configuration.get("Environment", {}).get("Variables", {})), parameters


def run(args: argparse.Namespace) -> int:
    with function_logs_muted():  # the function's own log lines would bury the checklist
        return _run(args)


def chosen_environment(args: argparse.Namespace, option: str = "") -> tuple[Mapping[str, str], Mapping[str, str]]:
    """The function's environment that --stack NAME (a deployed stack) or --env (this one) names,
    --region first when given, and the stack's parameters ({} with --env). `option` names the
    flag that needs them."""
    if bool(args.stack) == bool(args.env):
        prefix = f"{option}: " if option else ""
        raise UserError(
            f"{prefix}give --stack NAME (a deployed stack) or --env (this environment's settings)", EXIT_USAGE
        )
    if getattr(args, "region", None):
        os.environ["AWS_DEFAULT_REGION"] = args.region
    if not args.stack:
        return os.environ, {}
    try:
        return stack_environment(args.stack)
    except SkillRouterError:
        raise
    except Exception as exc:
        raise UserError(aws_problem(exc, f"reading stack {args.stack!r}")) from None


def _run(args: argparse.Namespace) -> int:
    env, parameters = chosen_environment(args)
    event_source, schedule = parameters.get("GenesysEventSourceName") or None, parameters.get("ScheduleState")
    try:
        settings = load_settings(env)
    except ConfigurationError as exc:
        print(Check("settings", False, str(exc)).line())
        return EXIT_INVALID
    # With --env, the event function's own variable (GENESYS_EVENT_SOURCE) names the source.
    event_source = event_source or settings.event_source or None
    print(Check("settings", True, f"region {settings.genesys_environment}, table {settings.state_table}").line())
    changed = changed_from_default(env)
    if changed:  # from the settings table: what this deployment sets differently (README, Configuration)
        print(f"     not the defaults: {', '.join(changed)}")
    try:
        ready = Doctor(settings, event_source, schedule).run()
    except SkillRouterError:
        raise
    except Exception as exc:
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, BotoCoreError | ClientError):
            raise UserError(aws_problem(exc, "doctor")) from None
        raise
    return EXIT_OK if ready else EXIT_INVALID
