"""agentcal: a self-hosted scheduling backend for AI agents."""

__version__ = "0.1.0"
