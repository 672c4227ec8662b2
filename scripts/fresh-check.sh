#!/usr/bin/env bash
# What a newcomer gets: clone this repository's committed HEAD into a temporary folder, create a
# fresh venv, and run the README's commands verbatim (the ```bash blocks that follow a
# `<!-- fresh-check -->` marker: set-up, default grid, report, tests), printing each step's wall
# time and exit code. Run it before resolving an issue that touches configs, dependencies or tests.
#
#   bash scripts/fresh-check.sh                 # every marked block
#   bash scripts/fresh-check.sh --skip-tests    # set-up, grid and report only
#   bash scripts/fresh-check.sh --skip-grid     # set-up and tests only (no grid, no report)
#   FRESH_CHECK_DIR=/tmp/fc bash scripts/fresh-check.sh   # keep the clone there (default: mktemp)
#
# A step joined with `&&` in the README is timed on its own and, as `&&` would, stops its line at
# the first failure. The summary ends with the scorecard's headline.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
skip_tests=0
skip_grid=0
for arg in "$@"; do
  case "$arg" in
    --skip-tests) skip_tests=1 ;;
    --skip-grid) skip_grid=1 ;;
    *) echo "fresh-check: unknown argument '$arg' (known: --skip-tests, --skip-grid)" >&2; exit 2 ;;
  esac
done

work="${FRESH_CHECK_DIR:-$(mktemp -d /tmp/wganbench-fresh.XXXXXX)}"
mkdir -p "$work"
clone="$work/wganbench"
summary="$work/summary.tsv"
: > "$summary"
python_bin="${PYTHON:-python3.11}"
command -v "$python_bin" >/dev/null 2>&1 || python_bin=python3

step() {  # step NAME COMMAND: run COMMAND in the clone, log it, record time and exit code
  local name="$1" cmd="$2" start rc
  start=$(date +%s)
  echo "== $name: $cmd"
  (cd "$clone" && bash -c "$cmd") > "$work/$name.log" 2>&1
  rc=$?
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$(( $(date +%s) - start ))" "$cmd" >> "$summary"
  echo "   exit $rc after $(( $(date +%s) - start )) s (log: $work/$name.log)"
  return $rc
}

rm -rf "$clone"
git clone --quiet "$repo" "$clone" || { echo "fresh-check: git clone of $repo failed" >&2; exit 1; }
echo "fresh-check: $(git -C "$clone" log -1 --format='%h %s' | cut -c1-100)"
echo "fresh-check: clone and venv in $work; $("$python_bin" --version); $(nproc) cores"
"$python_bin" -m venv "$work/venv" || { echo "fresh-check: cannot create a venv with $python_bin" >&2; exit 1; }
# shellcheck disable=SC1091
source "$work/venv/bin/activate"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

# The README's marked blocks, one command line per output line (comments dropped).
mapfile -t lines < <(python - "$clone/README.md" <<'EOF'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
for block in re.findall(r"<!-- fresh-check -->\s*```bash\n(.*?)```", text, flags=re.S):
    for line in block.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line:
            print(line)
EOF
)
[ "${#lines[@]}" -gt 0 ] || { echo "fresh-check: no <!-- fresh-check --> blocks in README.md" >&2; exit 1; }

n=0
failed=0
for line in "${lines[@]}"; do
  if [ "$skip_tests" = 1 ] && [[ "$line" == *scripts/test.sh* ]]; then continue; fi
  IFS=$'\n' read -r -d '' -a parts < <(python -c 'import sys; print("\n".join(p.strip() for p in sys.argv[1].split(" && ")), end="\0")' "$line")
  for part in "${parts[@]}"; do
    if [ "$skip_grid" = 1 ] && [[ "$part" == snakemake* ]]; then continue; fi
    n=$((n + 1))
    if ! step "step$n" "$part"; then failed=1; break; fi
  done
done

echo
echo "step	exit	seconds	command"
cat "$summary"
if [ -f "$clone/results/scorecard.md" ]; then
  echo
  grep -m1 -E "^(empirical|[0-9])" "$clone/results/scorecard.md" || head -3 "$clone/results/scorecard.md"
fi
exit $failed
