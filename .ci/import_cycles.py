#!/usr/bin/env python3
"""Fails when the files of a module tree import each other in a cycle.

Usage: python3 .ci/import_cycles.py [CRATE_SRC] [MODULE] [-v]
(default: tsercom/src runtime; -v prints every edge), or
python3 .ci/import_cycles.py --self-test (small trees with and without
cycles, to check the checker).

The graph: one node per source file of CRATE_SRC/MODULE (`x.rs` or
`x/mod.rs`, recursively); an edge A -> B when A names an item of B through
a path — in a `use` declaration or inline in code — starting with
`crate::`, `super::` or `self::` (brace groups expanded, inline `mod x { }`
blocks such as unit tests tracked, so `super::*` in a file's `mod tests`
means that file). A path is resolved through the module tree as far as it
names modules; the file of the last module named is the target. Edges from
a module to itself are ignored, and so are a parent file's `mod child;`
declarations and its re-exports of its children (`pub use child::...`,
`pub(crate) use ...`): that is the module's table of contents, not a
dependency. A path to an item a module re-exports from a child (e.g.
`super::RuntimeContext`, defined in `context.rs`) is an edge to the
child's file. Comments and string literals are ignored.

Exit status 1 and the cycles printed when there is one, else 0 with the
number of files and edges.
"""

import re
import sys
from pathlib import Path


def strip(src):
    """Removes comments, string and char literals (keeps line structure)."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if src.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif src.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    if src[i] == "\n":
                        out.append("\n")
                    i += 1
        elif c == "r" and re.match(r'r#*"', src[i:i + 10]) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            m = re.match(r'r(#*)"', src[i:])
            end = src.find('"' + m.group(1), i + len(m.group(0)))
            end = n if end < 0 else end + 1 + len(m.group(1))
            out.append('""' + "\n" * src.count("\n", i, end))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append('""' + "\n" * src.count("\n", i, j))
            i = j + 1
        elif c == "'":
            # A char literal ('a', '\n', '\u{..}'), not a lifetime ('a).
            m = re.match(r"'(\\(u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^\\'])'", src[i:])
            if m:
                out.append("' '")
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def module_files(src_root, module):
    """{module path tuple: file} for `module` and everything under it."""
    files = {}
    base = src_root / module
    if (src_root / f"{module}.rs").exists():
        files[(module,)] = src_root / f"{module}.rs"
    if (base / "mod.rs").exists():
        files[(module,)] = base / "mod.rs"
    if base.is_dir():
        for path in sorted(base.rglob("*.rs")):
            rel = path.relative_to(src_root).with_suffix("")
            parts = tuple(rel.parts)
            if parts[-1] == "mod":
                parts = parts[:-1]
            files[parts] = path
    return files


def expand_use(tree):
    """`a::{b, c::{d, e as f}}` -> ['a::b', 'a::c::d', 'a::c::e']."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)
    tree = re.sub(r"\s+", "", tree)
    depth, start = 0, None
    for i, c in enumerate(tree):
        if c == "{":
            if depth == 0:
                start = i
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                prefix, inner, rest = tree[:start], tree[start + 1:i], tree[i + 1:]
                items, d, s = [], 0, 0
                for j, ch in enumerate(inner):
                    if ch == "{":
                        d += 1
                    elif ch == "}":
                        d -= 1
                    elif ch == "," and d == 0:
                        items.append(inner[s:j])
                        s = j + 1
                items.append(inner[s:])
                result = []
                for item in items:
                    if item:
                        result += expand_use(prefix + item + rest)
                return result
    return [tree]


PATH = re.compile(r"\b(?:crate|super|self)(?:::(?:\w+|\*))+")
USE = re.compile(r"\b(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);")
MOD_OPEN = re.compile(r"\bmod\s+(\w+)\s*\{")


def resolve(path, here, modules, reexports):
    """The module a path names (as far as it names modules; an item a
    module re-exports from a child counts as the child's), or None."""
    segs = path.split("::")
    if segs[0] == "crate":
        cur, segs = (), segs[1:]
    else:
        cur = here
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                cur = cur[:-1]
            segs = segs[1:]
    for s in segs:
        if cur + (s,) in modules:
            cur = cur + (s,)
        elif s in reexports.get(cur, {}):
            cur = reexports[cur][s]
            break
        else:
            break
    return cur


def reexports_of(files, modules):
    """{module: {name: child module}} from each file's `pub use child::...`
    (items re-exported from a child module, so that a path through the
    parent is an edge to the child that defines it)."""
    result = {}
    for mod_path, path in files.items():
        src = strip(path.read_text())
        for m in USE.finditer(src):
            if not m.group(1):
                continue
            for p in expand_use(m.group(2)):
                segs = p.split("::")
                if segs[0] == "self":
                    segs = segs[1:]
                if len(segs) >= 2 and mod_path + (segs[0],) in modules and segs[-1] != "*":
                    child = mod_path + (segs[0],)
                    # Deeper paths: as far as they name modules.
                    for s in segs[1:-1]:
                        if child + (s,) in modules:
                            child = child + (s,)
                    result.setdefault(mod_path, {})[segs[-1]] = child
    return result


def edges_of(file_mod, path, modules, files, reexports):
    """Edges (target module paths) of one file."""
    src = strip(path.read_text())
    targets = set()
    # Track inline `mod x {` blocks: a module-path stack by brace depth.
    stack = [(file_mod, -1)]
    depth = 0
    opens = {m.end() - 1: m.group(1) for m in MOD_OPEN.finditer(src)}
    here_at = []  # (offset, module path) changes
    for i, c in enumerate(src):
        if c == "{":
            if i in opens:
                stack.append((stack[-1][0] + (opens[i],), depth))
                here_at.append((i, stack[-1][0]))
            depth += 1
        elif c == "}":
            depth -= 1
            if len(stack) > 1 and stack[-1][1] == depth:
                stack.pop()
                here_at.append((i, stack[-1][0]))

    def module_at(offset):
        cur = file_mod
        for at, m in here_at:
            if at > offset:
                break
            cur = m
        return cur

    uses = []
    for m in USE.finditer(src):
        for p in expand_use(m.group(2)):
            uses.append((m.start(), bool(m.group(1)), p))
    spans = [(m.start(), m.end()) for m in USE.finditer(src)]
    for m in PATH.finditer(src):
        if not any(a <= m.start() < b for a, b in spans):
            uses.append((m.start(), False, m.group(0)))
    for offset, reexport, p in uses:
        here = module_at(offset)
        # Paths relative to the current module without a keyword
        # (`use child::X` in a mod.rs) name a child module.
        if not re.match(r"(crate|super|self)\b", p):
            first = p.split("::")[0]
            if here + (first,) in modules:
                p = "self::" + p
            else:
                continue
        target = resolve(p, here, modules, reexports)
        # Inline modules live in the file of their nearest file module.
        while target not in files and target:
            target = target[:-1]
        if target not in files:
            continue
        is_child = len(target) > len(file_mod) and target[: len(file_mod)] == file_mod
        if reexport and is_child:
            continue  # the module's table of contents
        if files[target] != path:
            targets.add(files[target])
    return targets


def find_cycles(graph):
    """Every elementary cycle's node list, found by DFS (small graphs)."""
    cycles, index = [], {}
    order = sorted(graph)
    for start in order:
        stack = [(start, iter(sorted(graph[start])))]
        on_path = [start]
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                on_path.pop()
            elif nxt == start:
                cycles.append(list(on_path))
            elif nxt not in on_path and order.index(nxt) > order.index(start):
                stack.append((nxt, iter(sorted(graph[nxt]))))
                on_path.append(nxt)
    return cycles


def cycles_in(root, module):
    """The cycles among the files of root/module, as lists of paths."""
    files = module_files(root, module)
    all_modules = set()
    for p in root.rglob("*.rs"):
        parts = tuple(p.relative_to(root).with_suffix("").parts)
        if parts[-1] == "mod":
            parts = parts[:-1]
        if parts not in (("lib",), ("main",)):
            all_modules.add(parts)
            for k in range(1, len(parts)):
                all_modules.add(parts[:k])
    reexports = reexports_of(files, all_modules)
    graph = {path: edges_of(m, path, all_modules, files, reexports) for m, path in files.items()}
    return files, graph, find_cycles(graph)


SELF_TESTS = [
    # (files, expected cycles as sorted file-name tuples)
    ({"m/mod.rs": "mod a; mod b;",
      "m/a.rs": "use super::b::B; pub struct A;",
      "m/b.rs": "pub struct B(super::a::A);"},
     [("a.rs", "b.rs")]),
    ({"m/mod.rs": "mod base; mod hash;",
      "m/base.rs": "use super::hash::{Hasher as H, HashMap};",
      "m/hash.rs": "use crate::m::base::Base as B;"},
     [("base.rs", "hash.rs")]),
    ({"m/mod.rs": "mod a; mod b; pub use b::B;",
      "m/a.rs": "use super::B; pub struct A;",
      "m/b.rs": "use crate::m::a::{self, A};"},
     [("a.rs", "b.rs")]),
    ({"m/mod.rs": "mod a; mod b; pub use a::A; pub(crate) use b::{B, C as D};",
      "m/a.rs": "use super::b::B; // super::a in a comment\npub struct A; const S: &str = \"super::a\";",
      "m/b.rs": "pub struct B;\n#[cfg(test)]\nmod tests { use super::*; use super::super::RootThing; }"},
     []),
    ({"m/mod.rs": "mod a; mod ipc;",
      "m/a.rs": "use super::ipc::child::run; pub struct Launched;",
      "m/ipc/mod.rs": "mod child;",
      "m/ipc/child.rs": "fn f(l: crate::m::a::Launched) {}"},
     [("a.rs", "child.rs")]),
]


def self_test():
    import tempfile
    failed = 0
    for i, (tree, expected) in enumerate(SELF_TESTS):
        with tempfile.TemporaryDirectory() as d:
            root = Path(d)
            for name, text in tree.items():
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                (root / name).write_text(text)
            _, _, cycles = cycles_in(root, "m")
            got = sorted(tuple(sorted(p.name for p in c)) for c in cycles)
            if got != sorted(expected):
                failed += 1
                print(f"self-test {i}: expected {expected}, got {got}")
    if failed:
        sys.exit(1)
    print(f"import_cycles.py self-test: {len(SELF_TESTS)} cases pass")


def main():
    if "--self-test" in sys.argv:
        return self_test()
    root = Path(sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "tsercom/src")
    module = sys.argv[2] if len(sys.argv) > 2 and not sys.argv[2].startswith("-") else "runtime"
    files, graph, cycles = cycles_in(root, module)
    n_edges = sum(len(v) for v in graph.values())
    rel = lambda p: str(p.relative_to(root))
    if "-v" in sys.argv:
        for a in sorted(graph):
            for b in sorted(graph[a]):
                print(f"{rel(a)} -> {rel(b)}")
    if cycles:
        print(f"import cycles among the files of {root}/{module}:")
        for c in cycles:
            print("  " + " -> ".join(rel(p) for p in c + [c[0]]))
        sys.exit(1)
    print(f"no import cycle among the {len(files)} files of {root}/{module} ({n_edges} edges)")


if __name__ == "__main__":
    main()
