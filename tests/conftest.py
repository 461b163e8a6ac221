"""Test-wide settings."""

from hypothesis import settings

# Property tests check what holds, not how fast: a loaded CI machine must not
# turn a slow example into a failure.
settings.register_profile("default", deadline=None)
settings.load_profile("default")
