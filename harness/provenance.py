"""Where a result came from: the harness version and code revision it was produced with (recorded in
run_info.json, bundles and the leaderboard site)."""

from __future__ import annotations

from pathlib import Path


def git_revision() -> str | None:
    """The commit of the checkout this package runs from, None outside a git checkout."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def harness_version() -> str:
    import harness

    return harness.__version__
