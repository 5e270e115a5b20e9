"""Build hook: compile the optional C accelerator ``complaint_triage._speedups``.

The package works without it (the featuriser falls back to numpy and computes the same
matrix), so a failed compile is reported and the build goes on.  Set
``COMPLAINT_TRIAGE_NO_SPEEDUPS=1`` to skip it.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("src/complaint_triage/_speedups.c")


def compile_speedups(root: Path) -> Path | None:
    """Compile the extension next to its source; return its path, or None when it cannot be built."""
    src = root / SOURCE
    out = src.with_name("_speedups" + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    tmp = out.with_suffix(out.suffix + ".tmp")
    cmd = [*cc, "-O3", "-fPIC", "-shared", "-Wall", "-I", sysconfig.get_paths()["include"],
           str(src), "-o", str(tmp), "-lm"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as e:
        print(f"complaint-triage: C accelerator not built ({e}); the numpy path is used", file=sys.stderr)  # noqa: T201
        return None
    if done.returncode != 0:
        print("complaint-triage: C accelerator not built; the numpy path is used\n" + done.stderr, file=sys.stderr)  # noqa: T201
        tmp.unlink(missing_ok=True)
        return None
    os.replace(tmp, out)
    return out


class SpeedupsHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if os.environ.get("COMPLAINT_TRIAGE_NO_SPEEDUPS"):
            return
        built = compile_speedups(Path(self.root))
        if built is None:
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if version != "editable":  # an editable install imports it from src/ directly
            build_data["force_include"][str(built)] = f"complaint_triage/{built.name}"
