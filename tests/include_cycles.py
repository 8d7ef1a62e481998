#!/usr/bin/env python3
"""Fails when the #include "..." graph of src/ and include/ has a cycle (a header that reaches
itself through others), printing each cycle. Quoted includes are resolved as the compiler does:
beside the including file, then under include/. Run by `make check-includes` (from `make check`).

  tests/include_cycles.py [ROOT]       ROOT: the repository (default: the current directory)
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources(root):
    for top in ("src", "include"):
        for folder, _, files in os.walk(os.path.join(root, top)):
            for name in files:
                if name.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(folder, name), root)


def edges(root, path):
    with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
        text = f.read()
    for name in INCLUDE.findall(text):
        for base in (os.path.dirname(path), "include"):
            candidate = os.path.normpath(os.path.join(base, name))
            if os.path.isfile(os.path.join(root, candidate)):
                yield candidate
                break


def cycles(graph):
    """The strongly connected components with more than one file, or a file including itself
    (Tarjan's algorithm, iterative so that a deep chain cannot overflow the stack)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    found.append(sorted(component))
    return found


def cycle_path(graph, component):
    """One cycle through the first file of a component, as the files it goes through."""
    members, start = set(component), component[0]
    came_from, queue = {}, [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph.get(node, ())):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [start] + path[::-1][1:] + [start] if len(path) > 1 else [start, start]
            if child in members and child not in came_from:
                came_from[child] = node
                queue.append(child)
    return component + component[:1]


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    graph = {path: set(edges(root, path)) for path in sources(root)}
    if not graph:
        print("include_cycles: no sources under %s/src or %s/include" % (root, root),
              file=sys.stderr)
        return 2
    found = cycles(graph)
    for component in found:
        print("include cycle: " + " -> ".join(cycle_path(graph, component)), file=sys.stderr)
    if found:
        return 1
    print("include_cycles: %d files, no cycle" % len(graph))
    return 0


if __name__ == "__main__":
    sys.exit(main())
