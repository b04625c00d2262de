"""Shared test set-up: a safe AWS environment and the SDK imported the way the product imports it."""

import os

# Never reach a real AWS account from a test, whatever the developer's shell has.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "SkillRouter",
        "POWERTOOLS_SERVICE_NAME": "skill-router",
    }
)
os.environ.pop("AWS_PROFILE", None)

# Before any test imports PureCloudPlatformClientV2 itself: this import turns the SDK's
# home-directory file watcher off, as in production.
import skill_router.genesys.sdk  # noqa: F401
