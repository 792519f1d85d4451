#!/usr/bin/env python3
"""Runs schemathesis over every /api/v2.0 operation a running Berth implements, checked against
Harbor's own OpenAPI document: no server errors, and every status code, content type, header and
response body as the document says for that operation.

    conformance.py BASE_URL ADMIN_USER:PASSWORD SWAGGER WORKDIR [EXAMPLES_JSON [MAX_EXAMPLES]]

Which operations Berth implements is asked of Berth itself, anonymously (so nothing changes): a
path it does not route answers 404 "no such API endpoint", a method it does not take 405; every
other answer means the operation exists. Those operations, and nothing else, go to schemathesis.
EXAMPLES_JSON maps path parameter names to values that name something the caller set up (a
project, a repository, an artifact, a user...): they become the parameters' examples, so requests
reach real content and its answers are checked too, beside the generated values that name
nothing. The exit status is schemathesis's: 0 only with zero failures.
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
# Where Harbor's document lists no code for an error that Harbor's own server answers too, the
# code Berth answers, added to that operation before the run. Each class says why; nothing else
# is changed, and every other answer must be one the document lists.
BAD_QUERY = (
    "400: a query parameter that is not what the document types it as (a page size that is no "
    "int64, a boolean that is neither, a malformed q): Harbor rejects it too (its binding, and "
    "lib/q answers 400 to a bad q), but documents 400 on only some of its listings"
)
NAMES_NOTHING = (
    "404: the id or name in the path names nothing; Harbor's server answers 404 (or, for a "
    "project, 403 to a signed-in caller), and this operation's document lists neither"
)
BAD_BODY = "400: a body that is not the operation's model; Harbor's binding rejects it too, undocumented"
CORRECTIONS = [
    ("get", "/quotas", "400", BAD_QUERY),
    ("get", "/registries", "400", BAD_QUERY),
    ("get", "/replication/executions", "400", BAD_QUERY),
    ("get", "/replication/executions/{id}/tasks", "400", BAD_QUERY),
    ("get", "/replication/policies", "400", BAD_QUERY),
    ("get", "/search", "400", BAD_QUERY),
    ("get", "/system/purgeaudit", "400", BAD_QUERY),
    ("get", "/system/gc", "400", BAD_QUERY),
    ("get", "/users", "400", BAD_QUERY),
    ("get", "/users/current/permissions", "400", BAD_QUERY),
    ("get", "/users/search", "400", BAD_QUERY),
    ("get", "/replication/policies/{id}", "404", NAMES_NOTHING),
    ("get", "/replication/executions/{id}/tasks", "404", NAMES_NOTHING),
    ("get", "/projects/{project_name}/logs", "404", NAMES_NOTHING),
    ("post", "/projects/{project_name_or_id}/members", "404", NAMES_NOTHING),
    ("get", "/projects/{project_name_or_id}/immutabletagrules", "404", NAMES_NOTHING),
    ("put", "/users/{user_id}/password", "404", NAMES_NOTHING),
    ("put", "/users/{user_id}/sysadmin", "400", BAD_BODY),
    ("get", "/retentions/{id}", "404", NAMES_NOTHING),
    ("put", "/retentions/{id}", "404", NAMES_NOTHING),
    ("put", "/retentions/{id}", "400", BAD_BODY),
    ("delete", "/retentions/{id}", "404", NAMES_NOTHING),
    ("post", "/retentions/{id}/executions", "404", NAMES_NOTHING),
    ("post", "/retentions/{id}/executions", "400", BAD_BODY),
    ("get", "/retentions/{id}/executions", "404", NAMES_NOTHING),
    ("get", "/retentions/{id}/executions", "400", BAD_QUERY),
    ("patch", "/retentions/{id}/executions/{eid}", "404", NAMES_NOTHING),
    ("patch", "/retentions/{id}/executions/{eid}", "400", BAD_BODY),
    ("get", "/retentions/{id}/executions/{eid}/tasks", "404", NAMES_NOTHING),
    ("get", "/retentions/{id}/executions/{eid}/tasks", "400", BAD_QUERY),
    ("get", "/retentions/{id}/executions/{eid}/tasks/{tid}", "404", NAMES_NOTHING),
]
# Where Harbor's document describes a body otherwise than Harbor's own server sends it, the
# schema as the server answers; each says why.
SCHEMA_CORRECTIONS = [
    (
        ("definitions", "ExtraAttrs", "additionalProperties"),
        {},
        "an image's extra_attrs hold strings (architecture, os, author...) and objects (config); "
        "the document allows objects only",
    ),
]
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


def correct(paths):
    """Adds the codes of CORRECTIONS to their operations; each must exist and lack its code."""
    for method, path, code, why in CORRECTIONS:
        responses = paths[path][method]["responses"]
        assert code not in responses, f"{method.upper()} {path} documents {code} already: drop the correction"
        responses[code] = {"description": f"Berth: {why}"}
        print(f"  {method.upper()} {path}: {code}")


def correct_schemas(spec):
    """Applies SCHEMA_CORRECTIONS, and types each artifact addition's content as what the
    addition is (build history: a list; layers: a list), not the document's plain string."""
    for path, schema, why in SCHEMA_CORRECTIONS:
        node = spec
        for key in path[:-1]:
            node = node[key]
        assert path[-1] in node, f"{'/'.join(path)} is gone from the document: drop the correction"
        node[path[-1]] = schema
        print(f"  {'/'.join(path)}: {why}")
    addition = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/additions/{addition}"
    if addition in spec["paths"]:
        spec["paths"][addition]["get"]["responses"]["200"]["schema"] = {}
        print(f"  GET {addition}: 200 is the addition's JSON (Harbor sends it so; the document says a string)")


def with_examples(spec, examples):
    """Gives the path parameters named in `examples` that value as their example, except on
    deletes: those would take the content away from every operation tested after them."""
    shared = spec.get("parameters", {})
    for item in spec["paths"].values():
        for method, op in item.items():
            if method not in METHODS or method == "delete":
                continue
            parameters = []
            for parameter in op.get("parameters", []):
                resolved = shared[parameter["$ref"].split("/")[-1]] if "$ref" in parameter else parameter
                if resolved.get("in") == "path" and resolved.get("name") in examples:
                    resolved = dict(resolved, **{"x-example": examples[resolved["name"]]})
                parameters.append(resolved)
            op["parameters"] = parameters


def main():
    base_url, credentials, swagger, workdir = sys.argv[1:5]
    examples = json.load(open(sys.argv[5], encoding="utf-8")) if len(sys.argv) > 5 else {}
    spec = yaml.safe_load(open(swagger, encoding="utf-8"))
    base = base_url.rstrip("/") + spec.get("basePath", "")
    spec["paths"] = implemented(spec, base)
    operations = sorted(f"{m.upper()} {p}" for p, item in spec["paths"].items() for m in item if m in METHODS)
    print(f"{len(operations)} operations implemented:", *operations, sep="\n  ", flush=True)
    print("codes Harbor answers but does not document, added:")
    correct(spec["paths"])
    correct_schemas(spec)
    with_examples(spec, examples)
    reduced = f"{workdir}/berth-api.yaml"
    with open(reduced, "w", encoding="utf-8") as out:
        yaml.safe_dump(spec, out)
    command = [
        # The CLI through this python, whose pip installed it (no PATH needed).
        sys.executable, "-m", "schemathesis.cli", "run", reduced,
        "--url", base,
        "--auth", credentials,
        "--checks", CHECKS,
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", sys.argv[6] if len(sys.argv) > 6 else "25",
        "--seed", "20261207",
        "--request-timeout", "20",
        # One worker: with two threads, Hypothesis (describing its strategies) and CPython 3.11's
        # parser raced ("SystemError: AST constructor recursion depth mismatch") and schemathesis
        # reported an operation as a runtime error though every case it sent had passed.
        "--workers", "1",
        "--no-color",
        # Replaying a failure against a server whose state moved on cannot reproduce it: report
        # each as found.
        "--no-shrink",
        # Path parameters with examples narrow what fits; that is intended.
        "--suppress-health-check", "filter_too_much",
    ]
    return subprocess.run(command, cwd=workdir, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
