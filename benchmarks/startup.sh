#!/usr/bin/env bash
# Start-up of two builds of the digitparity command, interleaved (A, B, A, B, ...): wall time in ms from process
# start to exit, medians. `serve` is timed from start until /healthz answers (curl every 10 ms).
#   benchmarks/startup.sh [ROUNDS] A B      e.g. benchmarks/startup.sh 10 ~/.dotnet/tools/digitparity /tmp/new/digitparity
set -euo pipefail
rounds=10
if (($# == 3)); then rounds=$1; shift; fi
(($# == 2)) || { echo "usage: benchmarks/startup.sh [ROUNDS] A B (two digitparity commands)" >&2; exit 2; }
A=$1 B=$2
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
cp "$here/samples/QuickStart/seven.png" .
"$A" train --save tutorial.safetensors >/dev/null

ms() { local s; s=$(date +%s%N); "$@" >/dev/null 2>&1; echo $((($(date +%s%N) - s) / 1000000)); }
serve_ms() {
  local s p e; s=$(date +%s%N)
  "$1" serve --urls http://127.0.0.1:5077 >/dev/null 2>&1 & p=$!
  until curl -sf http://127.0.0.1:5077/healthz >/dev/null 2>&1; do sleep 0.01; done
  e=$((($(date +%s%N) - s) / 1000000)); kill "$p"; wait "$p" 2>/dev/null || true; echo "$e"
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }

names=(predict predict_mlp help train serve)
declare -A t
for ((r = 0; r < rounds; r++)); do
  for v in A B; do
    bin=${!v}
    t[predict$v]+=" $(ms "$bin" predict seven.png)"
    t[predict_mlp$v]+=" $(ms "$bin" predict seven.png --model tutorial.safetensors)"
    t[help$v]+=" $(ms "$bin" --help)"
    t[serve$v]+=" $(serve_ms "$bin")"
    if ((r % 2 == 0)); then t[train$v]+=" $(ms "$bin" train)"; fi
  done
done
printf '%-12s %10s %10s   (ms, medians; %d rounds, train every other)\n' command A B "$rounds"
for n in "${names[@]}"; do
  printf '%-12s %10s %10s\n' "$n" "$(echo "${t[${n}A]}" | median)" "$(echo "${t[${n}B]}" | median)"
done
