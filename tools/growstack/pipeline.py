"""The stages strung together: what each CLI command does, usable from Python.

tree → series → config → kunit → ktap → report. `main_job` runs them all
for the default targets on the pinned base.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import git

from .engines import kcidb, tuxmake
from .errors import Exit, SeriesError, UsageError
from .kernel import boot, build, config, kunit, kunitconfig, selftests, targets
from .progress import Status
from .project import Project
from .results import ktap, report
from .series import series
from .source import tree

DEFAULT_TARGETS = ("um",)
DEFAULT_TIMEOUT = 300
# Who builds the kernel: None leaves it to kunit.py (make, growstack's own for
# the targets kunit.py cannot build); the others are build.Engine objects.
ENGINES: dict[str, build.Engine | None] = {"make": None, "tuxmake": tuxmake.TUXMAKE}
_CURRENT_TREE = "current-tree"


@dataclass
class Context:
    project: Project
    workspace: Path
    status: Status = field(default_factory=Status)
    out: TextIO = field(default_factory=lambda: sys.stdout)


def make_tree(ctx: Context, source: tree.Source, dest: Path | None = None) -> Path:
    spec = tree.BaseSpec.load(ctx.project.base_file)
    path, info = tree.get_tree(spec, source, ctx.workspace, dest, ctx.status)
    (ctx.workspace / _CURRENT_TREE).write_text(str(path))
    ctx.status.log(f"tree {path} (Linux {info.kernel}, {info.source})")
    return path


def current_tree(ctx: Context, explicit: Path | None) -> Path:
    if explicit:
        return explicit.resolve()
    record = ctx.workspace / _CURRENT_TREE
    if record.is_file() and Path(record.read_text()).is_dir():
        return Path(record.read_text())
    raise UsageError("no work tree yet", "make one with `growstack tree`, or pass --tree")


def release_tree(ctx: Context, explicit: Path | None = None, only: str | None = None) -> Path:
    """The tree `check` and `send` work in: the pinned base with the mailed series
    (`only`: that series on what it depends on) applied and nothing else.
    growstack owns it and moves its branches."""
    if explicit:
        path = explicit.resolve()
    else:
        spec = tree.BaseSpec.load(ctx.project.base_file)
        path, _ = tree.get_tree(
            spec,
            tree.Source(),
            ctx.workspace,
            ctx.workspace / "trees" / f"release-{spec.kernel}",
            ctx.status,
        )
        repo = tree.open_repo(path)
        if (Path(repo.git_dir) / "rebase-apply").exists():
            repo.git.am("--abort")  # an interrupted check or send of ours
    repo = tree.open_repo(path)
    series.ensure_clean(repo, "growstack")
    if repo.head.is_detached or repo.active_branch.name != tree.WORK_BRANCH:
        repo.git.checkout("--quiet", tree.WORK_BRANCH)
    mailed = series.full_series(ctx.project, include_local=False, only=only)
    series.apply(path, mailed, fresh=True)
    ctx.status.log(f"release tree {path}: the {len(mailed)} mailed patch(es) applied on the base")
    return path


def apply_series(ctx: Context, path: Path, *, include_local: bool = True) -> series.ApplyResult:
    result = series.apply(path, series.full_series(ctx.project, include_local=include_local))
    if result.replaced:
        ctx.status.log(
            "the tree carried an older version of the series, applied by growstack: replaced it"
        )
    if result.applied:
        ctx.status.log(f"applied {len(result.applied)} patch(es): {', '.join(result.applied)}")
    if result.present:
        ctx.status.log(f"{len(result.present)} patch(es) already applied")
    return result


def build_dir(ctx: Context, path: Path, arch: str, explicit: Path | None = None) -> Path:
    return (explicit or ctx.workspace / "build" / path.name / arch).resolve()


def fragment_names(ctx: Context, arch: str, names: list[str] | None) -> list[str]:
    """`names`, or kunit.py's default plus every one of ours for `arch` but the variants."""
    return names or [
        kunitconfig.KERNEL_DEFAULT,
        *kunitconfig.available(ctx.project, arch, variants=False),
    ]


def fragments(ctx: Context, path: Path, arch: str, names: list[str] | None) -> list[Path]:
    return [
        kunitconfig.fragment_path(name, path, ctx.project)
        for name in fragment_names(ctx, arch, names)
    ]


def configure(
    ctx: Context,
    path: Path,
    arch: str,
    names: list[str] | None,
    explicit_build_dir: Path | None,
    base: str,
) -> config.ConfigResult:
    target = targets.resolve(arch, path, ctx.project)
    entries = kunitconfig.merge(fragments(ctx, path, arch, names), [], target.kconfig)
    out = build_dir(ctx, path, arch, explicit_build_dir)
    out.mkdir(parents=True, exist_ok=True)
    return config.configure(
        path,
        out,
        target.arch,
        kunitconfig.render(entries),
        cross_compile=target.cross_compile,
        base=base,
    )


def test(
    ctx: Context,
    path: Path,
    arch: str,
    *,
    names: list[str] | None = None,
    explicit_build_dir: Path | None = None,
    timeout: int = DEFAULT_TIMEOUT,
    passthrough: list[str] | None = None,
    json_path: Path | None = None,
    junit_path: Path | None = None,
    kcidb_path: Path | None = None,
    engine: str = "make",
) -> Exit:
    targets.require_bootable(arch)
    target = targets.resolve(arch, path, ctx.project)
    out = build_dir(ctx, path, arch, explicit_build_dir)
    request = kunit.Request(
        tree=path,
        build_dir=out,
        target=target,
        fragments=fragments(ctx, path, arch, names),
        timeout=timeout,
        passthrough=kunit.absolute_paths(list(passthrough or [])),
        engine=ENGINES[engine],
    )
    if target.runs_init:
        kunit.check_tools(request, ctx.status)
        out.mkdir(parents=True, exist_ok=True)
        request.initrd = selftests.build_initramfs(
            path, out, target.cross_compile, target.libc_package
        )
    outcome = kunit.run(request, ctx.status)
    metadata = {
        "arch": target.arch,
        "tree": str(path),
        "command": outcome.command,
        "log": str(outcome.log),
        "seconds": {k: round(v, 1) for k, v in outcome.seconds.items()},
        "fragments": fragment_names(ctx, arch, names),
        "compiler": _compiler(out),
        "engine": engine,
        **evidence_metadata(path, ctx.project, arch, names, timeout, passthrough, engine),
    }
    # The copy is kept for `growstack send`, which quotes the last results as test evidence.
    return _report(ctx, outcome.run, metadata, target.arch, json_path, junit_path, kcidb_path)


def boot_kernel(
    ctx: Context,
    path: Path,
    arch: str = "um",
    *,
    threads: int = 2000,
    forks: int = 200,
    crash: str | None = None,
    stress: str | None = None,
    duration: int = 60,
    bench: bool = False,
    deep: int = 0,
    settle: int = 0,
    run_selftests: bool = False,
    kernel_args: list[str] | None = None,
    mem: str = "1G",
    timeout: int = 300,
    explicit_build_dir: Path | None = None,
    json_path: Path | None = None,
    junit_path: Path | None = None,
    kcidb_path: Path | None = None,
    build: bool = True,
) -> tuple[Exit, boot.Outcome]:
    """Boot UML or x86_64 (QEMU) to the workload, the tree's selftests, a
    provoked `crash` or a `stress` load; report it. The workload's threads
    go `deep` bytes deep into their kernel stacks, then sleep `settle` seconds."""
    boot.machine(arch)  # an arch it cannot boot is refused before anything is built
    if deep < 0 or settle < 0:
        raise UsageError("--deep and --settle cannot be negative", "pass 0 or more")
    # Each set of fragments (the stress checkers, modules) gets a build directory of its own.
    configs = boot.kernel_configs(
        ctx.project.kunit, arch, stress=bool(stress), bench=bench, deep=bool(deep)
    )
    build_dir = explicit_build_dir or (
        ctx.workspace / "build" / path.name / boot.build_dir_name(configs, arch)
    )
    request = boot.Request(
        tree=path,
        build_dir=build_dir.resolve(),
        root=(ctx.workspace / "boot-root" / path.name).resolve(),
        config_fragment=configs[0],
        arch=arch,
        env=[
            f"threads={threads}",
            f"forks={forks}",
            *(["bench=1"] if bench else []),
            *([f"deep={deep}"] if deep else []),
            *([f"settle_ms={settle * 1000}"] if settle else []),
        ],
        kernel_args=list(kernel_args or []),
        crash=crash,
        stress=stress,
        duration=duration,
        extra_fragments=configs[1:],
        modules=boot.guest_modules(
            arch, bench=bench, stress=bool(stress), crash=crash, deep=bool(deep)
        ),
        mem=mem,
        timeout=timeout,
        build=build,
        program=selftests.INIT if run_selftests else "workload",
    )
    outcome = boot.boot(request, ctx.status)
    metadata = {
        "arch": arch,
        "base": _base_info(path),
        **_tested_patches(path, ctx.project),
        "tree": str(path),
        "command": outcome.command,
        "log": str(outcome.log),
        "returncode": outcome.returncode,
        "figures": outcome.figures,
        "seconds": {k: round(v, 1) for k, v in outcome.seconds.items()},
        "compiler": _compiler(request.build_dir),
    }
    name = f"{arch}-boot-{boot.run_name(request)}"
    code = _report(ctx, outcome.run, metadata, name, json_path, junit_path, kcidb_path)
    return code, outcome


def emit(
    run: ktap.Run,
    stream: TextIO,
    metadata: dict[str, Any],
    json_path: Path | None,
    junit_path: Path | None,
    kcidb_path: Path | None,
) -> Exit:
    """report.emit, and the KCIDB document when one is asked for; the exit code."""
    code = report.emit(
        run, stream=stream, json_path=json_path, junit_path=junit_path, metadata=metadata
    )
    if kcidb_path is not None:
        kcidb.write(report.to_json(run, metadata), kcidb_path)
    return code


def _report(
    ctx: Context,
    run: ktap.Run,
    metadata: dict[str, Any],
    kept: str,
    json_path: Path | None,
    junit_path: Path | None,
    kcidb_path: Path | None,
) -> Exit:
    """Print and write the results, and keep a copy in the workdir as results/<kept>.json."""
    code = emit(run, ctx.out, metadata, json_path, junit_path, kcidb_path)
    results = ctx.workspace / "results"
    results.mkdir(exist_ok=True)
    report.write_json(run, results / f"{kept}.json", metadata)
    return code


def _base_info(path: Path) -> dict[str, str]:
    try:
        info = tree.BaseInfo.of(path)
    except UsageError:
        return {}
    return {
        "kernel": info.kernel,
        "source": info.source,
        "sha256": info.sha256,
        "commit": info.commit,
        "head": tree.open_repo(path).head.commit.hexsha,
    }


def evidence_metadata(
    path: Path,
    project: Project,
    arch: str,
    names: list[str] | None = None,
    timeout: int = DEFAULT_TIMEOUT,
    passthrough: list[str] | None = None,
    engine: str = "make",
) -> dict[str, Any]:
    """What `growstack send` needs to quote a run as test evidence: the base,
    the patch-ids of the commits tested, the command that repeats the run."""
    return {
        "base": _base_info(path),
        **_tested_patches(path, project),
        "reproduce": _reproduce(arch, names, timeout, passthrough, engine),
    }


def _tested_patches(path: Path, project: Project) -> dict[str, Any]:
    """The commits tested: their patch-ids, and KCIDB's patchset hash of them as
    export writes them. Both None when uncommitted changes were tested too."""
    try:
        repo = tree.open_repo(path)
        if not repo.is_dirty(untracked_files=True):
            try:
                mails = series.exported_mails(path, project)
            except SeriesError:  # commits that no series of this project claims
                mails = [mail for _, mail in series.formatted(repo)]
            return {
                "patches": [pid for _, pid in series.carried_patch_ids(repo)],
                "patchset_hash": kcidb.patchset_hash(mails),
            }
    except (UsageError, git.GitCommandError, subprocess.CalledProcessError):
        pass
    return {"patches": None, "patchset_hash": None}


def _compiler(build_dir: Path) -> str | None:
    """The compiler the kernel was configured with, as its .config records it."""
    try:
        text = (build_dir / ".config").read_text()
    except OSError:
        return None
    value = kunitconfig.parse(text, ".config").get("CC_VERSION_TEXT")
    return value.strip('"') if value else None


def _reproduce(
    arch: str,
    names: list[str] | None,
    timeout: int,
    passthrough: list[str] | None,
    engine: str = "make",
) -> str:
    """The `growstack test` command line of a run, for others to repeat it."""
    words = ["growstack", "test", "--arch", arch]
    words += [w for name in names or [] for w in ("--fragment", name)]
    if timeout != DEFAULT_TIMEOUT:
        words += ["--timeout", str(timeout)]
    if engine != "make":
        words += ["--engine", engine]
    if passthrough:
        words += ["--", *passthrough]
    return shlex.join(words)


def per_target(path: Path | None, arch: str, several: bool) -> Path | None:
    """`path` for one of several targets: {arch} replaced, or .ARCH before the suffix."""
    if path is None:
        return None
    if "{arch}" in str(path):
        return Path(str(path).replace("{arch}", arch))
    return path.with_name(f"{path.stem}.{arch}{path.suffix}") if several else path


def main_job(
    ctx: Context,
    arches: list[str],
    *,
    json_path: Path | None = None,
    junit_path: Path | None = None,
    kcidb_path: Path | None = None,
    passthrough: list[str] | None = None,
) -> Exit:
    for arch in arches:
        targets.require_bootable(arch)
    path = make_tree(ctx, tree.Source())
    apply_series(ctx, path)
    worst = Exit.OK
    for arch in arches:
        ctx.status.log(f"== KUnit on {arch} ==")
        code = test(
            ctx,
            path,
            arch,
            passthrough=passthrough,
            json_path=per_target(json_path, arch, len(arches) > 1),
            junit_path=per_target(junit_path, arch, len(arches) > 1),
            kcidb_path=per_target(kcidb_path, arch, len(arches) > 1),
        )
        worst = max(worst, code)
    return worst
