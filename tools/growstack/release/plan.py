"""growstack plan: a series' whole test matrix, written as a TuxSuite plan.

Every prefix of the series, on top of the series it depends on, is built
for each arch and toolchain with the series' own fragments, as `check`
builds them here; the whole series then boots KUnit (kunit.py's default set
and ours) on each arch TuxSuite has a QEMU device for. The patches of each
prefix go to PLAN.patches/NN.mbox, next to the plan. An arch and toolchain
pair TuxSuite has no image for (clang cannot build parisc) is left out and
named; an arch with none of the toolchains is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import pipeline
from ..engines import tuxsuite
from ..errors import UsageError
from ..kernel import kunitconfig, targets
from ..series import series
from ..source.tree import BaseSpec
from . import check

DEFAULT_TOOLCHAINS = ("gcc-12", "clang-17")
# What a hint offers when an arch has none of the toolchains asked for.
_CANDIDATES = [f"gcc-{n}" for n in range(15, 7, -1)] + [f"clang-{n}" for n in range(20, 13, -1)]


@dataclass(frozen=True)
class Written:
    jobs: int
    builds: int
    skipped: list[tuple[str, str]]  # (arch, toolchain) pairs TuxSuite has no image for


def _newest(arch: str) -> list[str]:
    """The newest gcc and clang releases TuxSuite has an image of for `arch`."""
    found: dict[str, str] = {}
    for toolchain in _CANDIDATES:  # newest first within each family
        family = toolchain.split("-")[0]
        if family not in found and tuxsuite.image_exists(arch, toolchain):
            found[family] = toolchain
    return list(found.values())


def pairs(
    arches: list[str], toolchains: list[str]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(the arch and toolchain pairs TuxSuite can build, those it cannot)."""
    wanted = [(a, tc) for a in arches for tc in toolchains]
    usable = [p for p in wanted if tuxsuite.image_exists(*p)]
    for arch in arches:
        if not any(a == arch for a, _ in usable):
            has = _newest(arch)
            if not has:  # parisc64: tuxmake's parisc is 32-bit
                raise UsageError(
                    f"TuxSuite builds no {arch} kernel with any toolchain",
                    f"leave --arch {arch} out of the plan; "
                    f"build it here with `growstack check --arch {arch}`",
                )
            raise UsageError(
                f"TuxSuite has no image that builds {arch} with {' or '.join(toolchains)}",
                f"add a --toolchain it has for {arch}, such as {', '.join(has)}",
            )
    return usable, [p for p in wanted if p not in usable]


def base(ctx: pipeline.Context, git_repo: str | None, git_ref: str | None) -> tuxsuite.Base:
    """The base as a git tree and ref: the stable tree at the pinned version by default."""
    kernel = BaseSpec.load(ctx.project.base_file).kernel
    return tuxsuite.Base(git_repo or tuxsuite.STABLE_TREE, git_ref or f"v{kernel}")


def kconfig(ctx: pipeline.Context, tree: Path, arch: str, names: list[str]) -> list[str]:
    """The merged kunitconfig lines of `names` for `arch`, as kunit.py would merge them."""
    target = targets.resolve(arch, tree, ctx.project)
    paths = pipeline.fragments(ctx, tree, arch, names)
    return kunitconfig.render(kunitconfig.merge(paths, [], target.kconfig)).splitlines()


def write(
    ctx: pipeline.Context,
    tree: Path,
    path: Path,
    *,
    arches: list[str],
    toolchains: list[str],
    only: str | None = None,
    git_repo: str | None = None,
    git_ref: str | None = None,
) -> Written:
    """Write and check the plan."""
    usable, skipped = pairs(arches, toolchains)
    mailed = check.checked(ctx.project, only)
    if not mailed:
        raise UsageError(
            f"{only or 'the project'} has no patches to plan", "add patches to its series file"
        )
    applied = series.full_series(ctx.project, include_local=False, only=only)
    below = applied[: len(applied) - len(mailed)]
    mboxes = path.parent / f"{path.stem}.patches"
    mboxes.mkdir(parents=True, exist_ok=True)
    for stale in mboxes.glob("*.mbox"):
        stale.unlink()
    prefixes = []
    for number in range(1, len(mailed) + 1):
        mbox = mboxes / f"{number:02d}.mbox"
        mbox.write_bytes(b"".join(p.path.read_bytes() for p in below + mailed[:number]))
        prefixes.append(mbox)
    own = {a: kconfig(ctx, tree, a, check.default_fragments(ctx, a, only)) for a in arches}
    jobs = [
        tuxsuite.Job(
            f"{number:02d}/{len(mailed)} {patch.name}",
            [tuxsuite.Build(a, tc, own[a], mbox) for a, tc in usable],
        )
        for number, (patch, mbox) in enumerate(zip(mailed, prefixes, strict=True), 1)
    ]
    for arch in (a for a in arches if a in tuxsuite.DEVICES):
        lines = kconfig(ctx, tree, arch, pipeline.fragment_names(ctx, arch, None))
        builds = [
            tuxsuite.Build(a, tc, lines, prefixes[-1], base=tuxsuite.BOOT_CONFIG, modules=True)
            for a, tc in usable
            if a == arch
        ]
        jobs.append(tuxsuite.Job(f"KUnit on {arch}", builds, kunit=True))
    name = only or "all series"
    description = (
        f"growstack: every prefix of {name} on {', '.join(arches)} with "
        f"{', '.join(toolchains)}, and KUnit on "
        f"{', '.join(a for a in arches if a in tuxsuite.DEVICES) or 'no arch with a QEMU device'}"
    )
    start = base(ctx, git_repo, git_ref)
    tuxsuite.write(path, tuxsuite.document(f"growstack {name}", description, jobs, start))
    return Written(len(jobs), tuxsuite.validate(path), skipped)
