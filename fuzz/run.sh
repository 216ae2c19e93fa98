#!/usr/bin/env bash
# Fuzzes one parser with afl-fuzz (Debian's afl++) and SharpFuzz, then copies what it found to fuzz/regressions/.
#   bash fuzz/run.sh TARGET [SECONDS]     TARGET: idx | checkpoint | statedict | image | request
# Needs: apt-get install afl++; dotnet tool install --global SharpFuzz.CommandLine --version 2.3.0
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: fuzz/run.sh idx|checkpoint|statedict|image|request [SECONDS]}
seconds=${2:-120}
out=fuzz/out/$target
bin=fuzz/out/bin

if [ ! -f "$bin/DigitParity.Fuzz.dll" ] || [ "${REBUILD:-0}" = 1 ]; then
  rm -rf "$bin"
  dotnet publish fuzz/DigitParity.Fuzz -c Release -o "$bin" >/dev/null
  # Coverage comes from our assemblies only (SkiaSharp's decoders are native and not instrumented).
  for dll in DigitParity.dll DigitParity.Server.dll; do "${SHARPFUZZ:-$HOME/.dotnet/tools/sharpfuzz}" "$bin/$dll"; done
fi

rm -rf "$out"
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_SKIP_BIN_CHECK=1 AFL_NO_AFFINITY=1
afl-fuzz -i "fuzz/corpus/$target" -o "$out" -t 5000 -m none -V "$seconds" -- dotnet "$bin/DigitParity.Fuzz.dll" "$target" >"$out.log" 2>&1 || true

stats=$(find "$out" -name fuzzer_stats | head -n 1)
execs=$(sed -nE 's/^execs_done *: *([0-9]+)/\1/p' "$stats")
crashes=$(find "$out" -path '*crashes/id*' | wc -l)
hangs=$(find "$out" -path '*hangs/id*' | wc -l)
paths=$(find "$out" -path '*queue/id*' | wc -l)
echo "$target: $execs inputs run, $paths in the corpus, $crashes crashes, $hangs hangs (afl-fuzz log: $out.log)"
if [ $((crashes + hangs)) -gt 0 ]; then
  mkdir -p "fuzz/regressions/$target"
  for f in $(find "$out" -path '*crashes/id*' -o -path '*hangs/id*'); do
    cp "$f" "fuzz/regressions/$target/$(sha256sum "$f" | cut -c1-16)"
  done
  echo "copied to fuzz/regressions/$target/: replay with 'dotnet $bin/DigitParity.Fuzz.dll $target --replay fuzz/regressions/$target'"
fi
