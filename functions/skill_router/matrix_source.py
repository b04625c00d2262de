"""The skill matrix in S3, fetched with its ETag so an unchanged file costs no download or parse.

A broken new version never takes routing down: the last good matrix stays in force, the error
is logged with file, line and field, and the MatrixRejected metric is emitted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from skill_router import aws
from skill_router.errors import MatrixError, NotConfigured, OutOfTime
from skill_router.genesys.errors import GenesysError
from skill_router.matrix import MAX_MATRIX_BYTES, Matrix, parse_matrix
from skill_router.observability import logger, metrics


class MatrixSource:
    def __init__(
        self,
        bucket: str,
        key: str,
        client: Any = None,
        resolver: Callable[[Matrix], Matrix] | None = None,
        limits: Mapping[str, Any] | None = None,
    ) -> None:
        self.bucket = bucket
        self.key = key
        # parse_matrix's deployment-specific bounds: max_wait_seconds, notify_channel.
        self.limits = dict(limits or {})
        # Skill names and user ids -> ids and emails, through Genesys: once per matrix version.
        self.resolver = resolver
        self.client = client or aws.client("s3")
        self.matrix: Matrix | None = None
        self._etag: str | None = None
        self._rejected_etag: str | None = None
        self.calls = 0

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def current(self) -> Matrix:
        """The matrix in force: refreshed from S3 when it changed; last good one if the new is broken."""
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key}
        if self._etag:
            request["IfNoneMatch"] = self._etag
        try:
            self.calls += 1
            response = self.client.get_object(**request)
        except ClientError as exc:
            return self._unavailable(exc)
        etag = str(response.get("ETag", "")).strip('"')
        version = response.get("VersionId")
        if etag and etag == self._rejected_etag and self.matrix is not None:
            return self.matrix
        body = response["Body"].read(MAX_MATRIX_BYTES + 1)
        try:
            matrix = parse_matrix(
                body, self.location, version if version and version != "null" else etag, **self.limits
            )
            if self.resolver is not None:
                matrix = self.resolver(matrix)
            if matrix.broken_rules and self.matrix is not None:
                # A new version naming what Genesys does not have: the author's to fix, and the
                # last good matrix is at hand. Without one (a new container), only those rules fail.
                raise MatrixError(self.location, [p for r in matrix.broken_rules for p in r.broken])
        except (GenesysError, OutOfTime) as exc:
            # Genesys could not answer the look-ups: not the file's fault, so try again next poll.
            if self.matrix is None:
                raise
            logger.error(
                "could not resolve the new matrix's skill names; the last good matrix stays in force",
                extra={"error": str(exc), "kept_version": self.matrix.version},
            )
            return self.matrix
        except MatrixError as exc:
            self._rejected_etag = etag
            metrics.add_metric(name="MatrixRejected", unit="Count", value=1)
            if self.matrix is None:
                raise
            logger.error(
                "new skill matrix rejected; the last good matrix stays in force",
                extra={"problems": exc.problems, "kept_version": self.matrix.version},
            )
            return self.matrix
        for warning in matrix.warnings:
            logger.warning(warning)
        for rule in matrix.broken_rules:
            logger.error(
                f"rule '{rule.id}' fails: its names do not resolve in Genesys; the other rules route",
                extra={"rule_id": rule.id, "problems": list(rule.broken), "version": matrix.version},
            )
        if self.matrix is not None:
            metrics.add_metric(name="MatrixReloaded", unit="Count", value=1)
            logger.info("skill matrix reloaded", extra={"version": matrix.version, "rules": len(matrix.rules)})
        self.matrix, self._etag, self._rejected_etag = matrix, etag, None
        return matrix

    def _unavailable(self, exc: ClientError) -> Matrix:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if (code in ("304", "NotModified") or status == 304) and self.matrix is not None:
            return self.matrix
        if code in ("NoSuchKey", "404") and self.matrix is None:
            # Never uploaded (or removed before any container loaded it): the set-up is not finished.
            raise NotConfigured(
                f"no skill matrix at {self.location} yet; upload one with "
                f"`skill-router matrix upload skill_matrix.yaml --bucket {self.bucket}` (README Deploy step 5)"
            )
        if code in ("NoSuchKey", "404", "NoSuchBucket"):
            problem = (
                f"{self.location}: not found ({code}); upload the matrix with "
                f"`aws s3 cp skill_matrix.yaml {self.location}`"
            )
        elif code in ("AccessDenied", "403"):
            problem = (
                f"{self.location}: access denied; check SKILL_MATRIX_BUCKET/SKILL_MATRIX_KEY and the function's role"
            )
        else:
            problem = f"{self.location}: cannot be read ({code or exc})"
        if self.matrix is not None:
            metrics.add_metric(name="MatrixUnavailable", unit="Count", value=1)
            logger.error(problem + "; the last good matrix stays in force", extra={"kept_version": self.matrix.version})
            return self.matrix
        raise MatrixError(self.location, [problem]) from None
