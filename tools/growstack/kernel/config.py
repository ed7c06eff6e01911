"""The config stage: write build_dir/.config from Kconfig fragments.

The result equals what the kernel's own tool writes for the same input:
fragments are merged like kunit.py merges kunitconfigs (kunitconfig.py),
written as .config, and run through `make olddefconfig` semantics, here
kconfiglib plus kconfig_compat's fixes instead of make.
A base other than olddefconfig first runs `make <base>` and merges the
fragments on top of its result. See Documentation/config.md.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kconfiglib
from kconfiglib import (
    AND,
    BOOL,
    EQUAL,
    NOT,
    OR,
    TRISTATE,
    UNEQUAL,
    Choice,
    Symbol,
    expr_str,
    expr_value,
)

from ..errors import ConfigFailed, MissingDependency, UsageError
from . import kunitconfig
from .kconfig_compat import ALL_NEW_VALUES, Kconfig, accepts

BASES = ("olddefconfig", "defconfig", "alldefconfig", *ALL_NEW_VALUES)
STAMP = ".growstack-config.json"
_STAMP_VERSION = 1

# The top Makefile's ARCH -> SRCARCH special cases.
_SRCARCH = {"i386": "x86", "x86_64": "x86", "sparc64": "sparc", "parisc64": "parisc", "sh64": "sh"}
# KBUILD_DEFCONFIG where an arch Makefile overrides scripts/kconfig's "defconfig".
_DEFCONFIG = {
    "x86_64": "x86_64_defconfig",
    "i386": "i386_defconfig",
    "parisc": "generic-32bit_defconfig",
    "parisc64": "generic-64bit_defconfig",
}
# The top Makefile's toolchain, all prefixed with CROSS_COMPILE.
_TOOLS = {"CC": "gcc", "LD": "ld", "AR": "ar", "NM": "nm", "OBJCOPY": "objcopy"}
_MEMO_SIZE = 4  # parsed trees kept per process: one per arch in use
_parsed: dict[tuple, tuple[str, Kconfig]] = {}
# A kconfiglib expression: a Symbol, a Choice or an (operator, operand...)
# tuple. kconfiglib has no type hints, so this cannot be narrower.
Expr = Any


@dataclass(frozen=True)
class ConfigResult:
    path: Path  # the written .config
    arch: str
    reused: bool  # inputs unchanged since the last run: nothing was recomputed
    seconds: float


@dataclass(frozen=True)
class Violation:
    """One fragment setting that does not hold in the result."""

    what: str
    todo: str

    def __str__(self) -> str:
        return f"{self.what}; {self.todo}"


class UnmetConfig(ConfigFailed):
    """Fragment settings the configuration does not have; all in .details."""

    def __init__(self, violations: Sequence[Violation]):
        first, more = violations[0], len(violations) - 1
        super().__init__(
            first.what + (f" (+{more} more unmet settings)" if more else ""), first.todo
        )
        self.details = [str(v) for v in violations]


# --- environment -----------------------------------------------------------


def srcarch(arch: str) -> str:
    """The arch/ directory of ARCH."""
    return _SRCARCH.get(arch, arch)


def _subarch() -> str:
    # scripts/subarch.include, for the hosts growstack runs on.
    machine = os.uname().machine
    if re.fullmatch(r"i.86|x86_64", machine):
        return "x86"
    return {"aarch64": "arm64", "s390x": "s390"}.get(machine, machine)


def _first_line(command: list[str], env: dict[str, str] | None = None) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, env=env, check=False).stdout
    except OSError:
        return ""
    return out.splitlines()[0] if out else ""


def _package(name: str, cross_compile: str) -> str:
    # Debian's cross toolchains: gcc-hppa-linux-gnu, binutils-x86-64-linux-gnu
    return f"{name}-{cross_compile.rstrip('-').replace('_', '-')}" if cross_compile else name


def _require(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        raise MissingDependency(
            f"{tool} not found, needed to configure the kernel", f"install {package}"
        )


def kernelversion(tree: Path) -> str:
    """KERNELVERSION as the top Makefile computes it."""
    head = (tree / "Makefile").read_text(encoding="utf-8", errors="replace")[:2000]
    v = dict(
        re.findall(r"^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)[ \t]*=[ \t]*(\S*)", head, re.M)
    )
    version = v.get("VERSION", "")
    if v.get("PATCHLEVEL"):
        version += "." + v["PATCHLEVEL"]
        if v.get("SUBLEVEL"):
            version += "." + v["SUBLEVEL"]
    return version + v.get("EXTRAVERSION", "")


def kconfig_env(tree: Path, arch: str, cross_compile: str | None = None) -> dict[str, str]:
    """The variables the top Makefile exports to scripts/kconfig for ARCH.

    Raises MissingDependency when the compiler or linker is missing: the
    Kconfig files probe them, and without them the C tool stops too.
    """
    prefix = cross_compile or ""
    tools = {var: prefix + tool for var, tool in _TOOLS.items()}
    _require(tools["CC"], _package("gcc", prefix))
    _require(tools["LD"], _package("binutils", prefix))
    env = {
        "srctree": str(tree),
        "ARCH": arch,
        "SRCARCH": srcarch(arch),
        "CROSS_COMPILE": prefix,
        **tools,
        "RUSTC": "rustc",
        "BINDGEN": "bindgen",
        "PAHOLE": "pahole",
        "PYTHON3": "python3",
        "CLANG_FLAGS": "",
        "KERNELVERSION": kernelversion(tree),
        "CC_VERSION_TEXT": _first_line(
            [tools["CC"], "--version"], {**os.environ, "LC_ALL": "C"}
        ).replace("#", ""),
        "RUSTC_VERSION_TEXT": _first_line(["rustc", "--version"]).replace("#", ""),
    }
    if arch == "um":  # arch/um/Makefile
        env["SUBARCH"] = _subarch()
        env["HEADER_ARCH"] = (
            "x86" if env["SUBARCH"] in ("x86", "x86_64", "i386") else env["SUBARCH"]
        )
    return env


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    # kconfiglib reads os.environ while parsing and its $(shell,...) children
    # inherit it. The Makefile unexports CONFIG_, which kconfiglib would
    # take as the symbol prefix.
    saved = dict(os.environ)
    os.environ.update(env)
    os.environ.pop("CONFIG_", None)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# --- cache -------------------------------------------------------------------


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def _tree_files(tree: Path, kconf: Kconfig) -> list[str]:
    # Everything the parse read: Kconfig files, and the scripts $(shell,...) runs.
    return sorted(
        {*kconf.kconfig_filenames, *(str(p.relative_to(tree)) for p in tree.glob("scripts/*.sh"))}
    )


def _files_digest(tree: Path, names: Sequence[str]) -> str | None:
    try:
        return _digest(*(name.encode() + b"\0" + (tree / name).read_bytes() for name in names))
    except OSError:
        return None


def _reusable(build_dir: Path, key: str, tree: Path) -> bool:
    try:
        stamp = json.loads((build_dir / STAMP).read_text())
        config = (build_dir / ".config").read_bytes()
    except (OSError, ValueError):
        return False
    return (
        stamp.get("key") == key
        and stamp.get("config") == _digest(config)
        and stamp.get("tree") == _files_digest(tree, stamp.get("files", []))
    )


def _write_stamp(build_dir: Path, key: str, tree: Path, files: list[str]) -> None:
    stamp = {
        "key": key,
        "config": _digest((build_dir / ".config").read_bytes()),
        "files": files,
        "tree": _files_digest(tree, files),
    }
    (build_dir / STAMP).write_text(json.dumps(stamp, indent=1) + "\n")


# --- configuring ---------------------------------------------------------------


def _parse(tree: Path, env: dict[str, str], workdir: Path) -> Kconfig:
    """The tree's Kconfig for env, parsed once per process while unchanged."""
    memo_key = (str(tree), tuple(sorted(env.items())))
    if memo_key in _parsed:
        digest, kconf = _parsed[memo_key]
        if _files_digest(tree, _tree_files(tree, kconf)) == digest:
            return kconf
    # $(cc-option) probes write to the current directory; a read-only one
    # silently turns them all to n.
    with _environment(env), contextlib.chdir(workdir):
        try:
            kconf = Kconfig("Kconfig")
        except (kconfiglib.KconfigError, OSError) as e:
            raise ConfigFailed(
                f"the Kconfig files of {tree} do not parse: {str(e).strip().splitlines()[0]}",
                "fix the Kconfig syntax (a patch of the series may have broken it)",
            ) from e
    read = _files_digest(tree, _tree_files(tree, kconf))
    if read is not None:  # a tree whose files cannot all be read is parsed every time
        while len(_parsed) >= _MEMO_SIZE:
            del _parsed[next(iter(_parsed))]
        _parsed[memo_key] = (read, kconf)
    return kconf


def _defconfig_name(arch: str) -> str:
    if arch != "um":
        return _DEFCONFIG.get(arch, "defconfig")
    if _subarch() == "x86":  # arch/um/Makefile
        return "x86_64_defconfig" if os.uname().machine == "x86_64" else "i386_defconfig"
    return f"{_subarch()}_defconfig"


def _defconfig_file(tree: Path, arch: str) -> Path:
    name = _defconfig_name(arch)
    path = tree / "arch" / srcarch(arch) / "configs" / name
    if not path.is_file():
        raise UsageError(f"no defconfig for ARCH={arch} (looked for {path})", "use another base")
    return path


def _base_entries(kconf: Kconfig, base: str, defconfig: Path | None) -> dict[str, str]:
    """What `make <base>` writes, as entries (none for olddefconfig)."""
    if base == "olddefconfig":
        return {}
    if defconfig is not None:
        kconf.load_config(str(defconfig))
    else:
        kconf.unset_values()
        kconf.set_all_new_symbols(base)
    return kunitconfig.parse(kconf.config_text(), "the base config")


def _write_atomic(path: Path, text: str) -> None:
    # conf_write() also writes .config.<pid>.tmp and renames it
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def configure(
    tree: Path,
    build_dir: Path,
    arch: str,
    fragments: Sequence[Path] | str,
    *,
    cross_compile: str | None = None,
    base: str = "olddefconfig",
) -> ConfigResult:
    """Write build_dir/.config for ARCH from fragments: paths, merged as
    kunit.py merges kunitconfigs, or the merged text itself.

    Raises UsageError for a bad base or arch, MissingDependency for a
    missing compiler, ConfigFailed for a bad fragment, and UnmetConfig (a
    ConfigFailed) when a fragment setting does not hold in the result.
    """
    start = time.monotonic()
    tree, build_dir = Path(tree).resolve(), Path(build_dir).resolve()
    if base not in BASES:
        raise UsageError(f"unknown config base {base!r}", f"use one of {', '.join(BASES)}")
    if not (tree / "arch" / srcarch(arch) / "Kconfig").is_file():
        raise UsageError(f"ARCH={arch} is not an architecture of {tree}", "check the arch name")
    if isinstance(fragments, str):
        requested = kunitconfig.parse(fragments, "<fragment>")
    else:
        requested = kunitconfig.merge(list(fragments), [], "")
    env = kconfig_env(tree, arch, cross_compile)
    defconfig = _defconfig_file(tree, arch) if base == "defconfig" else None
    key = _digest(
        json.dumps([_STAMP_VERSION, base, sorted(env.items()), list(requested.items())]).encode(),
        defconfig.read_bytes() if defconfig else b"",
    )
    dot_config = build_dir / ".config"
    if _reusable(build_dir, key, tree):
        return ConfigResult(dot_config, arch, True, time.monotonic() - start)

    build_dir.mkdir(parents=True, exist_ok=True)
    (build_dir / STAMP).unlink(missing_ok=True)
    kconf = _parse(tree, env, build_dir)
    merged = _base_entries(kconf, base, defconfig) | requested
    # Like kunit.py: the merged fragment is the .config that olddefconfig reads.
    _write_atomic(dot_config, kunitconfig.render(merged))
    kconf.load_config(str(dot_config))
    _write_atomic(dot_config, kconf.config_text())

    violations = _unmet_settings(
        kconf, requested, kunitconfig.parse(dot_config.read_text(), str(dot_config))
    )
    if violations:
        raise UnmetConfig(violations)
    _write_stamp(build_dir, key, tree, _tree_files(tree, kconf))
    return ConfigResult(dot_config, arch, False, time.monotonic() - start)


# --- explaining what did not hold ----------------------------------------------


def _unmet_settings(
    kconf: Kconfig, requested: dict[str, str], result: dict[str, str]
) -> list[Violation]:
    """Why each requested setting is not in result (kunit.py's subset check)."""
    violations = []
    for name, value in requested.items():
        got = result.get(name, "n")
        sym = kconf.syms.get(name)
        if sym is not None and sym.orig_type in (BOOL, TRISTATE):
            value, got = value[:1], got[:1]  # C reads only the first character
        if value != got:
            violations.append(_explain(kconf, name, value, got))
    return violations


def _explain(kconf: Kconfig, name: str, value: str, got: str) -> Violation:
    setting = f"CONFIG_{name}={value}"
    sym = kconf.syms.get(name)
    if sym is None or not sym.nodes:
        return _unknown(kconf, name, setting)
    if not accepts(sym, value):
        what = f"{setting} is not a valid {kconfiglib.TYPE_TO_STR[sym.orig_type]} value"
        return Violation(what, f"fix the value of CONFIG_{name}")
    if sym.choice is not None:
        return _explain_choice(kconf, sym, setting, kconfiglib.STR_TO_TRI[value])
    if sym.orig_type in (BOOL, TRISTATE):
        return _explain_tristate(kconf, sym, setting, kconfiglib.STR_TO_TRI[value])
    return _explain_hidden(kconf, sym, setting, 2) or _explain_range(sym, setting, got)


def _unknown(kconf: Kconfig, name: str, setting: str) -> Violation:
    what = (
        f"{setting} names no symbol of {kconf.mainmenu_text.removesuffix(' Kernel Configuration')}"
    )
    close = difflib.get_close_matches(
        name, [s.name for s in kconf.unique_defined_syms], n=3, cutoff=0.8
    )
    if close:
        what += ", did you mean " + " or ".join(f"CONFIG_{c}" for c in close) + "?"
    return Violation(what, f"fix or drop CONFIG_{name}")


def _explain_tristate(kconf: Kconfig, sym: Symbol, setting: str, want: int) -> Violation:
    drop = f"drop {setting}"
    if want == 1 and sym.orig_type is TRISTATE and not kconf.modules.tri_value:
        return Violation(
            f"{setting} became y: modules are disabled", f"set CONFIG_MODULES=y or {drop}"
        )
    selectors = [
        _selector(t) for t in kconfiglib.split_expr(sym.rev_dep, OR) if expr_value(t) > want
    ]
    if selectors:
        what = f"{setting} cannot hold: it is selected by {_values(selectors)}"
        return Violation(what, f"disable {_names(selectors)} or {drop}")
    # a user value needs a visible prompt, even to say n
    return _explain_hidden(kconf, sym, setting, max(want, 1)) or _unexplained(sym, setting)


def _explain_choice(kconf: Kconfig, sym: Symbol, setting: str, want: int) -> Violation:
    if want == 2 and not sym.visibility:
        return _explain_hidden(kconf, sym, setting, want) or _unexplained(sym, setting)
    if want == 2:
        winner = sym.choice.selection
        what = f"{setting} lost to CONFIG_{winner.name}=y, set later in the same choice"
        return Violation(what, "set only one member of a choice to y")
    others = [s for s in sym.choice.syms if s is not sym and s.visibility]
    if not others:
        return Violation(
            f"{setting} cannot hold: it is the only visible member of its choice", f"drop {setting}"
        )
    what = (
        f"{setting} cannot hold: one member of its choice must be y, and no other visible member is"
    )
    return Violation(what, f"set one of {_names(others, ' or ')} to y")


def _explain_range(sym: Symbol, setting: str, got: str) -> Violation:
    for low, high, cond in sym.ranges:
        if expr_value(cond):
            what = (
                f"{setting} is outside its range {low.str_value}..{high.str_value}, "
                f"so it became {got}"
            )
            return Violation(what, f"use a value in the range or drop {setting}")
    return _unexplained(sym, setting)


def _explain_hidden(kconf: Kconfig, sym: Symbol, setting: str, want: int) -> Violation | None:
    """Why no prompt of sym allows `want`: none, dependencies, or prompt condition."""
    drop = f"drop {setting}"
    prompts = [node for node in sym.nodes if node.prompt]
    if not prompts:
        selectors = [
            _selector(t) for t in kconfiglib.split_expr(sym.rev_dep, OR) if t is not kconf.n
        ]
        if not selectors:
            return Violation(
                f"{setting} was dropped: {sym.name} has no prompt and is set only by its default",
                drop,
            )
        what = (
            f"{setting} was dropped: {sym.name} has no prompt and is set only by select, "
            f"from {_names(selectors)}"
        )
        return Violation(what, f"enable {_names(selectors, ' or ')} or {drop}")
    condition = functools.reduce(kconf._make_or, (node.orig_prompt[1] for node in prompts), kconf.n)
    for label, expr in (
        ("it depends on", sym.direct_dep),
        ("its prompt is hidden unless", condition),
    ):
        expr = _inline(kconf, expr)
        if expr_value(expr) < want:
            culprits = _culprits(expr, want)
            what = f"{setting} was dropped: {label} {expr_str(expr)}"
            fixes = _fixes(culprits)
            return Violation(
                f"{what}, and {_values(culprits)}" if culprits else what,
                f"{fixes} or {drop}" if fixes else drop,
            )
    return None


def _unexplained(sym: Symbol, setting: str) -> Violation:
    return Violation(
        f"{setting} did not hold, {sym.name}={sym.str_value}", f"inspect {sym.name} in menuconfig"
    )


def _inline(kconf: Kconfig, expr: Expr) -> Expr:
    """expr for people: choices replaced by their dependencies, `y` and
    repeated operands (from nested menus and ifs) dropped."""
    if isinstance(expr, Choice):
        return _inline(kconf, expr.direct_dep)
    if isinstance(expr, tuple) and expr[0] in (AND, OR):
        make = kconf._make_and if expr[0] is AND else kconf._make_or
        operands = dict.fromkeys(_inline(kconf, e) for e in kconfiglib.split_expr(expr, expr[0]))
        return functools.reduce(make, operands)
    return expr


def _culprits(expr: Expr, want: int) -> dict[Symbol, bool | None]:
    """Symbols keeping expr below want, each mapped to whether it is too low
    (None: compared with something, so it is neither)."""
    found: dict[Symbol, bool | None] = {}

    def visit(e: Expr, limit: int, low: bool) -> None:
        # low: e must reach limit; otherwise e must not exceed limit
        value = expr_value(e)
        if (value >= limit) if low else (value <= limit):
            return
        if not isinstance(e, tuple):
            if not e.is_constant:
                found.setdefault(e, low)
        elif e[0] is NOT:
            visit(e[1], 2 - limit, not low)
        elif e[0] in (AND, OR):
            visit(e[1], limit, low)
            visit(e[2], limit, low)
        else:  # a comparison: blame its symbols (undefined ones are literals, like 100)
            wants_on = _wants_on(e)
            for side in e[1:]:
                if side.nodes:
                    found.setdefault(side, None if wants_on is None else wants_on == low)

    visit(expr, want, True)
    return found


def _wants_on(comparison: tuple) -> bool | None:
    """For `FOO = y`, `FOO != n` and the like: whether it needs FOO on."""
    op, left, right = comparison
    constant = right if right.is_constant else left
    if op not in (EQUAL, UNEQUAL) or constant.name not in ("y", "m", "n"):
        return None
    return (constant.name != "n") == (op is EQUAL)


def _fixes(culprits: dict[Symbol, bool | None]) -> str:
    """Advice on the culprits a user can set: enable, disable or change them."""
    fixes = []
    for verb, direction in (("enable", True), ("disable", False), ("change", None)):
        symbols = [s for s, low in culprits.items() if low is direction and _has_prompt(s)]
        if symbols:
            fixes.append(f"{verb} {_names(symbols)}")
    return " and ".join(fixes)


def _has_prompt(sym: Symbol) -> bool:
    return any(node.prompt for node in sym.nodes)


def _selector(term: Expr) -> Symbol:
    # select/imply add `selecting_symbol && condition` to the target
    return term[1] if isinstance(term, tuple) else term


def _names(symbols: Sequence[Symbol], separator: str = ", ") -> str:
    return separator.join(f"CONFIG_{s.name}" for s in symbols)


def _values(symbols: Iterable[Symbol]) -> str:
    def value(sym: Symbol) -> str:
        if not sym.nodes:
            return f"{sym.name} is undefined"
        return f"{sym.name}={sym.str_value}" + ("" if _has_prompt(sym) else " (no prompt)")

    return ", ".join(value(s) for s in symbols)
