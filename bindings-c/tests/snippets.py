#!/usr/bin/env python3
"""Compiles every C example of the C API's documentation, so that none drifts from the header.

Where the examples are: the ```c blocks of the doc comments (/// and //!) in bindings-c/src/*.rs,
which cbindgen copies into include/stanchion.h (this script checks that the header holds exactly
the same blocks), and the ```c blocks of bindings-c/README.md.

The convention:

- A block that contains `int main(` is a whole program. It is compiled as it is, linked with the
  library, and run: it must exit with 0. If a ```text output block follows it in the same file
  (before the next ```c block), the program must print exactly that.
- Any other block is a fragment. It is compiled, not run, as the body of a function, after
  tests/snippets_prelude.h with SNIPPETS_<FILE> defined (SNIPPETS_BREAKER for src/breaker.rs,
  SNIPPETS_README for README.md): that section declares, without defining, the names the file's
  fragments use and do not declare (`now`, `b`, `c`, `e`, `do_call()`, ...).

Every block is compiled with -std=c11 -Wall -Wextra -Wpedantic -Werror, with #line directives
so that errors point at the line of the .rs or .md file.

usage: snippets.py --include DIR --out DIR [--cc CC] [--libs 'LINK ARGS'] [FILE...]
  FILE defaults to bindings-c/src/*.rs and bindings-c/README.md. Exits non-zero on any failure.
"""

import argparse
import pathlib
import re
import shlex
import subprocess
import sys

CRATE = pathlib.Path(__file__).resolve().parent.parent
CFLAGS = ["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
FENCE = re.compile(r"^\s*(?://[/!])? ?```(\w*)(.*)$")
DOC = re.compile(r"^\s*//[/!] ?")


def blocks(path):
    """Yields (line of the first code line, info string, code) for every fenced block of a .rs
    file's doc comments or of a Markdown file."""
    rust = path.suffix == ".rs"
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening and (not rust or DOC.match(lines[i])):
            info = (opening.group(1) + opening.group(2)).strip()
            body, j = [], i + 1
            while not FENCE.match(lines[j]):
                body.append(DOC.sub("", lines[j], count=1) if rust else lines[j])
                j += 1
            yield i + 2, info, "\n".join(body) + "\n"
            i = j
        i += 1


def header_blocks(path):
    """The ```c blocks of the header's comments, as cbindgen wrote them."""
    found, body = [], None
    for line in path.read_text().splitlines():
        text = re.sub(r"^\s*// ?", "", line) if line.lstrip().startswith("//") else None
        if body is None and text is not None and text.startswith("```c"):
            body = []
        elif body is not None and text is not None and text.startswith("```"):
            found.append("\n".join(body) + "\n")
            body = None
        elif body is not None:
            body.append(text if text is not None else line)
    return found


def compile_(cc, args, what):
    result = subprocess.run([cc, *args], capture_output=True, text=True)
    if result.returncode != 0:
        print(f"FAIL   {what}\n{result.stderr}", file=sys.stderr)
        return False
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--include", required=True, help="the directory of stanchion.h")
    parser.add_argument("--out", required=True, help="where the generated sources go")
    parser.add_argument("--cc", default="cc")
    parser.add_argument("--libs", default="", help="link arguments for whole programs")
    parser.add_argument("files", nargs="*", type=pathlib.Path)
    args = parser.parse_args()
    files = args.files or [*sorted((CRATE / "src").glob("*.rs")), CRATE / "README.md"]
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    include = ["-I", args.include, "-I", str(CRATE / "tests")]
    ok, fragments, programs, from_sources = True, 0, 0, []

    for path in files:
        section = "SNIPPETS_" + re.sub(r"\W", "_", path.stem).upper()
        unit = [f"#define {section}\n", '#include "snippets_prelude.h"\n']
        program = None
        for line, info, code in blocks(path):
            if info == "c" and "int main(" in code:
                programs += 1
                name = f"{path.stem}_{line}"
                source = out / f"{name}.c"
                source.write_text(f'#line {line} "{path}"\n{code}')
                binary = out / name
                built = compile_(
                    args.cc,
                    [*CFLAGS, *include, str(source), *shlex.split(args.libs), "-o", str(binary)],
                    f"{path}:{line}: the program does not build",
                )
                program = (line, None)
                ok &= built
                if built:
                    run = subprocess.run([binary], capture_output=True, text=True, timeout=60)
                    if run.returncode != 0:
                        print(f"FAIL   {path}:{line}: the program exits with {run.returncode}\n"
                              f"{run.stdout}{run.stderr}", file=sys.stderr)
                        ok = False
                    program = (line, run.stdout)
            elif info == "c":
                fragments += 1
                if path.suffix == ".rs":
                    from_sources.append(code)
                unit.append(f"void snippet_{line}(void) {{\n#line {line} \"{path}\"\n{code}}}\n")
            elif info == "text output":
                if program is None:
                    print(f"FAIL   {path}:{line}: an output block with no program before it",
                          file=sys.stderr)
                    ok = False
                elif program[1] is not None and program[1] != code:
                    print(f"FAIL   {path}:{line}: the program of line {program[0]} printed\n"
                          f"{program[1]}instead of\n{code}", file=sys.stderr)
                    ok = False
                program = None
        if len(unit) > 2:
            source = out / f"{path.stem}_fragments.c"
            source.write_text("".join(unit))
            ok &= compile_(args.cc, [*CFLAGS, *include, "-c", str(source), "-o", "/dev/null"],
                           f"{path}: a fragment does not compile")

    if not args.files:
        in_header = header_blocks(CRATE / "include" / "stanchion.h")
        if sorted(in_header) != sorted(from_sources):
            print("FAIL   include/stanchion.h and src/*.rs hold different ```c blocks: "
                  "regenerate the header (STANCHION_BLESS=1 cargo test -p stanchion-c --test "
                  "header)", file=sys.stderr)
            ok = False

    print(f"doc examples: {fragments} fragments compiled, {programs} programs built and run"
          + ("" if ok else ", with failures"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
