"""Results as a KCIDB document, and its submission to a KCIDB endpoint.

KCIDB is KernelCI's database of results from any CI system. `document()`
turns a growstack results document (Documentation/results-schema.md) into
one checkout (the base plus the series), one build and its tests, in KCIDB
schema v5.3, validated with the kcidb-io package. `submit()` posts such a
document with a bearer token from $KCIDB_TOKEN.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import requests
from kcidb_io.schema import V5_3

from ..errors import Exit, GrowstackError, UsageError
from ..results.ktap import Status

ORIGIN = "growstack"
# Named, not kcidb_io's LATEST, so that a newer kcidb-io does not change what we write.
SCHEMA = V5_3
TOKEN_VARIABLE = "KCIDB_TOKEN"
DEFAULT_TIMEOUT = 60.0

# growstack's statuses in KCIDB's terms. XFAIL and TODO ran without judging
# the code (DONE); a crash or timeout left the test unfinished (ERROR); a
# suite that ran no tests is MISS.
_STATUS = {
    Status.PASS: "PASS",
    Status.FAIL: "FAIL",
    Status.SKIP: "SKIP",
    Status.XFAIL: "DONE",
    Status.TODO: "DONE",
    Status.TIMEOUT: "ERROR",
    Status.CRASHED: "ERROR",
    Status.NO_TESTS: "MISS",
}
# Units of the figures `growstack boot` records, by a word of their name.
_UNITS = {"ns": "ns", "kb": "KiB"}


def patchset_hash(patches: Iterable[bytes]) -> str:
    """KCIDB's patchset hash: sha256 over the newline-terminated sha256 of each patch, in order.

    The same as `sha256sum *.patch | cut -c-64 | sha256sum | cut -c-64`; "" for no patches.
    """
    lines = "".join(hashlib.sha256(patch).hexdigest() + "\n" for patch in patches)
    return hashlib.sha256(lines.encode()).hexdigest() if lines else ""


def document(results: dict[str, Any]) -> dict[str, Any]:
    """The KCIDB document of one growstack results document."""
    metadata = results.get("metadata", {})
    # The same results give the same IDs, so writing a document twice adds nothing.
    run_id = hashlib.sha256(json.dumps(results, sort_keys=True).encode()).hexdigest()[:16]
    checkout = _checkout(metadata, run_id)
    arch = metadata.get("arch", "")
    build = _build(metadata, f"{ORIGIN}:{arch or 'unknown'}-{run_id}", checkout["id"])
    tests = list(_tests(results, build["id"]))
    return {**SCHEMA.new(), "checkouts": [checkout], "builds": [build], "tests": tests}


def _checkout(metadata: dict[str, Any], run_id: str) -> dict[str, Any]:
    base = metadata.get("base") or {}
    patches = metadata.get("patchset_hash")
    checkout: dict[str, Any] = {"origin": ORIGIN}
    if base.get("commit") and patches is not None:
        # The same base and series are the same checkout, whichever run tested them.
        checkout["id"] = f"{ORIGIN}:{base['commit'][:12]}-{patches[:12] or 'none'}"
        checkout["patchset_hash"] = patches
        checkout["valid"] = True  # the series applied: its kernel was built and ran
    else:
        checkout["id"] = f"{ORIGIN}:{run_id}"
    if base:
        # growstack's base commit is made from a tarball, so it is no upstream
        # commit: the base is described, not given as a git commit hash.
        checkout["comment"] = f"Linux {base.get('kernel', '?')} from {base.get('source', '?')}"
        checkout["misc"] = {"base": base}
    elif metadata.get("source"):
        checkout["comment"] = f"console log {metadata['source']}"
    return checkout


def _build(metadata: dict[str, Any], build_id: str, checkout_id: str) -> dict[str, Any]:
    build: dict[str, Any] = {"id": build_id, "origin": ORIGIN, "checkout_id": checkout_id}
    if metadata.get("arch"):
        build["architecture"] = re.sub(r"[^a-z0-9_]", "_", metadata["arch"])
        # test, run and boot write results only after their kernel built.
        build["status"] = "PASS"
    if metadata.get("fragments"):
        build["config_name"] = "+".join(metadata["fragments"])
    if metadata.get("compiler"):
        build["compiler"] = metadata["compiler"]
    if metadata.get("engine"):  # the --engine it was built with
        build["misc"] = {"engine": metadata["engine"]}
    seconds = metadata.get("seconds") or {}
    if "build" in seconds:
        build["duration"] = seconds["build"]
    command = metadata.get("reproduce") or metadata.get("command")
    if command:
        build["command"] = command if isinstance(command, str) else shlex.join(command)
    return build


def _tests(results: dict[str, Any], build_id: str) -> Iterator[dict[str, Any]]:
    seen: dict[str, int] = {}
    for path, test in _reported(results.get("suites", []), ()):
        dotted = ".".join(path)
        seen[dotted] = seen.get(dotted, 0) + 1
        suffix = f"~{seen[dotted]}" if seen[dotted] > 1 else ""
        entry: dict[str, Any] = {
            "id": f"{build_id}:{dotted}{suffix}",
            "origin": ORIGIN,
            "build_id": build_id,
            "path": dotted,
            "status": _STATUS[Status(test["status"])],
        }
        if test.get("duration") is not None:
            entry["duration"] = test["duration"]
        if test.get("reason"):
            entry["comment"] = test["reason"]
        yield entry
    for name, value in (results.get("metadata", {}).get("figures") or {}).items():
        number: dict[str, Any] = {"value": value}
        unit = next((_UNITS[w] for w in name.split("_") if w in _UNITS), None)
        if unit:
            number["unit"] = unit
        yield {
            "id": f"{build_id}:figures.{name}",
            "origin": ORIGIN,
            "build_id": build_id,
            "path": f"figures.{_component(name, 0)}",
            "status": "DONE",
            "number": number,
        }


def _reported(
    tests: list[dict[str, Any]], parent: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """Test cases, and suites that failed when none of their cases did."""
    for test in tests:
        path = (*parent, _component(test["name"], test["number"]))
        subtests = test.get("subtests") or []
        failed = Status(test["status"]).is_failure
        if not subtests or (failed and not any(Status(s["status"]).is_failure for s in subtests)):
            yield path, test
        yield from _reported(subtests, path)


def _component(name: str, number: int) -> str:
    """A KCIDB path component: letters, digits, _ and - only; a nameless test is _N."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name) or f"_{number}"


def validate(doc: Any, what: str) -> None:
    """Raise KCIDB_INVALID unless `doc` is a valid KCIDB document of schema v5.x."""
    try:
        if not isinstance(doc, dict) or doc.get("version", {}).get("major") != SCHEMA.major:
            raise jsonschema.ValidationError(f"not a KCIDB v{SCHEMA.major} document")
        SCHEMA.validate(doc)
    except jsonschema.ValidationError as err:
        where = "/".join(str(p) for p in err.absolute_path)
        raise GrowstackError(
            f"{what} is not a valid KCIDB v{SCHEMA.major} document: "
            f"{err.message.splitlines()[0]}{f' at {where}' if where else ''}",
            "write it with `growstack test --kcidb`, `run --kcidb` or `parse --kcidb`",
            exit_code=Exit.KCIDB_INVALID,
        ) from None


def write(results: dict[str, Any], path: Path) -> None:
    doc = document(results)
    validate(doc, "the KCIDB document growstack made")
    try:
        path.write_text(json.dumps(doc, indent=2) + "\n")
    except OSError as err:
        raise UsageError(
            f"cannot write the KCIDB document to {path}: {err.strerror}",
            "pass a writable path",
        ) from None


def load(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}", "pass a readable file") from None
    except ValueError as err:
        raise GrowstackError(
            f"{path} is not JSON: {err}",
            "pass a KCIDB document written by growstack --kcidb",
            exit_code=Exit.KCIDB_INVALID,
        ) from None


def submit(url: str, path: Path, *, timeout: float = DEFAULT_TIMEOUT) -> int:
    """POST the KCIDB document at `path` to `url`; the number of objects it held."""
    token = os.environ.get(TOKEN_VARIABLE)
    if not token:
        raise GrowstackError(
            f"${TOKEN_VARIABLE} is not set",
            f"export {TOKEN_VARIABLE} with the token your KCIDB endpoint gave you",
            exit_code=Exit.KCIDB_NO_TOKEN,
        )
    if not url.startswith(("https://", "http://")):
        raise UsageError(f"{url} is not an http(s) URL", "pass the KCIDB endpoint's URL")
    doc = load(path)
    validate(doc, str(path))
    try:
        response = requests.post(
            url,
            data=json.dumps(doc).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            timeout=timeout,
        )
    except requests.Timeout:
        raise GrowstackError(
            f"{url} did not answer within {timeout:g} s",
            "try again later, or pass a longer --timeout",
            exit_code=Exit.KCIDB_UNREACHABLE,
        ) from None
    except requests.RequestException as err:
        raise GrowstackError(
            f"cannot reach {url}: {type(err).__name__}",
            "check the URL and the network",
            exit_code=Exit.KCIDB_UNREACHABLE,
        ) from None
    if not response.ok:
        said = (response.text.strip().splitlines() or [""])[0][:200]
        raise GrowstackError(
            f"{url} refused the document: HTTP {response.status_code} {response.reason}"
            + (f" ({said})" if said else ""),
            f"check ${TOKEN_VARIABLE} and the URL with the endpoint's operators",
            exit_code=Exit.KCIDB_REJECTED,
        )
    return int(SCHEMA.count(doc))
