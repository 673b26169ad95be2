#!/usr/bin/env bash
# Fails when a C++ line changed since BASE is not formatted as the root's .clang-format says.
# Only the changed lines are checked (git clang-format), so untouched older code never fails it.
#
#   scripts/format-check.sh [BASE]     BASE: a commit; default $WEIR_FORMAT_BASE, else:
#     - on a branch: where it left main (merge-base with main, or origin/main);
#     - on main itself (CI checks out main), or with no main to compare with: the last commit.
#   The commits BASE..HEAD are checked, not the work tree. The fix: `git clang-format BASE`.
#
# A shallow clone of depth 1 has no parent to compare the last commit with: the script deepens
# it by one commit from its remote, and when it cannot, says so and checks nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

extensions=c,h,cc,cpp,hpp

if ! git rev-parse --git-dir >/dev/null 2>&1; then
  echo "format-check: not a git checkout, nothing to compare: skipped" >&2
  exit 0
fi
command -v git-clang-format >/dev/null || {
  echo "format-check: git-clang-format missing (Debian: clang-format)" >&2
  exit 2
}

head=$(git rev-parse HEAD)
base=${1:-${WEIR_FORMAT_BASE:-}}
what=""
if [[ -z $base ]]; then
  for ref in main origin/main; do
    git rev-parse -q --verify "$ref^{commit}" >/dev/null || continue
    fork=$(git merge-base HEAD "$ref" 2>/dev/null) || continue
    if [[ $fork != "$head" ]]; then
      base=$fork
      what="the commits since $ref ($(git rev-list --count "$base..HEAD"))"
    fi
    break
  done
fi
if [[ -z $base ]]; then
  if ! git rev-parse -q --verify HEAD~1 >/dev/null &&
    [[ $(git rev-parse --is-shallow-repository) == true ]]; then
    git fetch --quiet --deepen=1 2>/dev/null || true
  fi
  if git rev-parse -q --verify HEAD~1 >/dev/null; then
    base=HEAD~1
    what="the last commit only (on main, or no main to compare with; set WEIR_FORMAT_BASE for more)"
  elif [[ $(git rev-parse --is-shallow-repository) == true ]]; then
    echo "format-check: SKIPPED: a shallow clone without the last commit's parent; clone with" \
      "--depth 2 or more, or set WEIR_FORMAT_BASE" >&2
    exit 0
  else
    # The first commit of the history: every line of it is new.
    base=$(git hash-object -t tree /dev/null)
    what="the first commit, whole"
  fi
fi
git rev-parse -q --verify "$base^{tree}" >/dev/null || {
  echo "format-check: base \"$base\" is not a commit here" >&2
  exit 2
}

echo "format-check: lines changed in $what: $(git rev-parse --short "$base")..$(git rev-parse --short HEAD)"
# git-clang-format 14 exits 0 even when it finds something (only errors are non-zero); with -q
# it prints nothing but the diff, so any output is a finding.
out=$(git clang-format -q --diff --extensions "$extensions" "$base" HEAD)
if [[ -n $out ]]; then
  printf '%s\n' "$out"
  echo "format-check: the lines above are not formatted as .clang-format says;" \
    "fix them with: git clang-format $base" >&2
  exit 1
fi
echo "format-check: ok"
