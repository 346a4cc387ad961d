#!/usr/bin/env bash
# Copies a finished `nas study dropout` into docs/results/NAME with the facts needed to
# reproduce it: the command, the configuration, the commit, the machine and wall time.
#
#   scripts/publish-study.sh RUN_DIR NAME "the exact command" WALL_TIME [COMMIT]
#
# COMMIT is the commit the binary was built from (default: HEAD).
set -euo pipefail
if [ $# -lt 4 ] || [ $# -gt 5 ]; then
  echo "usage: $0 RUN_DIR NAME COMMAND WALL_TIME [COMMIT]" >&2
  exit 2
fi
run=$1 name=$2 command=$3 wall=$4 commit=${5:-HEAD}
src="$run/study/dropout"
[ -f "$src/summary.md" ] || { echo "$src/summary.md missing: run the study first" >&2; exit 1; }
cd "$(dirname "$0")/.."
dst="docs/results/$name"
rm -rf "$dst"
mkdir -p "$dst"
cp -r "$src/summary.md" "$src/report.json" "$src/results.csv" "$src/plots" "$dst/"
cp "$run/config.toml" "$dst/config.toml"
{
  echo "# Study \`$name\`"
  echo
  echo "- Command: \`$command\`"
  echo "- Commit: \`$(git rev-parse --short "$commit")\`"
  echo "- Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB"
  echo "- Wall time: $wall"
  echo "- Configuration: \`config.toml\` (seed, data, space, trainings; \`[study]\` and \`[retrain]\` set the sample)"
  echo
  echo "The summary follows; the plots are in \`plots/\`, every score in \`results.csv\`."
  echo
  cat "$src/summary.md"
} > "$dst/README.md"
rm "$dst/summary.md"
echo "$dst"
