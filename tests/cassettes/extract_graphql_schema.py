"""Writes tests/data/github-graphql-subset.graphql: the part of GitHub's GraphQL schema that
`app/github/client.py`'s queries and mutations use, so that `tests/test_app_read_pull_requests.py`
validates them with graphql-core without npm or the whole 1.2 MB schema.

The source is `schema.graphql` of the npm package `@octokit/graphql-schema` (GitHub's public
schema as octokit publishes it). Kept: every type a query names, with only the fields the
queries select (each with all its arguments), the interfaces those types implement among the
kept ones, and whole the enums, input objects and scalars the kept arguments and fields take.
Descriptions are dropped. An interface none of whose fields is selected keeps one field, and
each kept object keeps its kept interfaces' fields, so that the subset is a valid schema.

    .venv/bin/python tests/cassettes/extract_graphql_schema.py            # runs `npm pack`
    .venv/bin/python tests/cassettes/extract_graphql_schema.py --schema path/to/schema.graphql
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    build_schema,
    get_named_type,
    parse,
    print_ast,
    visit,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(HERE)]

from record import npm_file  # noqa: E402

from failclosed.app.github import client as github  # noqa: E402

PACKAGE = "@octokit/graphql-schema@15.26.1"
OUT = ROOT / "tests" / "data" / "github-graphql-subset.graphql"
BUILT_IN = {"String", "Int", "Float", "Boolean", "ID"}


def documents() -> dict[str, str]:
    """Every GraphQL document `app/github/client.py` sends, by a name."""
    return {
        "read_pull_requests, first query": github.pull_requests_query(2, True),
        "read_pull_requests, by number": github.pull_requests_query(2, False),
        "read_pull_requests, threads": github.THREAD_PAGE_QUERY,
        "read_pull_requests, comments": github.COMMENT_PAGE_QUERY,
        "review_threads": github.THREADS_QUERY,
        "read_files": github.read_query([2, 1]),
        "resolve_review_threads": github.resolve_mutation(2),
        "commit_files": github.COMMIT_MUTATION,
    }


def load_schema(path: Path | None) -> str:
    if path is not None:
        return path.read_text()
    return npm_file(PACKAGE, "schema.graphql").decode()


def used_fields(schema: GraphQLSchema) -> tuple[dict[str, set[str]], set[str]]:
    """(type name -> selected field names, every type name a document mentions)."""
    fields: dict[str, set[str]] = {}
    named: set[str] = set()
    info = TypeInfo(schema)

    class Collect(Visitor):
        def enter_field(self, node: Any, *_: Any) -> None:
            parent = info.get_parent_type()
            if parent is not None and not node.name.value.startswith("__"):
                fields.setdefault(parent.name, set()).add(node.name.value)
                named.add(parent.name)

        def enter_named_type(self, node: Any, *_: Any) -> None:
            named.add(node.name.value)

    for text in documents().values():
        visit(parse(text), TypeInfoVisitor(info, Collect()))
    return fields, named


def strip(node: Any) -> Any:
    """A copy of an SDL node without descriptions, at any depth."""
    node = copy.deepcopy(node)

    def walk(item: Any) -> None:
        if hasattr(item, "description"):
            object.__setattr__(item, "description", None)  # AST nodes are frozen
        for key in getattr(item, "keys", ()):
            value = getattr(item, key, None)
            for child in value if isinstance(value, (list, tuple)) else [value]:
                if hasattr(child, "kind"):
                    walk(child)

    walk(node)
    return node


def subset(schema: GraphQLSchema) -> str:
    fields, named = used_fields(schema)
    fields.setdefault("Query", set())
    fields.setdefault("Mutation", set())
    keep: dict[str, set[str]] = {name: set(f) for name, f in fields.items()}
    whole: set[str] = set()  # enums, inputs, scalars: kept whole
    pending = list(named | set(keep))
    while pending:
        name = pending.pop()
        kind = schema.get_type(name)
        if kind is None or name in BUILT_IN:
            continue
        if isinstance(kind, (GraphQLObjectType, GraphQLInterfaceType)):
            keep.setdefault(name, set())
            for field_name in list(keep[name]):
                field = kind.fields[field_name]
                refs = [get_named_type(field.type).name]
                refs += [get_named_type(arg.type).name for arg in field.args.values()]
                pending += [r for r in refs if r not in keep and r not in whole]
        elif isinstance(kind, GraphQLInputObjectType):
            if name not in whole:
                whole.add(name)
                pending += [get_named_type(f.type).name for f in kind.fields.values()]
        elif isinstance(kind, (GraphQLEnumType, GraphQLScalarType)):
            whole.add(name)
        elif isinstance(kind, GraphQLUnionType):
            raise SystemExit(f"a union ({name}) is not handled")
    objects = {n: t for n in keep if isinstance(t := schema.get_type(n), GraphQLObjectType)}
    interfaces = {n: t for n in keep if isinstance(t := schema.get_type(n), GraphQLInterfaceType)}
    for name, interface in interfaces.items():
        if not keep[name]:
            keep[name].add(sorted(interface.fields)[0])
    changed = True
    while changed:  # a kept type implements its kept interfaces' kept fields
        changed = False
        for name, kind in [*objects.items(), *interfaces.items()]:
            for interface in kind.interfaces:
                if interface.name in interfaces and not keep[interface.name] <= keep[name]:
                    keep[name] |= keep[interface.name]
                    changed = True
    for name in list(keep):  # a field added above may name a type not yet kept
        kind = schema.get_type(name)
        for field_name in keep[name]:
            field = kind.fields[field_name]  # type: ignore[union-attr]
            for ref in [
                get_named_type(field.type),
                *(get_named_type(a.type) for a in field.args.values()),
            ]:
                if ref.name not in keep and ref.name not in BUILT_IN:
                    if isinstance(
                        ref, (GraphQLEnumType, GraphQLScalarType, GraphQLInputObjectType)
                    ):
                        whole.add(ref.name)
                    else:
                        raise SystemExit(f"{name}.{field_name} needs {ref.name}: extend the script")
    parts = []
    for name in sorted(keep):
        kind = schema.get_type(name)
        node = strip(kind.ast_node)  # type: ignore[union-attr]
        kept = tuple(f for f in node.fields if f.name.value in keep[name])
        object.__setattr__(node, "fields", kept)
        implemented = tuple(i for i in node.interfaces or () if i.name.value in keep)
        object.__setattr__(node, "interfaces", implemented)
        object.__setattr__(node, "directives", ())
        parts.append(print_ast(node))
    for name in sorted(whole):
        parts.append(print_ast(strip(schema.get_type(name).ast_node)))  # type: ignore[union-attr]
    header = (
        f"# A subset of GitHub's GraphQL schema: npm {PACKAGE}, package/schema.graphql\n"
        "# (GitHub's public schema as octokit publishes it; MIT licence). Only the types and\n"
        "# fields app/github/client.py's documents use, descriptions dropped; written by\n"
        "# tests/cassettes/extract_graphql_schema.py. Do not edit by hand.\n\n"
        "schema {\n  query: Query\n  mutation: Mutation\n}\n"
    )
    return header + "\n" + "\n\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schema", type=Path, help="schema.graphql; default: npm pack " + PACKAGE)
    args = parser.parse_args()
    schema = build_schema(load_schema(args.schema), assume_valid_sdl=True)
    text = subset(schema)
    small = build_schema(text)  # a valid schema on its own
    from graphql import validate

    for name, document in documents().items():
        if errors := validate(small, parse(document)):
            raise SystemExit(f"{name}: {errors}")
    OUT.write_text(text)
    print(f"{OUT.relative_to(ROOT)}: {len(text):,} characters, {len(text.splitlines())} lines")


if __name__ == "__main__":
    main()
