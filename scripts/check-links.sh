#!/usr/bin/env bash
# Fails when a tracked file points outside the repository, where its readers cannot follow:
# a Markdown link in a tracked `*.md` whose `../` target climbs above the repository root, or
# a mention of the design contract that used to live beside the repository (the semantics are
# `docs/semantics.md` now).
set -euo pipefail
cd "$(dirname "$0")/.."

failed=0

# Inline links `](../…)` and reference definitions `[name]: ../…`, as `file:line:match`.
links=$(git grep -n -o -E '\]\(\.\./[^)[:space:]]*|^[[:space:]]*\[[^]]+\]:[[:space:]]*\.\./[^[:space:]]*' \
    -- '*.md' || true)
while IFS=: read -r file line match; do
    [ -n "$file" ] || continue
    target="../${match#*../}"
    # Depth below the root: the linking file's folders, then each step of the target.
    depth=$(($(tr -cd / <<<"$file" | wc -c)))
    IFS=/ read -ra steps <<<"${target%%[#?]*}"
    for step in "${steps[@]}"; do
        case $step in
            ..) depth=$((depth - 1)) ;;
            . | '') ;;
            *) depth=$((depth + 1)) ;;
        esac
        if [ "$depth" -lt 0 ]; then
            echo "$file:$line: the link to $target leaves the repository" >&2
            failed=1
            break
        fi
    done
done <<<"$links"

# The bracket keeps this file from matching its own pattern.
if git grep -n -E 'shared/DESIGN[.]md' >&2; then
    echo "the lines above mention a file outside the repository: cite docs/semantics.md" >&2
    failed=1
fi

if [ "$failed" -ne 0 ]; then
    exit 1
fi
echo "no tracked file links outside the repository"
