"""What the figures were measured on: cores, CPU model, Python, load."""

from __future__ import annotations

import os
import platform
import subprocess


def cpu_model(cpuinfo: str) -> str:
    """The first `model name` of /proc/cpuinfo text, or "unknown"."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware") and value.strip():
            return value.strip()
    return "unknown"


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def describe() -> dict[str, str]:
    load = _read("/proc/loadavg").split()[:3]
    return {
        "cores": str(os.cpu_count()),
        "cpu": cpu_model(_read("/proc/cpuinfo")),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load average at start": " ".join(load) or "unknown",
        "nginx": _version(["nginx", "-v"]),
        "blackbox_exporter": _version(["prometheus-blackbox-exporter", "--version"]),
    }


def summary(info: dict[str, str]) -> str:
    return "\n".join(f"{key}: {value}" for key, value in info.items())
