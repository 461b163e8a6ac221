"""`${VAR}` and `${VAR:-default}` in config strings.

Interpolation runs over the whole parsed TOML tree before validation, so every
later error message sees the final value. Values taken from variables whose
names say they hold secrets (`*_TOKEN`, `*_KEY`, ...) are collected, so the
monitor can redact them wherever they might show up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from monitor.core.config_schema import Issues, check_paths, join
from monitor.core.redact import is_secret_name

# $$ escapes a literal dollar sign.
_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{([^}]*)\}?")


def interpolate(tree: Any, env: Mapping[str, str], issues: Issues,
                secrets: set[str], path: str = "") -> Any:
    """Return a copy of `tree` with every string interpolated from `env`."""
    if isinstance(tree, dict):
        return {k: interpolate(v, env, issues, secrets, join(path, k)) for k, v in tree.items()}
    if isinstance(tree, list):
        paths = check_paths(tree) if path == "checks" else [join(path, i) for i in range(len(tree))]
        return [interpolate(v, env, issues, secrets, at) for v, at in zip(tree, paths, strict=True)]
    if isinstance(tree, str) and "$" in tree:
        return _interpolate_string(tree, env, issues, secrets, path)
    return tree


def _interpolate_string(text: str, env: Mapping[str, str], issues: Issues,
                        secrets: set[str], path: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name is None:
            issues.add(path, f"malformed reference {match.group(0)!r}: write ${{NAME}} or "
                             f"${{NAME:-default}} (names are letters, digits and _), or $$ for a literal $")
            return ""
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                issues.add(path, f"environment variable {name} is not set; set it, or give a "
                                 f"default with ${{{name}:-value}}")
                return ""
            value = default
        if is_secret_name(name) and value:
            secrets.add(value)
        return value

    return _REFERENCE.sub(replace, text)
