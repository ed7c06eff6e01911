"""MAP_STACK on real kernels: parisc under QEMU (KUnit and map_stack), UML (map_stack).

The parisc test builds the trimmed 32-bit kernel of kunit/qemu_configs/parisc.py
with only the mman fragment, so that it stays a few minutes with ccache; the
UML one boots the kernel of test_kernel_boot.py to the selftest.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from growstack import pipeline
from growstack.errors import Exit

pytestmark = pytest.mark.kernel

GROWTH = {
    "grows_page_by_page",
    "grows_multi_page_jump",
    "guard_gap",
    "rlimit_stack",
    "neighbour_without_access",
    "growable_neighbour",
    "main_stack_grows",
    "exec_many_args",
    "concurrent_growth",
}
# Mappings that must not grow, or not both ways (MAP_GROWSDOWN|MAP_STACK).
FIXED = {"shared_is_fixed", "file_is_fixed", "growsdown_stack_one_way"}
# The kernel's own copies (read(), write(), /proc/self/mem) grow a stack that has
# not grown yet, also while the mmap lock is contended.
KERNEL = {"kernel_access_grows", "kernel_access_contended", "proc_mem_write_beyond"}


def assert_passed(map_stack: dict[str, str], names: set[str]) -> None:
    """Each of `names` ran and passed; the dict shows which did not."""
    assert {name: map_stack.get(name) for name in names} == dict.fromkeys(names, "PASS")


def statuses(suite: dict) -> dict[str, str]:
    """Case name -> status; kselftest names a skipped case only in its reason."""
    return {case["name"] or case["reason"]: case["status"] for case in suite["subtests"]}


def test_parisc_runs_mman_and_map_stack_in_one_boot(
    kernel_context: pipeline.Context, series_tree: Path, tmp_path: Path
) -> None:
    json_path = tmp_path / "parisc.json"
    code = pipeline.test(kernel_context, series_tree, "parisc", names=["mman"], json_path=json_path)
    results = json.loads(json_path.read_text())
    suites = {suite["name"]: suite for suite in results["suites"]}
    assert code == Exit.OK, results["counts"]
    mman = statuses(suites["mman"])
    assert mman.pop("mman_test_map_sync") == "SKIP"  # no MAP_SYNC on parisc
    assert set(mman.values()) == {"PASS"} and len(mman) >= 11
    # Same boot: init ran the selftest after KUnit; it grew MAP_STACK stacks upwards.
    map_stack = statuses(suites["map_stack"])
    # The gateway page's compare-and-swap grows a stack too (parisc only).
    assert_passed(map_stack, GROWTH | FIXED | KERNEL | {"lws_cas_grows"})


def test_uml_runs_map_stack_under_hostfs(
    kernel_context: pipeline.Context, series_tree: Path, tmp_path: Path
) -> None:
    code, _ = pipeline.boot_kernel(
        kernel_context, series_tree, run_selftests=True, json_path=tmp_path / "boot.json"
    )
    results = json.loads((tmp_path / "boot.json").read_text())
    suites = {suite["name"]: suite for suite in results["suites"]}
    assert code == Exit.OK, results["counts"]
    map_stack = statuses(suites["map_stack"])
    assert_passed(map_stack, GROWTH | FIXED | KERNEL | {"private_is_fixed"})
    assert suites["clean_shutdown"]["status"] == "PASS"
