"""The config stage on tiny Kconfig trees: no kernel tree needed.

Every expected .config below was checked against 6.12's C tool
(scripts/kconfig/conf --olddefconfig) on the same tree and input; where
kconfiglib alone differs, the test also asserts that it does, so the
expectation cannot hold by accident.
"""

from __future__ import annotations

import contextlib
import textwrap
from pathlib import Path

import kconfiglib
import pytest

from growstack.errors import ConfigFailed, MissingDependency, UsageError
from growstack.kernel import config, kunitconfig
from growstack.kernel.kconfig_compat import Kconfig, KconfigSyntax

KCONFIG = """\
mainmenu "Linux/$(ARCH) $(KERNELVERSION) Kernel Configuration"

source "arch/$(SRCARCH)/Kconfig"

config MODULES
	bool "Enable loadable module support"
	modules

config EXPERT
	bool "Expert"

config BAR
	bool "bar"

config BAZ
	bool "baz"

config QUX
	bool "qux"
	default y

config FOO
	bool "foo"
	depends on BAR && (BAZ || !QUX)

config HIDDEN
	bool
	default BAR

config SELECTED
	bool

config SELECTOR
	bool "selector"
	select SELECTED

config TUNED
	bool "tuned" if EXPERT
	default y

config NUM
	int "num"
	range 2 512
	default 64

config WIDTH
	int "width"

config BUS
	tristate "bus"

config CONSOLE
	bool "console"
	depends on BUS = y

config BIG
	bool "big"
	depends on NUM > 100

config DRIVER
	bool "driver"
	imply HELPER

config HELPER
	tristate
	depends on BUS

choice
	prompt "mode"
	default MODE_LAZY

config MODE_STRICT
	bool "strict"

config MODE_LAZY
	bool "lazy"

config MODE_PASSTHROUGH
	bool "passthrough"

endchoice

config USB
	tristate "usb"

if USB

choice
	prompt "usb role"

config USB_HOST_ROLE
	bool "host"
	select ROLE_SWITCH

config USB_GADGET_ROLE
	bool "gadget"

endchoice

endif

config ROLE_SWITCH
	tristate
"""

MAKEFILE = "VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\nEXTRAVERSION = -test\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "linux"
    (root / "arch/um").mkdir(parents=True)
    (root / "arch/um/Kconfig").write_text('config UML\n\tdef_bool "$(HEADER_ARCH)" = "x86"\n')
    (root / "arch/x86/configs").mkdir(parents=True)
    (root / "arch/x86/Kconfig").write_text("config X86\n\tdef_bool y\n")
    (root / "arch/x86/configs/x86_64_defconfig").write_text(
        "CONFIG_EXPERT=y\n# CONFIG_QUX is not set\n"
    )
    (root / "Kconfig").write_text(KCONFIG)
    (root / "Makefile").write_text(MAKEFILE)
    return root


def entries(text: str) -> dict[str, str]:
    return kunitconfig.parse(text, "test")


def configure(tree: Path, fragment: str, **kwargs: str) -> dict[str, str]:
    result = config.configure(
        tree, tree.parent / "build", "um", textwrap.dedent(fragment), **kwargs
    )
    return entries(result.path.read_text())


def kconfiglib_alone(tree: Path, fragment: str) -> kconfiglib.Kconfig:
    """kconfiglib loaded with fragment, with only the `modules` syntax fix."""
    input_file = tree.parent / "plain.config"
    input_file.write_text(textwrap.dedent(fragment))
    with config._environment(config.kconfig_env(tree, "um")), contextlib.chdir(tree.parent):
        kconf = KconfigSyntax("Kconfig", warn=False)
    kconf.load_config(str(input_file))
    return kconf


def test_bare_modules_attribute_parses(tree: Path) -> None:
    with config._environment(config.kconfig_env(tree, "um")), contextlib.chdir(tree.parent):
        with pytest.raises(kconfiglib.KconfigError, match="modules"):
            kconfiglib.Kconfig("Kconfig", warn=False)
        kconf = Kconfig("Kconfig")
    assert kconf.modules is kconf.syms["MODULES"]
    assert configure(tree, "CONFIG_MODULES=y\nCONFIG_BUS=m\n")["BUS"] == "m"


def test_olddefconfig_writes_what_the_c_tool_writes(tree: Path) -> None:
    result = config.configure(
        tree, tree.parent / "build", "um", "CONFIG_BAR=y\nCONFIG_SELECTOR=y\n"
    )
    assert result.path.read_text() == textwrap.dedent(
        """\
        #
        # Automatically generated file; DO NOT EDIT.
        # Linux/um 6.12.0-test Kernel Configuration
        #
        CONFIG_UML=y
        # CONFIG_MODULES is not set
        # CONFIG_EXPERT is not set
        CONFIG_BAR=y
        # CONFIG_BAZ is not set
        CONFIG_QUX=y
        CONFIG_HIDDEN=y
        CONFIG_SELECTED=y
        CONFIG_SELECTOR=y
        CONFIG_TUNED=y
        CONFIG_NUM=64
        CONFIG_WIDTH=0
        # CONFIG_BUS is not set
        # CONFIG_DRIVER is not set
        # CONFIG_MODE_STRICT is not set
        CONFIG_MODE_LAZY=y
        # CONFIG_MODE_PASSTHROUGH is not set
        # CONFIG_USB is not set
        """
    )
    assert (result.arch, result.reused) == ("um", False)
    # C writes a visible int without default as 0, kconfiglib as empty
    assert kconfiglib_alone(tree, "CONFIG_BAR=y\n").syms["WIDTH"].str_value == ""


def test_unknown_symbol_is_named_with_close_matches(tree: Path) -> None:
    with pytest.raises(config.UnmetConfig) as caught:
        configure(tree, "CONFIG_SELECTR=y\n")
    assert str(caught.value) == (
        "CONFIG_SELECTR=y names no symbol of Linux/um 6.12.0-test, "
        "did you mean CONFIG_SELECTOR or CONFIG_SELECTED?; fix or drop CONFIG_SELECTR"
    )
    assert caught.value.exit_code == config.ConfigFailed.exit_code


def test_unmet_dependency_names_symbols_and_values(tree: Path) -> None:
    with pytest.raises(config.UnmetConfig) as caught:
        configure(tree, "CONFIG_FOO=y\nCONFIG_QUX=y\n")
    assert str(caught.value) == (
        "CONFIG_FOO=y was dropped: it depends on BAR && (BAZ || !QUX), and BAR=n, BAZ=n, QUX=y; "
        "enable CONFIG_BAR, CONFIG_BAZ and disable CONFIG_QUX or drop CONFIG_FOO=y"
    )


def test_comparisons_in_dependencies_get_advice(tree: Path) -> None:
    with pytest.raises(config.UnmetConfig) as caught:
        configure(tree, "CONFIG_CONSOLE=y\nCONFIG_BIG=y\n")
    assert caught.value.details == [
        "CONFIG_CONSOLE=y was dropped: it depends on BUS = y, and BUS=n; "
        "enable CONFIG_BUS or drop CONFIG_CONSOLE=y",
        "CONFIG_BIG=y was dropped: it depends on NUM > 100, and NUM=64; "
        "change CONFIG_NUM or drop CONFIG_BIG=y",
    ]


def test_all_violations_are_collected(tree: Path) -> None:
    fragment = (
        "CONFIG_FOO=y\nCONFIG_SELECTED=n\nCONFIG_SELECTOR=y\nCONFIG_HIDDEN=y\nCONFIG_TUNED=n\n"
    )
    with pytest.raises(config.UnmetConfig) as caught:
        configure(tree, fragment)
    assert str(caught.value).startswith(
        "CONFIG_FOO=y was dropped: it depends on BAR && (BAZ || !QUX), "
    )
    assert "(+3 more unmet settings); enable CONFIG_BAR" in str(caught.value)
    assert caught.value.details[1:] == [
        "CONFIG_SELECTED=n cannot hold: it is selected by SELECTOR=y; "
        "disable CONFIG_SELECTOR or drop CONFIG_SELECTED=n",
        "CONFIG_HIDDEN=y was dropped: HIDDEN has no prompt and is set only by its default; "
        "drop CONFIG_HIDDEN=y",
        "CONFIG_TUNED=n was dropped: its prompt is hidden unless EXPERT, and EXPERT=n; "
        "enable CONFIG_EXPERT or drop CONFIG_TUNED=n",
    ]


def test_value_outside_range_is_clamped_like_c(tree: Path) -> None:
    with pytest.raises(config.UnmetConfig) as caught:
        configure(tree, "CONFIG_NUM=100000\n")
    assert str(caught.value) == (
        "CONFIG_NUM=100000 is outside its range 2..512, so it became 512; "
        "use a value in the range or drop CONFIG_NUM=100000"
    )
    assert entries((tree.parent / "build/.config").read_text())["NUM"] == "512"
    assert kconfiglib_alone(tree, "CONFIG_NUM=100000\n").syms["NUM"].str_value == "64"


def test_invalid_value_is_reported(tree: Path) -> None:
    with pytest.raises(
        config.UnmetConfig, match=r"^CONFIG_NUM=012 is not a valid int value; fix the value"
    ):
        configure(tree, "CONFIG_NUM=012\n")


def test_imply_is_limited_by_dependencies_like_c(tree: Path) -> None:
    fragment = "CONFIG_MODULES=y\nCONFIG_DRIVER=y\nCONFIG_BUS=m\n"
    assert configure(tree, fragment)["HELPER"] == "m"
    assert kconfiglib_alone(tree, fragment).syms["HELPER"].str_value == "y"
    # with its dependency off C still writes the implied symbol, as n
    fragment = "CONFIG_DRIVER=y\n"
    assert configure(tree, fragment)["HELPER"] == "n"
    assert kconfiglib_alone(tree, fragment).syms["HELPER"].config_string == ""


def test_choice_member_set_to_n_skips_the_default_like_c(tree: Path) -> None:
    fragment = "# CONFIG_MODE_LAZY is not set\n"
    result = configure(tree, fragment)
    assert (result["MODE_STRICT"], result["MODE_LAZY"]) == ("y", "n")
    assert kconfiglib_alone(tree, fragment).syms["MODE_LAZY"].str_value == "y"


def test_choice_with_every_member_n_takes_the_earliest_n(tree: Path) -> None:
    fragment = """\
        # CONFIG_MODE_STRICT is not set
        # CONFIG_MODE_LAZY is not set
        # CONFIG_MODE_PASSTHROUGH is not set
        """
    with pytest.raises(config.UnmetConfig) as caught:
        configure(tree, fragment)
    assert caught.value.details == [
        "CONFIG_MODE_STRICT=n cannot hold: one member of its choice must be y, and no other "
        "visible member is; set one of CONFIG_MODE_LAZY or CONFIG_MODE_PASSTHROUGH to y"
    ]
    assert entries((tree.parent / "build/.config").read_text())["MODE_STRICT"] == "y"


def test_choice_members_set_to_y_last_one_wins(tree: Path) -> None:
    with pytest.raises(config.UnmetConfig) as caught:
        configure(tree, "CONFIG_MODE_STRICT=y\nCONFIG_MODE_PASSTHROUGH=y\n")
    assert str(caught.value) == (
        "CONFIG_MODE_STRICT=y lost to CONFIG_MODE_PASSTHROUGH=y, set later in the same choice; "
        "set only one member of a choice to y"
    )


def test_select_from_choice_member_under_if_m_is_m_like_c(tree: Path) -> None:
    fragment = "CONFIG_MODULES=y\nCONFIG_USB=m\nCONFIG_USB_HOST_ROLE=y\n"
    result = configure(tree, fragment)
    assert (result["USB_HOST_ROLE"], result["ROLE_SWITCH"]) == ("y", "m")
    assert kconfiglib_alone(tree, fragment).syms["ROLE_SWITCH"].str_value == "y"


def test_hidden_choice_member_reports_the_choice_dependencies(tree: Path) -> None:
    with pytest.raises(config.UnmetConfig) as caught:
        configure(tree, "CONFIG_USB_HOST_ROLE=y\n")
    assert str(caught.value) == (
        "CONFIG_USB_HOST_ROLE=y was dropped: it depends on USB, and USB=n; "
        "enable CONFIG_USB or drop CONFIG_USB_HOST_ROLE=y"
    )


def test_modules_disabled_turns_m_into_y(tree: Path) -> None:
    with pytest.raises(
        config.UnmetConfig,
        match=r"^CONFIG_BUS=m became y: modules are disabled; set CONFIG_MODULES=y",
    ):
        configure(tree, "CONFIG_BUS=m\n")


def test_fragment_files_merge_like_kunit_py(tree: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "first.config", tmp_path / "second.config"
    first.write_text("CONFIG_BAR=y\n")
    second.write_text("CONFIG_EXPERT=y\n# CONFIG_QUX is not set\n")
    result = entries(
        config.configure(tree, tmp_path / "build", "um", [first, second]).path.read_text()
    )
    assert (result["BAR"], result["EXPERT"], result["QUX"]) == ("y", "y", "n")
    second.write_text("# CONFIG_BAR is not set\n")
    with pytest.raises(ConfigFailed, match="CONFIG_BAR is y in an earlier fragment but n"):
        config.configure(tree, tmp_path / "build", "um", [first, second])


def test_base_allnoconfig_answers_no_then_merges(tree: Path) -> None:
    result = configure(tree, "CONFIG_BAR=y\n", base="allnoconfig")
    # TUNED's n is ignored: its prompt is hidden, so its default applies
    assert (result["BAR"], result["QUX"], result["TUNED"], result["HIDDEN"]) == ("y", "n", "y", "y")
    assert configure(tree, "CONFIG_BAR=y\n", base="alldefconfig")["QUX"] == "y"


def test_base_defconfig_merges_on_the_arch_defconfig(tree: Path) -> None:
    result = config.configure(
        tree, tree.parent / "build", "x86_64", "CONFIG_BAR=y\n", base="defconfig"
    )
    values = entries(result.path.read_text())
    assert [values[k] for k in ("X86", "EXPERT", "QUX", "BAR")] == ["y", "y", "n", "y"]


def test_base_allmodconfig_answers_m_where_it_can(tree: Path) -> None:
    result = configure(tree, "", base="allmodconfig")
    assert {
        k: result[k]
        for k in ("MODULES", "BAR", "BUS", "HELPER", "USB", "USB_HOST_ROLE", "ROLE_SWITCH")
    } == {
        "MODULES": "y",
        "BAR": "y",  # bool: m counts as y
        "BUS": "m",
        "HELPER": "m",
        "USB": "m",
        "USB_HOST_ROLE": "y",
        "ROLE_SWITCH": "m",
    }


def test_malformed_fragment_line_is_a_config_failure(tree: Path) -> None:
    with pytest.raises(ConfigFailed, match=r"^<fragment>:2: cannot parse 'BAR=y'"):
        configure(tree, "CONFIG_FOO=n\nBAR=y\n")


def test_unknown_base_and_arch_are_usage_errors(tree: Path) -> None:
    with pytest.raises(UsageError, match="unknown config base"):
        configure(tree, "", base="tinyconfig")
    with pytest.raises(UsageError, match="ARCH=sparc is not an architecture"):
        config.configure(tree, tree.parent / "build", "sparc", "")


def test_missing_cross_compiler_names_the_package(tree: Path) -> None:
    with pytest.raises(MissingDependency) as caught:
        config.kconfig_env(tree, "parisc", "nonexistent-linux-gnu-")
    assert str(caught.value) == (
        "nonexistent-linux-gnu-gcc not found, needed to configure the kernel; "
        "install gcc-nonexistent-linux-gnu"
    )


def test_kconfig_env_mirrors_the_makefile(tree: Path) -> None:
    env = config.kconfig_env(tree, "um")
    assert {
        k: env[k] for k in ("ARCH", "SRCARCH", "CC", "LD", "KERNELVERSION", "CROSS_COMPILE")
    } == {
        "ARCH": "um",
        "SRCARCH": "um",
        "CC": "gcc",
        "LD": "ld",
        "KERNELVERSION": "6.12.0-test",
        "CROSS_COMPILE": "",
    }
    assert env["CC_VERSION_TEXT"].startswith("gcc") and "#" not in env["CC_VERSION_TEXT"]
    assert "SUBARCH" not in config.kconfig_env(tree, "x86_64")
    assert config.kconfig_env(tree, "x86_64")["SRCARCH"] == "x86"


def test_syntax_error_is_a_config_failure(tree: Path) -> None:
    (tree / "Kconfig").write_text(KCONFIG + 'config BROKEN\n\tbool "broken\n\tfrobnicate\n')
    with pytest.raises(ConfigFailed, match="do not parse"):
        configure(tree, "")


def test_unchanged_inputs_reuse_the_config(tree: Path) -> None:
    build = tree.parent / "build"
    first = config.configure(tree, build, "um", "CONFIG_BAR=y\n")
    again = config.configure(tree, build, "um", "CONFIG_BAR=y\n")
    assert (first.reused, again.reused) == (False, True)
    assert again.path.read_text() == first.path.read_text()


def test_changed_fragment_reconfigures(tree: Path) -> None:
    build = tree.parent / "build"
    config.configure(tree, build, "um", "CONFIG_BAR=y\n")
    changed = config.configure(tree, build, "um", "CONFIG_BAR=y\nCONFIG_EXPERT=y\n")
    assert not changed.reused
    assert entries(changed.path.read_text())["EXPERT"] == "y"


def test_changed_kconfig_or_edited_config_reconfigures(tree: Path) -> None:
    build = tree.parent / "build"
    config.configure(tree, build, "um", "CONFIG_BAR=y\n")
    (tree / "Kconfig").write_text(KCONFIG.replace('bool "baz"', 'bool "baz"\n\tdefault y'))
    rerun = config.configure(tree, build, "um", "CONFIG_BAR=y\n")
    assert not rerun.reused
    assert entries(rerun.path.read_text())["BAZ"] == "y"
    (build / ".config").write_text(
        rerun.path.read_text().replace("CONFIG_BAZ=y", "# CONFIG_BAZ is not set")
    )
    assert not config.configure(tree, build, "um", "CONFIG_BAR=y\n").reused


def test_failed_run_is_not_reused(tree: Path) -> None:
    for _ in range(2):
        with pytest.raises(config.UnmetConfig):
            configure(tree, "CONFIG_FOO=y\n")
    assert not (tree.parent / "build" / config.STAMP).exists()
