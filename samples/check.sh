#!/usr/bin/env bash
# The packages as a user gets them: packs the library (DigitParity) and the tool (DigitParity.Tool) into
# artifacts/packages, builds and runs samples/QuickStart against the library package (not the project), then installs
# the tool into a temporary --tool-path and trains with it from a directory outside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rm -rf artifacts/packages
dotnet pack src/DigitParity/DigitParity.csproj -c Release -v q -nologo
dotnet pack src/DigitParity.Cli/DigitParity.Cli.csproj -c Release -v q -nologo
ls artifacts/packages

# A fresh package cache, so that a rebuilt 1.0.0 is never shadowed by an older one of the same version.
export NUGET_PACKAGES="$work/packages"
echo "== samples/QuickStart, from the package"
dotnet build samples/QuickStart -c Release -v q -nologo -o "$work/quickstart"
(cd "$work" && dotnet quickstart/QuickStart.dll | tee quickstart.log)
grep -q "seven.png: digit 7 " "$work/quickstart.log"

echo "== the tool, installed from the package"
dotnet tool install DigitParity.Tool --version 1.0.0 --tool-path "$work/tools" --add-source "$root/artifacts/packages" >/dev/null
# On linux-x64 the ReadyToRun package is the one installed.
if [ "$(uname -sm)" = "Linux x86_64" ]; then ls -d "$work"/tools/.store/digitparity.tool/1.0.0/digitparity.tool.linux-x64 >/dev/null; fi
mkdir "$work/elsewhere"
(cd "$work/elsewhere" && "$work/tools/digitparity" train --epochs 1 --save model.safetensors | tail -n 3)
(cd "$work/elsewhere" && "$work/tools/digitparity" predict "$root/samples/QuickStart/seven.png" --model model.safetensors)

# The linux-x64 tool has its kernels precompiled for AVX2: on such a machine `predict` compiles none of our methods
# at start; on a machine with AVX-512 the runtime rejects the precompiled kernels and compiles the AVX-512 ones.
if [ "$(uname -sm)" = "Linux x86_64" ]; then
  (cd "$work/elsewhere" && DOTNET_JitStdOutFile="$work/jit.txt" DOTNET_JitDisasmSummary=1 \
    "$work/tools/digitparity" predict "$root/samples/QuickStart/seven.png" >/dev/null 2>&1)
  if grep -qw avx512f /proc/cpuinfo; then
    grep -q "Simd512" "$work/jit.txt" || { echo "check.sh: AVX-512 machine, but no AVX-512 kernel was compiled at start" >&2; exit 1; }
  elif grep -qw avx2 /proc/cpuinfo; then
    if grep "DigitParity\." "$work/jit.txt"; then echo "check.sh: methods above were compiled at start, not precompiled" >&2; exit 1; fi
  fi
  echo "start-up: $(wc -l < "$work/jit.txt") methods compiled at start of predict"
fi
echo "packages: ok"
