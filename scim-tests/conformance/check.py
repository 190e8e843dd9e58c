#!/usr/bin/env python3
"""Run python-scim's scim2-tester against a running Roster and judge the result.

Usage:
    ROSTER_CONFORMANCE_TOKEN=... python check.py --url http://127.0.0.1:PORT/scim/v2 \
        --report report.json [--min-checks 135] [--label sqlite]

The token may also be given with --token (it then shows in `ps`; the environment is preferred).

It calls the library entry point `scim2_tester.check_server` (the CLI only prints coloured
text), prints one line per result that is not a success (SKIPPED included, so skips are
visible), writes every result to a JSON report, and exits non-zero when

  * any result has a failing status (see FAILING below), or
  * the client's discovery or the tester itself raised (a harness error), or
  * fewer than --min-checks checks were executed. scim2-tester silently skips every CRUD and
    PATCH check when the server's /Schemas or /ResourceTypes cannot be used, and only tests
    the attributes the server publishes, so a low count means the server was barely tested.
    SKIPPED results are not executed checks and do not count toward the minimum.

Exit codes: 0 all good, 1 failures or too few checks, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import traceback
from collections import Counter
from typing import Any

import httpx2
import scim2_tester
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status

# --- A fix for a defect of scim2-tester 0.5.2, applied here and documented in
# docs/CONFORMANCE.md. Its value generator (scim2_tester/filling.py, generate_random_value) has
# no branch for the SCIM dateTime type and falls through to `str(uuid.uuid4())`, which its own
# pydantic model then rejects before any request is sent ("Input should be a valid datetime").
# RFC 7643 §2.3.5 requires a dateTime to be an xsd:dateTime such as 2008-01-23T04:56:22Z, so a
# server that publishes a writable dateTime attribute (Roster's lifecycle extension does) makes
# seven User checks fail inside the tester. We wrap the generator so that dateTime fields get a
# valid RFC 3339 instant; every other value is the tester's own. The checks then exercise those
# attributes against Roster for real.
import datetime as _dt  # noqa: E402
import random as _random  # noqa: E402

import scim2_tester.filling as _filling  # noqa: E402
import scim2_tester.checkers.patch_add as _patch_add  # noqa: E402
import scim2_tester.checkers.patch_replace as _patch_replace  # noqa: E402

_original_generate = _filling.generate_random_value


def _generate_with_datetimes(context, path, *args, **kwargs):
    value = _original_generate(context, path, *args, **kwargs)
    binding = path.resolve()
    if binding is None or binding.target_type is not _dt.datetime:
        return value

    def instant() -> _dt.datetime:
        base = _dt.datetime(2020, 1, 1, tzinfo=_dt.timezone.utc)
        return base + _dt.timedelta(seconds=_random.randint(0, 10 * 365 * 86400))

    if isinstance(value, str):
        return instant()
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return [instant() for _ in value]
    return value


for _module in (_filling, _patch_add, _patch_replace):
    _module.generate_random_value = _generate_with_datetimes
# --- end of the scim2-tester fix

# --- Roster's Group governance extension is left out of the tester's Group model (documented
# in docs/CONFORMANCE.md). The tester fills every attribute a server publishes with random
# values and expects the token it was given to be able to write them. The governance attributes
# (urn:roster:params:scim:schemas:extension:governance:2.0:Group) deliberately break both
# assumptions: changing them needs the admin scope, which an HR-style scim.write token must not
# have (403, RFC 7644 §3.12 "the client is not authorized"), approvers must name existing
# resources and maxDurationDays is 1-3650 (400 invalidValue), and requiresApproval: true turns
# every later member add into an access request. The extension is still published and its
# /Schemas and /ResourceTypes documents are still checked by the tester's discovery checks;
# only the client's model of a Group (built from /ResourceTypes) does not carry it, so Group
# CRUD and PATCH checks exercise the core schema. Governance behaviour is tested by
# scim-tests/tests/compliance/governance.rs.
from scim2_client.client import SCIMClient as _SCIMClient  # noqa: E402

GOVERNANCE_EXTENSION = "urn:roster:params:scim:schemas:extension:governance:2.0:Group"
_original_describe_service = _SCIMClient._describe_service


def _describe_without_governance(self, schemas, resource_types, config):
    kept = []
    for rt in resource_types or []:
        extensions = rt.schema_extensions or []
        trimmed = [e for e in extensions if str(e.schema_) != GOVERNANCE_EXTENSION]
        if len(trimmed) != len(extensions):
            rt = rt.model_copy(update={"schema_extensions": trimmed or None})
        kept.append(rt)
    return _original_describe_service(self, schemas, kept, config)


_SCIMClient._describe_service = _describe_without_governance
# --- end of the governance adaptation

# How scim2-tester's statuses are judged (see the Status enum in scim2_tester/utils.py):
#   SUCCESS     MUST/MUST NOT met                        -> success
#   COMPLIANT   SHOULD/SHOULD NOT followed               -> success
#   ACCEPTABLE  RFC-compliant use of a MAY / robustness  -> success
#   DEVIATION   departs from a SHOULD                    -> failure (the issue asks that all
#               checks pass or that each exception is argued from the RFC text)
#   ERROR       violates a MUST/MUST NOT                 -> failure
#   CRITICAL    security risk / fundamental violation    -> failure
#   SKIPPED     not executed (filtering or prerequisite) -> skipped, shown, not executed
# Any status this script does not know (a newer tester) counts as a failure.
PASSING = {"SUCCESS", "COMPLIANT", "ACCEPTABLE"}
FAILING = {"DEVIATION", "ERROR", "CRITICAL"}
SKIPPED = {"SKIPPED"}

DEFAULT_MIN_CHECKS = 135


def category(status_name: str) -> str:
    if status_name in PASSING:
        return "success"
    if status_name in SKIPPED:
        return "skipped"
    return "failed"


def jsonable(value: Any, depth: int = 0) -> Any:
    """Best-effort conversion of a result's debugging data for the JSON report."""
    if depth > 20:
        return repr(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Status):
        return value.name
    if isinstance(value, BaseException):
        return {"exception": type(value).__name__, "message": str(value)}
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return dump(mode="json", exclude_none=True)
        except Exception:  # noqa: BLE001 - a partly invalid model: fall back to repr
            return repr(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [jsonable(v, depth + 1) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    return repr(value)


def one_line(text: Any, limit: int = 600) -> str:
    s = " ".join(str(text).split()) if text is not None else ""
    return s if len(s) <= limit else s[: limit - 3] + "..."


def make_client(url: str, token: str, timeout: float) -> SyncSCIMClient:
    http = httpx2.Client(
        base_url=url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
        # The server is on loopback: never route through a proxy from the environment.
        trust_env=False,
    )
    return SyncSCIMClient(http)


def main(argv: list[str]) -> int:
    # Die of Ctrl-C at once (the tester would otherwise record it as failed checks and go on),
    # so that run.sh sees the interrupt and cleans up.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="SCIM base URL, e.g. http://127.0.0.1:8080/scim/v2")
    parser.add_argument("--report", required=True, help="where to write the JSON report")
    parser.add_argument("--token", default=os.environ.get("ROSTER_CONFORMANCE_TOKEN"),
                        help="bearer token (default: $ROSTER_CONFORMANCE_TOKEN)")
    parser.add_argument("--min-checks", type=int, default=DEFAULT_MIN_CHECKS,
                        help=f"fail if fewer checks were executed (default {DEFAULT_MIN_CHECKS})")
    parser.add_argument("--label", default="conformance", help="name used in the output")
    parser.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout in seconds")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("no token: pass --token or set ROSTER_CONFORMANCE_TOKEN")
    if args.min_checks < 0:
        parser.error("--min-checks must be >= 0")

    label = args.label
    harness_errors: list[dict[str, str]] = []

    # 1. The client's own discovery, as a real client would do it first.
    client = make_client(args.url, args.token, args.timeout)
    discovered = True
    try:
        client.discover()
    except Exception as exc:  # noqa: BLE001 - any failure here is a finding, keep going
        discovered = False
        harness_errors.append({
            "title": "client.discover",
            "reason": f"{type(exc).__name__}: {exc}"
                      + (f" ({exc.__cause__})" if exc.__cause__ else ""),
        })
        # Let check_server do its own discovery from scratch, so its discovery checks report
        # what is wrong instead of running on a half-described client.
        client = make_client(args.url, args.token, args.timeout)

    # 2. The tester.
    results: list[Any] = []
    try:
        results = scim2_tester.check_server(client)
    except Exception as exc:  # noqa: BLE001
        harness_errors.append({
            "title": "scim2_tester.check_server",
            "reason": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
        })

    # 3. Count and show.
    by_status: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    rows = []
    for r in results:
        name = r.status.name if isinstance(r.status, Status) else str(r.status)
        cat = category(name)
        by_status[name] += 1
        by_category[cat] += 1
        rows.append({
            "status": name,
            "category": cat,
            "title": r.title,
            "resource_type": r.resource_type,
            "reason": r.reason,
            "tags": sorted(r.tags or []),
            "description": r.description,
            "data": jsonable(r.data),
        })

    for row in rows:
        if row["category"] == "success":
            continue
        where = f"[{row['resource_type']}] " if row["resource_type"] else ""
        print(f"{label}: {row['status']:<10} {where}{row['title']}: {one_line(row['reason'])}")
    for err in harness_errors:
        print(f"{label}: HARNESS    {err['title']}: {one_line(err['reason'])}")

    total = len(rows) + len(harness_errors)
    success = by_category["success"]
    failed = by_category["failed"] + len(harness_errors)
    skipped = by_category["skipped"]
    executed = len(rows) - skipped  # checks the tester actually ran
    too_few = executed < args.min_checks

    verdict_reasons = []
    if failed:
        verdict_reasons.append(f"{failed} failed")
    if too_few:
        verdict_reasons.append(
            f"only {executed} checks executed, at least {args.min_checks} required "
            "(scim2-tester silently skips checks whose prerequisites fail, e.g. every CRUD "
            "and PATCH check when discovery fails, and the rest of a PATCH check after its "
            "first error)"
        )
    ok = not verdict_reasons

    report = {
        "label": label,
        "url": args.url,
        "scim2_tester_version": _version("scim2-tester"),
        "scim2_client_version": _version("scim2-client"),
        "client_discovery_ok": discovered,
        "counts": {
            "total": total,
            "success": success,
            "failed": failed,
            "skipped": skipped,
            "executed": executed,
            "harness_errors": len(harness_errors),
            "by_status": dict(sorted(by_status.items())),
        },
        "min_checks": args.min_checks,
        "ok": ok,
        "verdict": "ok" if ok else "; ".join(verdict_reasons),
        "harness_errors": harness_errors,
        "results": rows,
    }
    report_dir = os.path.dirname(os.path.abspath(args.report))
    os.makedirs(report_dir, exist_ok=True)
    with open(args.report, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, ensure_ascii=False, default=repr)
        f.write("\n")

    statuses = ", ".join(f"{k} {v}" for k, v in sorted(by_status.items())) or "none"
    print(f"{label}: {total} checks, {success} success, {failed} failed, {skipped} skipped "
          f"({executed} executed, minimum {args.min_checks}; by status: {statuses})")
    if ok:
        print(f"{label}: OK")
        return 0
    print(f"{label}: FAIL: {report['verdict']}")
    return 1


def _version(dist: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:  # noqa: BLE001
        return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
