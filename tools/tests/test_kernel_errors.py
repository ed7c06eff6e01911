"""The bad-input cases that need a real kernel: config errors and broken runs.

Config errors stop before any build. The run cases boot the UML kernel that
the pipeline test builds (same tree, same build directory), with kernel
arguments that make it print no KTAP or outlast its timeout.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from growstack import pipeline
from growstack.errors import ConfigFailed, Exit

pytestmark = pytest.mark.kernel


def test_unknown_symbol_in_a_fragment(
    kernel_context: pipeline.Context, series_tree: Path, tmp_path: Path
) -> None:
    with pytest.raises(
        ConfigFailed,
        match=r"CONFIG_MMAN_KUNIT_TST=y names no symbol.*did you "
        r"mean CONFIG_MMAN_KUNIT_TEST",
    ) as err:
        pipeline.test(
            kernel_context,
            series_tree,
            "um",
            explicit_build_dir=tmp_path,
            passthrough=["--kconfig_add=CONFIG_MMAN_KUNIT_TST=y"],
        )
    assert err.value.exit_code == Exit.CONFIG_FAILED
    assert "\n" not in str(err.value)


def test_symbol_with_unmet_dependencies(
    kernel_context: pipeline.Context, series_tree: Path, tmp_path: Path
) -> None:
    with pytest.raises(
        ConfigFailed,
        match=r"CONFIG_EXT4_KUNIT_TESTS=y was dropped: it depends "
        r"on EXT4_FS && .*EXT4_FS=n; enable CONFIG_EXT4_FS",
    ):
        pipeline.test(
            kernel_context,
            series_tree,
            "um",
            explicit_build_dir=tmp_path,
            passthrough=["--kconfig_add=CONFIG_EXT4_KUNIT_TESTS=y"],
        )


def results(ctx: pipeline.Context) -> dict:
    return json.loads((ctx.workspace / "results" / "um.json").read_text())


def test_kernel_that_prints_no_ktap(kernel_context: pipeline.Context, series_tree: Path) -> None:
    # Console loglevel 0 hides KUnit's KERN_INFO output: the kernel runs, prints no KTAP.
    code = pipeline.test(
        kernel_context, series_tree, "um", passthrough=["--kernel_args=loglevel=0"]
    )
    assert code == Exit.CRASHED
    assert results(kernel_context)["found_ktap"] is False


def test_kernel_that_outlasts_its_timeout(
    kernel_context: pipeline.Context, series_tree: Path
) -> None:
    # The default KUnit set runs for about ten seconds here; three is too few.
    code = pipeline.test(kernel_context, series_tree, "um", timeout=3)
    found = results(kernel_context)
    assert code == Exit.CRASHED
    assert found["timed_out"] is True and found["counts"]["timeout"] > 0
    assert found["counts"]["crashed"] == 0
