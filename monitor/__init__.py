"""synthetic-monitor: synthetic checks that page with the failing server's own words."""

__version__ = "0.1.0"
