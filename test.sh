#!/usr/bin/env bash
# The whole test suite on a machine that has only the .NET 10 SDK:
#   1. installs, when missing, the Debian packages that real-world tests drive: chromium (the drawing page in a
#      headless browser), tmux (the live training display in a real terminal), fonts-dejavu-core and -extra (digits
#      and letters typed in real fonts) and python3-torch (our checkpoints in PyTorch, and training continued with
#      PyTorch's DistributedDataParallel);
#   2. runs `dotnet test` (arguments are passed on, e.g. ./test.sh --filter Gemm);
#   3. without arguments, checks the packages as a user gets them (samples/check.sh): packs the library and the tool
#      into a local feed, builds and runs the sample against the package, installs the tool and trains with it.
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-ExtraLight.ttf ] || missing+=(fonts-dejavu-core fonts-dejavu-extra)
/usr/bin/python3 -c 'import torch' >/dev/null 2>&1 || missing+=(python3-torch)
if ((${#missing[@]})); then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "test.sh: ${missing[*]} missing, and installing them needs root (or sudo)" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "test.sh: installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

dotnet test "$@"
if (($# == 0)); then bash samples/check.sh; fi
