"""Reruns: a second boot of the same kernel for suites that need other kernel arguments."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from growstack.kernel import kunit, kunitconfig
from growstack.kernel.targets import Target
from growstack.results import ktap


def ktap_run(*suites: tuple[str, str]) -> ktap.Run:
    lines = ["KTAP version 1", f"1..{len(suites)}"]
    for number, (name, status) in enumerate(suites, 1):
        lines += [
            "    KTAP version 1",
            f"    # Subtest: {name}",
            "    1..1",
            f"    {status} 1 case",
            f"{status} {number} {name}",
        ]
    return ktap.parse(lines)


def rerun(glob: str = "off", *args: str) -> kunitconfig.Rerun:
    return kunitconfig.Rerun(glob, args or ("feature=off",), Path("f.kunitconfig"))


def request(tmp_path: Path, fragment_text: str, passthrough: list[str]) -> kunit.Request:
    frag = tmp_path / "f.kunitconfig"
    frag.write_text(fragment_text)
    return kunit.Request(
        tree=tmp_path / "linux",
        build_dir=tmp_path / "build",
        target=Target("um", ""),
        fragments=[frag],
        passthrough=passthrough,
    )


def test_rerun_results_replace_the_skipped_suites() -> None:
    main = ktap_run(("on", "ok"), ("off", "ok"))
    again = ktap_run(("off", "not ok"))
    merged = kunit.merge_rerun(main, again, rerun())
    assert [s.name for s in merged.tests] == ["on", "off"]
    off = merged.tests[1]
    assert off.status is ktap.Status.FAIL and off.diagnostics[0] == "booted again with feature=off"
    assert merged.status is ktap.Status.FAIL
    assert merged.documents == 2


def test_a_rerun_that_printed_no_ktap_makes_the_run_crashed() -> None:
    merged = kunit.merge_rerun(ktap_run(("on", "ok")), ktap.parse(["Kernel panic"]), rerun())
    assert merged.found_ktap is False and merged.status is ktap.Status.CRASHED


def test_a_suite_only_the_rerun_knows_is_added() -> None:
    merged = kunit.merge_rerun(ktap_run(("on", "ok")), ktap_run(("extra", "ok")), rerun())
    assert [s.name for s in merged.tests] == ["on", "extra"]


@pytest.mark.parametrize(
    "args, glob",
    [
        ([], None),
        (["mm_*"], "mm_*"),
        (["--timeout", "10", "kstack*"], "kstack*"),
        (["--kernel_args", "a=b", "--kconfig_add=CONFIG_X=y"], None),
        (["--json=out.json", "kst.case"], "kst.case"),
    ],
)
def test_filter_glob_is_found_among_kunit_py_options(args: list[str], glob: str | None) -> None:
    assert kunit.filter_glob(args) == glob


@pytest.mark.parametrize(
    "passthrough, wanted",
    [
        ([], True),
        (["kstack*"], True),
        (["kstack_off.case"], True),
        (["mman"], False),
    ],
)
def test_reruns_follow_the_users_filter(
    tmp_path: Path, passthrough: list[str], wanted: bool
) -> None:
    req = request(tmp_path, "# rerun: kstack_off dynamic_stack=off\n", passthrough)
    assert bool(kunit.selected_reruns(req)) is wanted


def test_rerun_command_execs_the_built_kernel_with_its_arguments(tmp_path: Path) -> None:
    req = request(tmp_path, "# rerun: off a=1 b\n", ["--kconfig_add=CONFIG_X=y", "mine"])
    [one] = kunit.selected_reruns(dataclasses.replace(req, passthrough=[]))
    argv = kunit.rerun_command(req, one)
    assert argv[:3] == [
        sys.executable,
        str(tmp_path / "linux/tools/testing/kunit/kunit.py"),
        "exec",
    ]
    assert argv[-3:] == ["--kernel_args=a=1", "--kernel_args=b", "off"]
    assert "--kconfig_add=CONFIG_X=y" not in argv and "mine" not in argv
