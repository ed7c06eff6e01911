"""kunitconfig fragments: pick them and merge them the way kunit.py does.

kunit.py refuses two fragments that disagree on a symbol, lets --kconfig_add
override the fragments, and lets both override what the arch adds. growstack
merges identically, so the .config it makes with kconfiglib is the one kunit.py
accepts without configuring again.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigFailed, UsageError
from ..project import Project

KERNEL_DEFAULT = "kunit-default"  # the tree's tools/testing/kunit/configs/default.config
_ENTRY = re.compile(r"^CONFIG_(\w+)=(\S+|\".*\")$")
_NOT_SET = re.compile(r"^# CONFIG_(\w+) is not set$")
_ARCH_LINE = re.compile(r"^#\s*arch:\s*(.+)$", re.M)
_SERIES_LINE = re.compile(r"^#\s*series:\s*(.+)$", re.M)
# A fragment that makes a different kernel (PREEMPT_RT, say): only when named.
_VARIANT_LINE = re.compile(r"^#\s*variant\b", re.M)
_RERUN_LINE = re.compile(r"^#\s*rerun:\s*(.*)$", re.M)

Entries = dict[str, str]


def parse(text: str, origin: str) -> Entries:
    entries: Entries = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        match = _ENTRY.match(line) or _NOT_SET.match(line)
        if match:
            entries[match.group(1)] = match.group(2) if match.re is _ENTRY else "n"
        elif not line.startswith("#"):
            raise ConfigFailed(
                f"{origin}:{number}: cannot parse {line!r}",
                "write CONFIG_NAME=value or '# CONFIG_NAME is not set'",
            )
    return entries


def render(entries: Entries) -> str:
    return "".join(
        f"# CONFIG_{k} is not set\n" if v == "n" else f"CONFIG_{k}={v}\n"
        for k, v in entries.items()
    )


def fragment_path(name: str, tree: Path, project: Project) -> Path:
    if name == KERNEL_DEFAULT:
        return tree / "tools/testing/kunit/configs/default.config"
    path = project.kunit / f"{name}.kunitconfig"
    if not path.is_file():
        known = ", ".join([KERNEL_DEFAULT, *available(project)])
        raise UsageError(f"no kunitconfig fragment named {name!r}", f"pick from {known}")
    return path


def available(
    project: Project,
    arch: str | None = None,
    series: set[str] | None = None,
    variants: bool = True,
) -> list[str]:
    """Our fragments, restricted to `arch` by an optional '# arch: a b' line, and
    to fragments of `series` by an optional '# series: NAME' line (the series
    whose code the fragment tests: without that code its symbols do not exist).
    Without `variants`, not those marked '# variant', which run only when named."""
    names = []
    for path in sorted(project.kunit.glob("*.kunitconfig")):
        text = path.read_text()
        if not variants and _VARIANT_LINE.search(text):
            continue
        if _names(_ARCH_LINE, text, arch) and _names(_SERIES_LINE, text, series):
            names.append(path.stem)
    return names


def _names(line: re.Pattern[str], text: str, wanted: str | set[str] | None) -> bool:
    """Whether a fragment's optional `line` (a list of names) admits `wanted`."""
    match = line.search(text)
    if wanted is None or not match:
        return True
    listed = set(match.group(1).replace(",", " ").split())
    return bool(listed & ({wanted} if isinstance(wanted, str) else wanted))


@dataclass(frozen=True)
class Rerun:
    """A second boot of the same kernel, for suites that need other kernel arguments.

    A fragment line `# rerun: GLOB ARG...` asks for it: after the main run,
    the kernel boots again with ARG... on its command line and runs only the
    suites matching GLOB, whose results replace theirs from the main run.
    """

    glob: str
    kernel_args: tuple[str, ...]
    origin: Path

    def __str__(self) -> str:
        return f"{self.glob} with {' '.join(self.kernel_args)}"


def reruns(fragments: list[Path]) -> list[Rerun]:
    found = []
    for path in fragments:
        for match in _RERUN_LINE.finditer(path.read_text()):
            words = shlex.split(match.group(1))
            if len(words) < 2:
                raise ConfigFailed(
                    f"{path}: '# rerun:' needs a suite glob and kernel arguments",
                    "write '# rerun: SUITE_GLOB ARG...'",
                )
            found.append(Rerun(words[0], tuple(words[1:]), path))
    return found


def merge(fragments: list[Path], kconfig_add: list[str], arch_kconfig: str) -> Entries:
    merged: Entries = {}
    for path in fragments:
        for name, value in parse(path.read_text(), str(path)).items():
            if merged.get(name, value) != value:
                raise ConfigFailed(
                    f"CONFIG_{name} is {merged[name]} in an earlier fragment but {value} in {path}",
                    "make the fragments agree",
                )
            merged[name] = value
    merged.update(parse("\n".join(kconfig_add), "--kconfig_add"))
    result = parse(arch_kconfig, "the arch's kunit config")
    result.update(merged)
    return result
