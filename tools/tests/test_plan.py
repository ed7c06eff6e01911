"""`growstack plan`: TuxSuite plans of tiny series, checked by the real tuxsuite client."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import requests
import yaml

from growstack.engines import tuxsuite
from growstack.errors import Exit, GrowstackError, UsageError
from growstack.release import plan

from helpers import fake_kunit_tree
from release_helpers import context, make_release
from test_cli import assert_one_line_error, growstack


@pytest.fixture
def release(tmp_path: Path) -> dict[str, Path]:
    paths = make_release(tmp_path)
    fake_kunit_tree(paths["dev"])
    return paths


def test_every_prefix_on_every_arch_and_toolchain_and_kunit_where_qemu_can_boot(
    release: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out" / "plan.yaml"
    written = plan.write(
        context(release),
        release["dev"],
        out,
        arches=["um", "x86_64"],
        toolchains=["gcc-12", "clang-17"],
    )
    # Two mailed patches x 2 arches x 2 toolchains, then KUnit on x86_64 only.
    assert (written.jobs, written.builds, written.skipped) == (3, 2 * 2 * 2 + 2, [])
    assert "&id" not in out.read_text()  # plain YAML, no anchors, for people who read it
    doc = yaml.safe_load(out.read_text())
    first, second, kunit = doc["jobs"]
    assert [b["target_arch"] for b in first["builds"]] == ["um", "um", "x86_64", "x86_64"]
    assert {b["git_ref"] for b in first["builds"]} == {"v6.12.7"}
    assert {b["git_repo"] for b in first["builds"]} == {tuxsuite.STABLE_TREE}
    # Each prefix carries its own patches, in order.
    one = Path(first["builds"][0]["patch_series"]).read_text()
    two = Path(second["builds"][0]["patch_series"]).read_text()
    assert "mm: add grows" in one and "mm: add stack" not in one
    assert two.index("mm: add grows") < two.index("mm: add stack")
    um, x86 = first["builds"][0], first["builds"][2]
    assert um["kconfig"][0] == tuxsuite.BASE_CONFIG and "CONFIG_VIRTIO_UML=y" in um["kconfig"]
    assert "CONFIG_SERIAL_8250=y" in x86["kconfig"] and "CONFIG_VIRTIO_UML=y" not in x86["kconfig"]
    assert kunit["test"] == {"device": "qemu-x86_64", "tests": ["kunit"]}
    assert kunit["builds"][0]["kconfig"][0] == tuxsuite.BOOT_CONFIG
    assert "modules" in kunit["builds"][0]["targets"] and "modules" not in um["targets"]
    # Absolute, or the client would read a path it cannot find as a message-id for b4.
    assert Path(um["patch_series"]).is_absolute()
    assert kunit["builds"][0]["patch_series"] == second["builds"][0]["patch_series"]


def test_pairs_tuxsuite_has_no_image_for_are_left_out_and_named(
    release: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "plan.yaml"
    ctx = context(release)
    written = plan.write(ctx, release["dev"], out, arches=["um"], toolchains=["gcc-12", "korg-gcc"])
    assert written.skipped == [("um", "korg-gcc")]  # kernel.org's gcc images build no UML
    builds = [b for job in yaml.safe_load(out.read_text())["jobs"] for b in job["builds"]]
    assert {(b["target_arch"], b["toolchain"]) for b in builds} == {("um", "gcc-12")}
    with pytest.raises(
        UsageError, match=r"no image that builds um with korg-gcc; .* such as gcc-\d+, clang-\d+$"
    ):
        plan.write(ctx, release["dev"], out, arches=["um"], toolchains=["korg-gcc"])
    refused = r"no parisc64 kernel .* `growstack check --arch parisc64`"
    with pytest.raises(UsageError, match=refused):
        plan.write(ctx, release["dev"], out, arches=["parisc64"], toolchains=["gcc-12"])


def test_the_client_refuses_what_tuxsuite_would(tmp_path: Path) -> None:
    mbox = tmp_path / "01.mbox"
    mbox.write_text("From 0 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] x\n\n---\n")
    build = tuxsuite.Build("um", "gcc-12", [], mbox)
    path = tmp_path / "plan.yaml"
    ssh = tuxsuite.Base("git@example.org:linux.git", "v6.12.7")
    tuxsuite.write(path, tuxsuite.document("n", "d", [tuxsuite.Job("j", [build])], ssh))
    with pytest.raises(UsageError, match="tuxsuite refuses build 1"):
        tuxsuite.validate(path)
    https = tuxsuite.Base("https://example.org/linux.git", "v6.12.7")
    tuxsuite.write(path, tuxsuite.document("n", "d", [tuxsuite.Job("j", [build])], https))
    assert tuxsuite.validate(path) == 1
    clang = tuxsuite.Build("parisc", "clang-17", [], mbox)  # the client itself lets it pass
    tuxsuite.write(path, tuxsuite.document("n", "d", [tuxsuite.Job("j", [clang])], https))
    with pytest.raises(UsageError, match="tuxmake has no clang-17 image for parisc"):
        tuxsuite.validate(path)
    named = {"version": 1, "name": "n", "description": "d"}
    tuxsuite.write(path, {**named, "jobs": [{"builds": "not a list"}]})
    with pytest.raises(UsageError, match="does not match tuxsuite's plan schema"):
        tuxsuite.validate(path)
    tuxsuite.write(path, {"version": 1, "jobs": []})
    with pytest.raises(UsageError, match=r"tuxsuite cannot read .*must contain Jobs"):
        tuxsuite.validate(path)
    tuxsuite.write(path, {"version": 1, "jobs": [{"builds": []}]})  # the client trips on it
    with pytest.raises(UsageError, match=r"tuxsuite cannot read .*KeyError"):
        tuxsuite.validate(path)


def plan_submit(
    release: dict[str, Path], tmp_path: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """`growstack plan --submit` of the tiny release, to tmp_path/plan.yaml."""
    return growstack(
        "--project",
        str(release["project"]),
        "--workdir",
        str(release["work"]),
        "plan",
        "--tree",
        str(release["dev"]),
        "--tuxsuite",
        str(tmp_path / "plan.yaml"),
        "--submit",
        env=env,
    )


def test_submit_without_a_token_is_one_line(release: dict[str, Path], tmp_path: Path) -> None:
    result = plan_submit(
        release, tmp_path, {"TUXSUITE_TOKEN": "", "TUXSUITE_CONFIG": str(tmp_path / "none.ini")}
    )
    assert_one_line_error(result, Exit.TUXSUITE_NO_TOKEN, "no TuxSuite token", "TUXSUITE_TOKEN")
    assert (tmp_path / "plan.yaml").is_file()  # the plan is written before the token is needed


def test_submit_without_the_service_is_one_line(
    release: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token but no TuxSuite to talk to: the submission to a closed port on
    loopback fails in the client's own process, and the client's lookup of the
    group and project fails in growstack's (where it would retry for minutes)."""
    ini = tmp_path / "config.ini"
    closed = "http://127.0.0.1:9"  # never a public endpoint
    ini.write_text(
        f"[default]\napi_url = {closed}\ntuxapi_url = {closed}\ntuxauth_url = {closed}\n"
    )
    env = {"TUXSUITE_TOKEN": "t0k3n", "TUXSUITE_CONFIG": str(ini)}
    result = plan_submit(release, tmp_path, {**env, "TUXSUITE_GROUP": "g", "TUXSUITE_PROJECT": "p"})
    assert result.returncode == Exit.TUXSUITE_FAILED, result.stderr
    assert f"growstack: error: tuxsuite did not accept {tmp_path / 'plan.yaml'}" in result.stderr
    assert "host='127.0.0.1', port=9" in result.stderr  # the client ran, and posted here

    def offline(*args: object, **kwargs: object) -> None:
        raise requests.ConnectionError("connection refused")

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("tuxsuite.config.requests.get", offline)
    with pytest.raises(GrowstackError, match="cannot reach TuxSuite: connection refused") as err:
        tuxsuite.submit(tmp_path / "plan.yaml")
    assert err.value.exit_code == Exit.TUXSUITE_FAILED
