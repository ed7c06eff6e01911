"""The `growstack` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__, pipeline
from .engines import kcidb, tuxsuite
from .errors import MEANING, Exit, GrowstackError, UsageError
from .kernel import boot, build
from .project import find_project, workspace
from .release import check, mail, plan
from .results import compare, ktap
from .series import layout, series
from .source import tree

EXIT_CODES = "\n".join(f"  {code.value:>2}  {MEANING[code]}" for code in Exit)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="growstack",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Carry the growstack series: base tree → apply → configure → "
        "build and run KUnit → parse KTAP → report.",
        epilog=f"exit codes:\n{EXIT_CODES}",
    )
    parser.add_argument("--version", action="version", version=f"growstack {__version__}")
    parser.add_argument(
        "--project",
        type=Path,
        help="the growstack checkout (default: found above the current directory)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="caches, trees and build output (default: $GROWSTACK_HOME or ~/.cache/growstack)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "tree",
        help="make a work tree of the base (default: the pinned Debian linux-source package)",
    )
    p.add_argument("--source", help="a tarball path or https URL instead of the package")
    p.add_argument("--sha256", help="the tarball's sha256 (required for a URL)")
    p.add_argument("--git", type=Path, dest="git_repo", help="an existing git tree instead")
    p.add_argument("--ref", help="the base commit in --git (default HEAD)")
    p.add_argument("--dir", type=Path, help="where to make the work tree")

    p = sub.add_parser("apply", help="apply the series to a work tree (idempotent)")
    _tree_arg(p)
    p.add_argument(
        "--no-local",
        action="store_true",
        help="leave out the test-environment patches in patches/local/",
    )

    p = sub.add_parser(
        "export", help="write the tree's commits back to patches/, each to its series"
    )
    _tree_arg(p)
    p.add_argument(
        "--prune",
        action="store_true",
        help="allow dropping patches that the tree no longer carries",
    )

    p = sub.add_parser("config", help="write .config with kconfiglib")
    _target_args(p)
    p.add_argument(
        "--base",
        default="olddefconfig",
        choices=("olddefconfig", "alldefconfig", "allnoconfig", "defconfig"),
        help="the starting point the fragments are applied to",
    )

    p = sub.add_parser(
        "test",
        help="build and run KUnit through the tree's kunit.py; "
        "arguments after -- go to kunit.py unchanged",
    )
    _target_args(p)
    p.add_argument("--timeout", type=int, default=300, help="seconds the kernel may run")
    _engine_arg(p)
    _output_args(p)

    p = sub.add_parser(
        "boot",
        help="boot UML or x86_64 (QEMU) to a thread-heavy workload, or provoke a crash, "
        "and judge what happened",
    )
    _tree_arg(p)
    p.add_argument(
        "--arch", default="um", help="um (default), or x86_64 under QEMU with 4 CPUs (TCG)"
    )
    p.add_argument("--build-dir", type=Path, help="build output (default: in the workdir)")
    p.add_argument("--threads", type=int, default=2000, help="threads the workload starts")
    p.add_argument(
        "--forks",
        type=int,
        default=200,
        help="fork+exit pairs the workload times (with --bench also threads and execs)",
    )
    p.add_argument(
        "--bench",
        action="store_true",
        help="load the benchmark module first, and run the microbenchmarks "
        "(scripts/bench-kstack uses it)",
    )
    p.add_argument(
        "--deep",
        type=int,
        default=0,
        metavar="BYTES",
        help="each workload thread also takes its kernel stack BYTES deep (kstack_deep.ko)",
    )
    p.add_argument(
        "--settle",
        type=int,
        default=0,
        metavar="SECONDS",
        help="then leave the threads asleep this long, sampling nr_kernel_stack "
        "(stacks shrink back where shrink passes run)",
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--crash",
        choices=sorted(boot.CRASHES),
        help="provoke a crash instead: a stack overflow (LKDTM EXHAUST_STACK), "
        "a stack fault that finds the reserve empty (fault injection), or a read "
        "of the page below or above the stack (LKDTM STACK_GUARD_PAGE_*)",
    )
    what.add_argument(
        "--selftests",
        action="store_true",
        help="run the tree's kernel selftests (map_stack) instead of the workload",
    )
    what.add_argument(
        "--stress",
        choices=sorted(boot.STRESSES),
        help="grow kernel stacks under memory pressure instead, in a kernel with lockdep "
        "and DEBUG_VM: a memory cgroup at its limit, a small mem=, a storm of failing "
        "refills, or real-time threads above kstackd (see Documentation/dynamic-stacks.md)",
    )
    p.add_argument("--duration", type=int, default=60, help="seconds of --stress load (default 60)")
    p.add_argument(
        "--kernel-arg",
        action="append",
        dest="kernel_args",
        default=[],
        metavar="ARG",
        help="a kernel command line argument (repeatable)",
    )
    p.add_argument("--mem", default="1G", help="the machine's memory (default 1G)")
    p.add_argument("--timeout", type=int, default=300, help="seconds the kernel may run")
    _output_args(p)

    p = sub.add_parser("parse", help="parse KTAP from a file or - for stdin")
    p.add_argument("file", help="a console log with KTAP, or -")
    p.add_argument(
        "--timed-out",
        action="store_true",
        help="the run was cut off by a timeout (unfinished tests become TIMEOUT)",
    )
    _output_args(p)

    p = sub.add_parser(
        "compare",
        help="compare two results files test by test, e.g. a kernel without and with a change",
    )
    p.add_argument("old", type=Path, help="results JSON of the reference run")
    p.add_argument("new", type=Path, help="results JSON of the run to judge")
    p.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="GLOB",
        help="leave out tests whose dotted path matches, e.g. 'kstack*' for "
        "suites the change adds (repeatable)",
    )

    p = sub.add_parser(
        "submit",
        help=f"post a KCIDB document to a KCIDB endpoint (token: ${kcidb.TOKEN_VARIABLE})",
    )
    p.add_argument("--kcidb", required=True, metavar="URL", help="the KCIDB submission URL")
    p.add_argument("file", type=Path, help="a KCIDB document, as --kcidb FILE writes it")
    p.add_argument(
        "--timeout",
        type=float,
        default=kcidb.DEFAULT_TIMEOUT,
        help=f"seconds to wait for the answer (default {kcidb.DEFAULT_TIMEOUT:g})",
    )

    p = sub.add_parser("run", help="the main job: tree, apply and test the default targets")
    p.add_argument(
        "--arch",
        action="append",
        dest="arches",
        help=f"a target (repeatable; default: {', '.join(pipeline.DEFAULT_TARGETS)})",
    )
    _output_args(p)

    p = sub.add_parser(
        "check",
        help="series hygiene before mailing: the series applies and "
        "re-exports unchanged, checkpatch --strict, every prefix builds",
    )
    _release_tree_arg(p)
    p.add_argument(
        "--arch",
        action="append",
        dest="arches",
        help="build every prefix for this arch (repeatable; default: um; also parisc, parisc64)",
    )
    p.add_argument(
        "--fragment",
        action="append",
        dest="fragments",
        metavar="NAME",
        help="kunit/NAME.kunitconfig or kunit-default (repeatable; default: the "
        "series' own fragments for the arch)",
    )
    p.add_argument("--no-build", action="store_true", help="skip the prefix builds")
    _engine_arg(p)
    _series_arg(p, "check only this series, on top of those it depends on (default: all)")

    p = sub.add_parser(
        "plan",
        help="write the series' whole matrix (every prefix x arches x toolchains, and "
        "the KUnit boots) as a TuxSuite plan, checked offline by the tuxsuite client",
    )
    p.add_argument("--tuxsuite", type=Path, required=True, metavar="FILE", help="the plan")
    _tree_arg(p)
    p.add_argument(
        "--arch",
        action="append",
        dest="arches",
        help="build for this arch (repeatable; default: um, x86_64)",
    )
    p.add_argument(
        "--toolchain",
        action="append",
        dest="toolchains",
        help=f"a TuxSuite toolchain (repeatable; default: {', '.join(plan.DEFAULT_TOOLCHAINS)})",
    )
    p.add_argument("--git-repo", help=f"the base's git tree (default: {tuxsuite.STABLE_TREE})")
    p.add_argument("--git-ref", help="the base's ref in it (default: v<the pinned version>)")
    p.add_argument(
        "--submit", action="store_true", help="hand the plan to the tuxsuite client (needs a token)"
    )
    _series_arg(p, "plan only this series, on top of those it depends on (default: all)")

    p = sub.add_parser(
        "send",
        help="mail one series with b4; by default write the mails of "
        "the version in its cover letter to a directory and record it",
    )
    _release_tree_arg(p)
    _series_arg(p, "the series to mail (a folder of patches/; needed when there are several)")
    p.add_argument(
        "-o",
        "--output-dir",
        type=Path,
        help="a new or empty directory for the mails (default: <workdir>/mail/SERIES/vN)",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--dry-run",
        action="store_true",
        help="write the mails but record nothing: the version stays",
    )
    mode.add_argument(
        "--send",
        action="store_true",
        dest="real",
        help="send them for real with b4 through git's sendemail settings, "
        "after a confirmation typed at the terminal",
    )
    p.add_argument(
        "--no-sign",
        action="store_true",
        help="do not sign the mails (b4 signs with patatt by default)",
    )

    p = sub.add_parser(
        "migrate",
        help="move a series kept in the old flat layout (patches/series) into patches/NAME/",
    )
    p.add_argument("name", help="the series' folder name, e.g. my-series")
    return parser


def _engine_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--engine",
        choices=tuple(pipeline.ENGINES),
        default="make",
        help="what builds the kernel: make (default; kunit.py's own build where it "
        "can) or tuxmake (null runtime, host gcc, as a TuxSuite build is described)",
    )


def _series_arg(p: argparse.ArgumentParser, text: str) -> None:
    p.add_argument("--series", metavar="NAME", help=text)


def _release_tree_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tree",
        type=Path,
        help="a growstack work tree of the base that it may "
        "reset (default: the release tree of the pinned base in the workdir)",
    )


def _tree_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tree", type=Path, help="the work tree (default: the last `growstack tree`)")


def _target_args(p: argparse.ArgumentParser) -> None:
    _tree_arg(p)
    p.add_argument("--arch", default="um", help="um (default), x86_64, parisc, ...")
    p.add_argument(
        "--fragment",
        action="append",
        dest="fragments",
        metavar="NAME",
        help="kunit/NAME.kunitconfig or kunit-default (repeatable; default: "
        "kunit-default and all of ours for the arch)",
    )
    p.add_argument("--build-dir", type=Path, help="build output (default: in the workdir)")


def _output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", type=Path, help="write results as JSON (growstack-results v1)")
    p.add_argument("--junit", type=Path, help="write results as JUnit XML")
    p.add_argument("--kcidb", type=Path, help="write results as a KCIDB v5 document")


def _split_passthrough(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--" in argv:
        index = argv.index("--")
        return argv[:index], argv[index + 1 :]
    return argv, []


def _dispatch(args: argparse.Namespace, passthrough: list[str]) -> int:
    if args.command == "parse":
        return _parse(args)
    if args.command == "submit":
        count = kcidb.submit(args.kcidb, args.file, timeout=args.timeout)
        print(f"submitted {args.file} to {args.kcidb}: {count} object(s)")
        return Exit.OK
    if args.command == "compare":
        comparison = compare.compare(compare.load(args.old), compare.load(args.new), args.ignore)
        print("\n".join(compare.lines(comparison)))
        return Exit.RESULTS_DIFFER if comparison.differs else Exit.OK
    ctx = pipeline.Context(find_project(args.project), workspace(args.workdir))
    if passthrough and args.command not in ("test", "run"):
        raise UsageError(
            f"`growstack {args.command}` takes no arguments after --",
            "only test and run pass arguments on to kunit.py",
        )
    if args.command == "tree":
        if args.git_repo and args.source:
            raise UsageError("--git and --source exclude each other", "pass one of them")
        source = tree.Source(
            tarball=args.source, sha256=args.sha256, git_repo=args.git_repo, ref=args.ref
        )
        print(pipeline.make_tree(ctx, source, args.dir))
        return Exit.OK
    if args.command == "run":
        return pipeline.main_job(
            ctx,
            args.arches or list(pipeline.DEFAULT_TARGETS),
            json_path=args.json,
            junit_path=args.junit,
            kcidb_path=args.kcidb,
            passthrough=passthrough,
        )
    if args.command == "check":
        return _check(ctx, args)
    if args.command == "send":
        return _send(ctx, args)
    if args.command == "plan":
        return _plan(ctx, args)
    if args.command == "migrate":
        for moved in layout.migrate(ctx.project, args.name):
            print(f"moved {moved.relative_to(ctx.project.root)}")
        print(f"commit patches/ now: the series is patches/{args.name}/")
        return Exit.OK
    path = pipeline.current_tree(ctx, args.tree)
    if args.command == "apply":
        pipeline.apply_series(ctx, path, include_local=not args.no_local)
    elif args.command == "export":
        exported = series.export(path, ctx.project, prune=args.prune)
        for written in exported.written:
            print(f"wrote {written}")
        for removed in exported.removed:
            print(f"removed {removed}")
        if not exported.written and not exported.removed:
            print("patches/ already matches the tree")
        if exported.hidden:
            shown = ", ".join(exported.hidden[:5]) + (", ..." if len(exported.hidden) > 5 else "")
            print(
                f"growstack: warning: {len(exported.hidden)} file(s) in the tree are in no "
                f"commit and hidden by its .gitignore ({shown}); `git add -f` those that "
                f"belong to a patch",
                file=sys.stderr,
            )
    elif args.command == "config":
        configured = pipeline.configure(
            ctx, path, args.arch, args.fragments, args.build_dir, args.base
        )
        print(configured.path)
    elif args.command == "boot":
        code, _ = pipeline.boot_kernel(
            ctx,
            path,
            args.arch,
            threads=args.threads,
            forks=args.forks,
            crash=args.crash,
            stress=args.stress,
            duration=args.duration,
            bench=args.bench,
            deep=args.deep,
            settle=args.settle,
            run_selftests=args.selftests,
            kernel_args=args.kernel_args,
            mem=args.mem,
            timeout=args.timeout,
            explicit_build_dir=args.build_dir,
            json_path=args.json,
            junit_path=args.junit,
            kcidb_path=args.kcidb,
        )
        return code
    elif args.command == "test":
        return pipeline.test(
            ctx,
            path,
            args.arch,
            names=args.fragments,
            explicit_build_dir=args.build_dir,
            timeout=args.timeout,
            passthrough=passthrough,
            json_path=args.json,
            junit_path=args.junit,
            kcidb_path=args.kcidb,
            engine=args.engine,
        )
    return Exit.OK


def _plan(ctx: pipeline.Context, args: argparse.Namespace) -> int:
    if args.series:
        layout.find(ctx.project, args.series)
    written = plan.write(
        ctx,
        pipeline.current_tree(ctx, args.tree),
        args.tuxsuite,
        arches=args.arches or ["um", "x86_64"],
        toolchains=args.toolchains or list(plan.DEFAULT_TOOLCHAINS),
        only=args.series,
        git_repo=args.git_repo,
        git_ref=args.git_ref,
    )
    for arch, toolchain in written.skipped:
        print(f"left out {arch} with {toolchain}: TuxSuite has no image for it")
    print(
        f"wrote {args.tuxsuite}: {written.jobs} job(s), {written.builds} build(s); "
        "tuxsuite accepts it"
    )
    if args.submit:
        tuxsuite.submit(args.tuxsuite)
    return Exit.OK


def _check(ctx: pipeline.Context, args: argparse.Namespace) -> int:
    if args.series:
        layout.find(ctx.project, args.series)  # a typo costs no release tree
    path = pipeline.release_tree(ctx, args.tree, only=args.series)
    result = check.run(
        ctx,
        path,
        arches=args.arches or ["um"],
        fragments=args.fragments,
        build=not args.no_build,
        only=args.series,
        engine=pipeline.ENGINES[args.engine] or build.MAKE,
    )
    print(
        f"check passed: {args.series or 'all series'}, {result.patches} patch(es)"
        + ("" if args.no_build else f", every prefix builds on {', '.join(result.built)}")
    )
    return Exit.OK


def _send(ctx: pipeline.Context, args: argparse.Namespace) -> int:
    sent = mail.send(
        ctx,
        args.tree,
        name=args.series,
        output=args.output_dir,
        dry_run=args.dry_run,
        real=args.real,
        sign=not args.no_sign,
    )
    for reason in sent.evidence_left_out:
        print(f"test evidence leaves out {reason}")
    verb = "sent" if sent.really_sent else "wrote"
    print(f"{verb} {sent.series} v{sent.version}: {len(sent.mails)} mail(s) in {sent.directory}")
    print(f"recipients: {', '.join(sent.recipients) or 'none'}")
    print(
        f"round trip: the mails apply on the base to tree {sent.tree_hash}, the tree of "
        "`growstack apply --no-local`"
    )
    print(f"b4 branch: {sent.branch} in {sent.tree}")
    if sent.recorded:
        print(
            f"patches/{sent.series}/cover-letter now prepares v{sent.version + 1}: write its "
            "changes and commit it"
        )
    return Exit.OK


def _parse(args: argparse.Namespace) -> int:
    try:
        if args.file == "-":
            lines = sys.stdin.buffer.read().decode(errors="replace").splitlines()
        else:
            lines = Path(args.file).read_bytes().decode(errors="replace").splitlines()
    except OSError as err:
        raise UsageError(
            f"cannot read {args.file}: {err.strerror}", "pass a readable file"
        ) from None
    run = ktap.parse(lines, timed_out=args.timed_out)
    if not run.found_ktap:
        name = "standard input" if args.file == "-" else args.file
        raise UsageError(
            f"{name} holds no KTAP output",
            "pass the console log of a KUnit run (kunit.py writes test.log)",
        )
    return pipeline.emit(run, sys.stdout, {"source": args.file}, args.json, args.junit, args.kcidb)


def main(argv: list[str] | None = None) -> int:
    own, passthrough = _split_passthrough(list(sys.argv[1:] if argv is None else argv))
    args = _parser().parse_args(own)
    try:
        return int(_dispatch(args, passthrough))
    except GrowstackError as err:
        print(f"growstack: error: {err}", file=sys.stderr)
        return int(err.exit_code)
    except KeyboardInterrupt:
        print("growstack: interrupted", file=sys.stderr)
        return 130
