"""patches/: one folder per series, and the order the series apply in.

    patches/base.toml             the pinned base, shared
    patches/local/                test-environment patches, shared, never mailed
    patches/order                 optional: series names, the order of independent ones
    patches/NAME/series           the series NAME, quilt order
    patches/NAME/cover-letter     its letter, version, recipients, Depends-on
    patches/NAME/*.patch

A series may depend on others (`Depends-on:` in its cover letter's header);
it is applied after them. Series that do not depend on each other apply in
the order patches/order lists them, then by name, so the order never
depends on the file system. The order matters even between independent
series: where two touch the same file (MAINTAINERS), the second one's mails
carry the first one's lines as context, and export reproduces the files in
patches/ byte for byte only from a tree applied in the same order.

Before several series, patches/ held one series flat (patches/series,
patches/cover-letter). That layout is refused with the command that moves
it (`growstack migrate NAME`), never guessed about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import Exit, GrowstackError, SeriesError, UsageError
from ..project import Project
from . import cover

LOCAL = "local"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class Series:
    name: str
    directory: Path
    depends_on: tuple[str, ...] = ()

    @property
    def series_file(self) -> Path:
        return self.directory / "series"

    @property
    def cover_letter(self) -> Path:
        return self.directory / "cover-letter"


def entries(series_file: Path) -> list[tuple[int, str, list[str]]]:
    """(line number, file name, options) of each patch a quilt series file lists."""
    if not series_file.is_file():
        return []
    found = []
    for number, raw in enumerate(series_file.read_text().splitlines(), 1):
        words = raw.split("#", 1)[0].split()
        if words:
            found.append((number, words[0], words[1:]))
    return found


def old_layout(project: Project) -> bool:
    return (project.patches / "series").is_file()


def require_new_layout(project: Project) -> None:
    if old_layout(project):
        raise GrowstackError(
            f"{project.patches} holds one series in the old flat layout (patches/series)",
            "run `growstack migrate NAME` to move it into patches/NAME/, then commit",
            exit_code=Exit.OLD_LAYOUT,
        )


def _depends_on(directory: Path) -> tuple[str, ...]:
    letter = directory / "cover-letter"
    return tuple(cover.load(letter).depends_on) if letter.is_file() else ()


def discover(project: Project) -> list[Series]:
    """Every series in patches/, in the order they apply."""
    require_new_layout(project)
    found = {
        d.name: Series(d.name, d, _depends_on(d))
        for d in sorted(project.patches.iterdir())
        if d.is_dir() and d.name != LOCAL and (d / "series").is_file()
    }
    listed = [name for _, name, _ in entries(project.patches / "order")]
    return _ordered(found, listed)


def _ordered(found: dict[str, Series], listed: list[str]) -> list[Series]:
    for s in found.values():
        for dep in s.depends_on:
            if dep not in found:
                raise SeriesError(
                    f"{s.cover_letter}: Depends-on names {dep}, which is no series in "
                    f"{s.directory.parent} (known: {', '.join(found) or 'none'})",
                    "name a folder of patches/ that holds a series file, or drop it",
                )
    done: list[Series] = []
    waiting = dict(found)
    while waiting:
        ready = [s for s in waiting.values() if all(d not in waiting for d in s.depends_on)]
        if not ready:
            raise SeriesError(
                f"the series depend on each other in a cycle: {_cycle(waiting)}",
                "drop one of those Depends-on lines from their cover letters",
            )
        rank = {name: index for index, name in enumerate(listed)}
        first = min(ready, key=lambda s: (rank.get(s.name, len(rank)), s.name))
        done.append(first)
        del waiting[first.name]
    return done


def _cycle(waiting: dict[str, Series]) -> str:
    """One cycle among `waiting` (where every series waits for another), as a → b → a."""
    path = [next(iter(waiting))]
    while True:
        following = next(d for d in waiting[path[-1]].depends_on if d in waiting)
        if following in path:
            return " → ".join([*path[path.index(following) :], following])
        path.append(following)


def find(project: Project, name: str) -> Series:
    everything = discover(project)
    for s in everything:
        if s.name == name:
            return s
    raise UsageError(
        f"no series named {name!r} in {project.patches}",
        f"pick one of {', '.join(s.name for s in everything) or 'none (patches/ holds none)'}",
    )


def with_dependencies(project: Project, name: str | None) -> list[Series]:
    """The series `name` and all it depends on, in apply order; every series for None."""
    everything = discover(project)
    if name is None:
        return everything
    wanted = {find(project, name).name}
    for s in reversed(everything):  # dependencies come before what needs them
        if s.name in wanted:
            wanted.update(s.depends_on)
    return [s for s in everything if s.name in wanted]


def pick(project: Project, name: str | None, command: str) -> Series:
    """The series a command works on: `name`, or the only one there is."""
    if name is not None:
        return find(project, name)
    everything = discover(project)
    if len(everything) == 1:
        return everything[0]
    raise UsageError(
        f"patches/ holds {len(everything)} series "
        f"({', '.join(s.name for s in everything) or 'none'})",
        f"pass `growstack {command} --series NAME`",
    )


def migrate(project: Project, name: str) -> list[Path]:
    """Move the flat layout's series into patches/NAME/; the files moved there."""
    if not old_layout(project):
        raise UsageError(
            f"{project.patches} is not in the old flat layout (it has no series file)",
            "nothing to migrate",
        )
    if not _NAME.match(name) or name == LOCAL:
        raise UsageError(
            f"{name!r} cannot name a series folder",
            "use lower-case letters, digits, '.', '_' and '-', e.g. my-series (not local)",
        )
    target = project.patches / name
    if target.exists():
        raise UsageError(f"{target} already exists", "pick another name")
    flat = project.patches / "series"
    names = [name for _, name, _ in entries(flat)]
    moving = [flat, *(project.patches / n for n in names if (project.patches / n).is_file())]
    if (project.patches / "cover-letter").is_file():
        moving.append(project.patches / "cover-letter")
    target.mkdir()
    return [path.rename(target / path.name) for path in moving]
