"""skill-router: dynamic skill assignment for Genesys Cloud on AWS Lambda."""

__version__ = "0.3.0.dev0"
