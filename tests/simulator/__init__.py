"""The Genesys Cloud simulator: real endpoints and JSON shapes on 127.0.0.1, for the real SDK."""

from tests.simulator.server import GenesysSimulator, Request, SimError

__all__ = ["GenesysSimulator", "Request", "SimError"]
