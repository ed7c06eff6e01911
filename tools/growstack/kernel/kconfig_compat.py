"""kconfiglib 14.1.0, adjusted to read and evaluate like Linux 6.12's scripts/kconfig.

kconfiglib follows the C tool of Linux 5.x. Since then the C tool changed in
ways that alter the .config it writes; each fix below names the C function
of 6.12 it mirrors. growstack's kernel tests compare the result with
`make olddefconfig` symbol for symbol; Documentation/config.md lists the
fixes with examples.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import kconfiglib
from kconfiglib import BOOL, HEX, INT, STRING, TRISTATE, Choice, Symbol, expr_value

# The user value conf_set_all_new_symbols() (conf.c) gives in each all*config
# mode; alldefconfig gives none.
ALL_NEW_VALUES = {"allnoconfig": 0, "allmodconfig": 1, "allyesconfig": 2}
# What sym_string_valid() accepts as an int or hex value.
_NUMBER = {INT: re.compile(r"-?(0|[1-9][0-9]*)"), HEX: re.compile(r"(0[xX])?[0-9a-fA-F]+")}


class KconfigSyntax(kconfiglib.Kconfig):
    """kconfiglib reading 6.12's Kconfig language, with kconfiglib's semantics."""

    def _tokenize(self, s: str) -> tuple:
        # Since 5.13 MODULES is marked by a bare `modules` line instead of
        # `option modules`; kconfiglib only knows the latter spelling.
        tokens = super()._tokenize(s)
        if len(tokens) == 2 and tokens[0] is kconfiglib._T_MODULES:
            return (kconfiglib._T_OPTION, kconfiglib._T_MODULES, None)
        return tokens


class Kconfig(KconfigSyntax):
    """A Kconfig tree evaluated like 6.12's C tool.

    Use load_config(), unset_values() and set_all_new_symbols() to give
    user values, then config_text() for the .config the C tool would write.
    """

    def __init__(self, filename: str = "Kconfig") -> None:
        # choice -> its members, most recently assigned first (_rank_choices)
        self._choice_priority: dict[Choice, list[Symbol]] = {}
        super().__init__(filename, warn=False)
        for choice in self.unique_choices:
            choice.__class__ = CompatChoice
        self._implied = self._limit_implies()
        self._numbers = [sym for sym in self.unique_defined_syms if sym.orig_type in (INT, HEX)]
        self._add_zero_defaults()

    def load_config(self, filename: str, replace: bool = True) -> str:
        message = super().load_config(filename, replace)
        if replace:
            self._choice_priority.clear()
        self._rank_choices(Path(filename))
        self._invalidate_all()
        self._fix_numbers()
        return message

    def unset_values(self) -> None:
        super().unset_values()
        self._choice_priority.clear()
        self._invalidate_all()

    def set_all_new_symbols(self, mode: str) -> None:
        """Answer every question like `make <mode>` (conf_set_all_new_symbols()).

        Each bool/tristate symbol that has a prompt somewhere, no user value
        and is no choice member gets the mode's value, whether or not the
        prompt is visible.
        """
        value = ALL_NEW_VALUES.get(mode)
        if value is None:
            return
        for node in self.node_iter():
            sym = node.item
            if (
                node.prompt
                and isinstance(sym, Symbol)
                and sym.orig_type in (BOOL, TRISTATE)
                and sym.user_value is None
                and sym.choice is None
            ):
                # C stores m for bool symbols too, where it counts as y.
                sym.user_value = 2 if value == 1 and sym.orig_type is BOOL else value
        self._invalidate_all()

    def config_text(self) -> str:
        """The .config contents, with the C tool's header."""
        header = f"#\n# Automatically generated file; DO NOT EDIT.\n# {self.mainmenu_text}\n#\n"
        return self._config_contents(header)

    def choice_priority(self, choice: Choice) -> list[Symbol]:
        """Members of choice, most recently assigned first, then in menu order."""
        return self._choice_priority.setdefault(choice, list(choice.syms))

    def _rank_choices(self, path: Path) -> None:
        # conf_read_simple() moves each choice member it reads, y or n, to
        # the head of the choice's priority list, so the last one read wins.
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.rstrip()
            if match := self._set_match(line):
                name, value = match.groups()
            elif match := self._unset_match(line):
                name, value = match.group(1), "n"
            else:
                continue
            sym = self.syms.get(name)
            if sym is not None and sym.choice is not None and value[:1] in ("y", "n"):
                order = self.choice_priority(sym.choice)
                order.remove(sym)
                order.insert(0, sym)

    def _limit_implies(self) -> dict[Symbol, object]:
        # sym_calc_value() computes an implied symbol as
        # (default || implied) && direct dependencies; kconfiglib takes the
        # plain maximum, and promotes m to y when a y symbol implies it.
        # Folding the direct dependencies into `imply` gives C's values.
        # Returns each implied symbol's original `imply` expression.
        implied = {}
        for sym in self.unique_defined_syms:
            if sym.weak_rev_dep is not self.n:
                implied[sym] = sym.weak_rev_dep
                sym.weak_rev_dep = self._make_and(sym.weak_rev_dep, sym.direct_dep)
        return implied

    def _add_zero_defaults(self) -> None:
        # sym_calc_value() starts an int/hex at 0/0x0, so a visible one
        # without an active default is written as 0; kconfiglib writes it
        # empty. A last default, active while the symbol is visible, fixes it.
        for sym in self._numbers:
            prompts = [node.prompt[1] for node in sym.nodes if node.prompt]
            if prompts:
                zero = self._lookup_const_sym("0" if sym.orig_type is INT else "0x0")
                sym.defaults.append((zero, functools.reduce(self._make_or, prompts, self.n)))

    def _fix_numbers(self) -> None:
        # C ignores int/hex values Python's int() takes, like "012" or "1_0"
        # (sym_string_valid()).
        for sym in self._numbers:
            if sym.user_value is not None and not accepts(sym, sym.user_value):
                sym.unset_value()
        # C clamps a value outside the range to the nearer end
        # (sym_validate_range()); kconfiglib falls back to the default.
        # Ranges may depend on other clamped symbols, hence the loop.
        changed = True
        while changed:
            changed = False
            for sym in self._numbers:
                if sym.user_value is not None and sym.visibility:
                    bound = _crossed_range_end(sym)
                    if bound is not None:
                        sym.set_value(bound)
                        changed = True

    def _config_contents(self, header: str) -> str:
        # C writes a symbol whose `imply` is active even when its
        # dependencies are not, as "# CONFIG_FOO is not set".
        for sym, imply in self._implied.items():
            if sym.orig_type in (BOOL, TRISTATE) and sym.choice is None:
                _ = sym.tri_value  # computes the value, and whether it is written
                if expr_value(imply):
                    sym._write_to_conf = True
        return super()._config_contents(header)


def accepts(sym: Symbol, value: str) -> bool:
    """Whether the C tool takes value, as written in a .config, for sym."""
    if sym.orig_type in (BOOL, TRISTATE):
        # conf_set_sym_val() looks at the first character only
        return value[:1] in ("y", "n") or (value[:1] == "m" and sym.orig_type is TRISTATE)
    if sym.orig_type is STRING:
        return len(value) >= 2 and value[0] == value[-1] == '"'
    pattern = _NUMBER.get(sym.orig_type)
    return bool(pattern and pattern.fullmatch(value))


def _strtoll(text: str, base: int) -> int:
    # Enough for range ends: C's strtoll() reads garbage as 0.
    try:
        return int(text, base)
    except ValueError:
        return 0


def _crossed_range_end(sym: Symbol) -> str | None:
    """The end of sym's active range its user value lies beyond, if any."""
    base = 10 if sym.orig_type is INT else 16
    for low, high, cond in sym.ranges:
        if expr_value(cond):
            value = _strtoll(sym.user_value, base)
            if value < _strtoll(low.str_value, base):
                return low.str_value
            if value > _strtoll(high.str_value, base):
                return high.str_value
            return None
    return None


class CompatChoice(Choice):
    """A choice evaluated like 6.12's sym_calc_choice() (symbol.c)."""

    __slots__ = ()  # Choice's layout, so parsed choices can switch to this class

    @property
    def tri_value(self) -> int:
        # kconfiglib makes choice members depend on the choice's mode; 6.12
        # makes them depend on what the choice depends on (_menu_finalize()).
        # So a `select` in a member of a choice inside `if FOO`, FOO=m, gives m.
        return expr_value(self.direct_dep)

    def _selection(self) -> Symbol | None:
        priority = [sym for sym in self.kconfig.choice_priority(self) if sym.visibility]
        # 1. the visible member most recently set to y
        for sym in priority:
            if sym.user_value == 2:
                return sym
        # 2. the default, unless it was set to n
        default = self._selection_from_defaults()
        if default is not None and default.user_value != 0:
            return default
        # 3. the first visible member without a value
        for sym in self.syms:
            if sym.visibility and sym.user_value is None:
                return sym
        # 4. the visible member set to n longest ago
        return priority[-1] if priority else None
