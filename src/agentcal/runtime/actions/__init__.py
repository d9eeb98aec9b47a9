"""The provider actions behind the tools; importing this package registers them."""

from agentcal.runtime.actions import calcom as calcom
from agentcal.runtime.actions import google as google

__all__ = ["calcom", "google"]
