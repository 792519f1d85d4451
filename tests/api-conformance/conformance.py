#!/usr/bin/env python3
"""Runs schemathesis over every /api/v2.0 operation a running Berth implements, checked against
Harbor's own OpenAPI document: no server errors, and every status code, content type, header and
response body as the document says for that operation.

    conformance.py BASE_URL ADMIN_USER:PASSWORD SWAGGER WORKDIR

Which operations Berth implements is asked of Berth itself, anonymously (so nothing changes): a
path it does not route answers 404 "no such API endpoint", a method it does not take 405; every
other answer means the operation exists. Those operations, and nothing else, go to schemathesis.
The exit status is schemathesis's: 0 only with zero failures.
"""

import json
import subprocess
import sys
import urllib.error
import urllib.request

import yaml

METHODS = ("get", "put", "post", "delete", "patch", "head")
# What Berth's API answers for a path it has no route for (crates/api/src/error.rs).
UNROUTED = "no such API endpoint"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)


def probe(base, method, path):
    """Whether Berth routes `method path` (its path parameters filled with placeholders)."""
    filled = path
    while "{" in filled:
        start, end = filled.index("{"), filled.index("}")
        filled = filled[:start] + "1" + filled[end + 1 :]
    request = urllib.request.Request(base + filled, method=method.upper())
    if method in ("put", "post", "patch"):
        request.data = b"{}"
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10):
            return True
    except urllib.error.HTTPError as e:
        if e.code == 405:
            return False
        if e.code == 404:
            body = e.read().decode(errors="replace")
            try:
                messages = [err.get("message") for err in json.loads(body).get("errors", [])]
            except ValueError:
                messages = []
            return UNROUTED not in messages
        return True


def implemented(spec, base):
    """The document reduced to the operations Berth implements."""
    paths = {}
    for path, item in spec["paths"].items():
        kept = {m: op for m, op in item.items() if m in METHODS and probe(base, m, path)}
        if kept:
            if "parameters" in item:
                kept["parameters"] = item["parameters"]
            paths[path] = kept
    return paths


def main():
    base_url, credentials, swagger, workdir = sys.argv[1:5]
    spec = yaml.safe_load(open(swagger, encoding="utf-8"))
    base = base_url.rstrip("/") + spec.get("basePath", "")
    spec["paths"] = implemented(spec, base)
    operations = sorted(f"{m.upper()} {p}" for p, item in spec["paths"].items() for m in item if m in METHODS)
    print(f"{len(operations)} operations implemented:", *operations, sep="\n  ", flush=True)
    reduced = f"{workdir}/berth-api.yaml"
    with open(reduced, "w", encoding="utf-8") as out:
        yaml.safe_dump(spec, out)
    command = [
        "st", "run", reduced,
        "--url", base,
        "--auth", credentials,
        "--checks", CHECKS,
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", sys.argv[5] if len(sys.argv) > 5 else "25",
        "--seed", "20261207",
        "--request-timeout", "20",
        "--workers", "2",
        "--no-color",
    ]
    return subprocess.run(command, cwd=workdir, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
