"""Exit codes and the one error type every stage raises.

Each failure a user can cause or fix is a GrowstackError: the CLI prints it as
one line, "what is wrong; what to do", and exits with its code. Anything else
escaping to the CLI is a bug in growstack and keeps its traceback.
"""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    """Process exit codes, documented in Documentation/usage.md."""

    OK = 0
    TESTS_FAILED = 1
    USAGE = 2  # bad command line or unreadable/invalid input file
    CRASHED = 3  # kernel crashed, hung (timeout) or printed no KTAP
    BUILD_FAILED = 4
    CONFIG_FAILED = 5
    SERIES_FAILED = 6  # a patch does not apply, a malformed series, a dirty tree
    BASE_FAILED = 7  # base tree cannot be had: missing package, checksum, download
    MISSING_DEPENDENCY = 8  # a tool growstack needs is not installed
    CHECK_FAILED = 9  # checkpatch found problems in a mailed patch
    MAIL_FAILED = 10  # preparing or sending the series by mail
    EXPORT_DIFFERS = 11  # the applied series does not re-export to patches/ unchanged
    NO_IDENTITY = 12  # git user.name or user.email is not set
    COVER_INCOMPLETE = 13  # a cover letter still holds placeholders
    OUTPUT_NOT_EMPTY = 14  # the directory for the mails is not empty
    NO_SIGNING_KEY = 15  # b4 cannot sign: no patatt key; --no-sign
    RESULTS_DIFFER = 16  # growstack compare: some test's outcome changed
    KCIDB_NO_TOKEN = 17  # growstack submit: $KCIDB_TOKEN is not set
    KCIDB_REJECTED = 18  # growstack submit: the endpoint answered with an HTTP error
    KCIDB_UNREACHABLE = 19  # growstack submit: no answer in time, or no connection
    KCIDB_INVALID = 20  # a KCIDB document does not validate against its schema
    OLD_LAYOUT = 21  # patches/ still holds one flat series: growstack migrate NAME
    TUXSUITE_NO_TOKEN = 22  # growstack plan --submit: no usable TuxSuite token or configuration
    TUXSUITE_FAILED = 23  # growstack plan --submit: refused, or TuxSuite cannot be reached


MEANING = {
    Exit.OK: "all tests passed",
    Exit.TESTS_FAILED: "tests failed",
    Exit.USAGE: "usage or input error",
    Exit.CRASHED: "the kernel crashed, timed out or printed no KTAP",
    Exit.BUILD_FAILED: "the kernel build failed",
    Exit.CONFIG_FAILED: "configuration failed",
    Exit.SERIES_FAILED: "the series does not apply, or the tree is dirty",
    Exit.BASE_FAILED: "the base tree cannot be had",
    Exit.MISSING_DEPENDENCY: "a tool or package is missing",
    Exit.CHECK_FAILED: "checkpatch found problems in a patch",
    Exit.MAIL_FAILED: "preparing or sending mail failed",
    Exit.EXPORT_DIFFERS: "the series does not re-export to an unchanged patches/",
    Exit.NO_IDENTITY: "no git identity (user.name, user.email)",
    Exit.COVER_INCOMPLETE: "the cover letter still holds placeholders",
    Exit.OUTPUT_NOT_EMPTY: "the output directory is not empty",
    Exit.NO_SIGNING_KEY: "no signing key for the mails",
    Exit.RESULTS_DIFFER: "the two results files differ",
    Exit.KCIDB_NO_TOKEN: "no KCIDB token in the environment",
    Exit.KCIDB_REJECTED: "the KCIDB endpoint refused the submission",
    Exit.KCIDB_UNREACHABLE: "the KCIDB endpoint did not answer",
    Exit.KCIDB_INVALID: "the KCIDB document does not validate",
    Exit.OLD_LAYOUT: "patches/ is in the old single-series layout",
    Exit.TUXSUITE_NO_TOKEN: "no usable TuxSuite token or configuration",
    Exit.TUXSUITE_FAILED: "TuxSuite refused the plan or cannot be reached",
}


class GrowstackError(Exception):
    """A failure the user can act on.

    `what` says what is wrong, `todo` what to do about it. Both are short,
    single sentences; str() joins them into the one line the CLI prints.
    """

    exit_code: Exit = Exit.USAGE

    def __init__(self, what: str, todo: str = "", *, exit_code: Exit | None = None):
        super().__init__(what)
        self.what = what
        self.todo = todo
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return f"{self.what}; {self.todo}" if self.todo else self.what


class UsageError(GrowstackError):
    exit_code = Exit.USAGE


class ConfigFailed(GrowstackError):
    exit_code = Exit.CONFIG_FAILED


class BuildFailed(GrowstackError):
    exit_code = Exit.BUILD_FAILED


class SeriesError(GrowstackError):
    exit_code = Exit.SERIES_FAILED


class BaseTreeError(GrowstackError):
    exit_code = Exit.BASE_FAILED


class MissingDependency(GrowstackError):
    exit_code = Exit.MISSING_DEPENDENCY


class CheckFailed(GrowstackError):
    exit_code = Exit.CHECK_FAILED


class MailError(GrowstackError):
    exit_code = Exit.MAIL_FAILED
