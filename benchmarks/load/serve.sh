#!/usr/bin/env bash
# Load test of `digitparity serve` with wrk (Debian: apt-get install -y wrk), client and server on this machine:
#   benchmarks/load/serve.sh [SECONDS] [-- serve options...]
# Starts serve (the shipped CNN unless --model is given) on http://127.0.0.1:5077, waits until /healthz answers, then runs wrk for
# JSON pixels (100 MNIST test images in turn) and for one PNG, at 1 and 200 connections, and prints requests/s, the
# latency percentiles and the error count of each run.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
shift $(( $# > 0 ? 1 : 0 ))
[ "${1:-}" = "--" ] && shift
command -v wrk >/dev/null || { echo "serve.sh: wrk not found (apt-get install -y wrk)" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
dotnet build -c Release src/DigitParity.Cli -v q -nologo >/dev/null
cli=src/DigitParity.Cli/bin/Release/net10.0/DigitParity.Cli.dll
# 100 JSON bodies and one PNG from the MNIST test set.
python3 - "$work" <<'PY'
import gzip, json, struct, sys, zlib, os
work = sys.argv[1]
with gzip.open("data/mnist/t10k-images-idx3-ubyte.gz", "rb") as f:
    data = f.read()
pixels = data[16:16 + 100 * 784]
with open(os.path.join(work, "bodies.jsonl"), "w") as out:
    for i in range(100):
        out.write(json.dumps({"pixels": [round(b / 255, 4) for b in pixels[i * 784:(i + 1) * 784]]}) + "\n")
raw = b"".join(b"\x00" + pixels[r * 28:(r + 1) * 28] for r in range(28))
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
with open(os.path.join(work, "seven.png"), "wb") as out:
    out.write(png)
PY
dotnet "$cli" serve --urls http://127.0.0.1:5077 "$@" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 300); do curl -fs http://127.0.0.1:5077/healthz >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs http://127.0.0.1:5077/healthz >/dev/null || { cat "$work/serve.log" >&2; exit 1; }
export DIGITPARITY_BODIES="$work/bodies.jsonl" DIGITPARITY_PNG="$work/seven.png"
for body in pixels png; do
  for connections in 1 200; do
    threads=$(( connections < 2 ? 1 : 2 ))
    out=$(wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -s "benchmarks/load/$body.lua" http://127.0.0.1:5077 2>"$work/errors")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out"); p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); socket=$(awk '/Socket errors/ {print $0}' <<<"$out")
    printf '%-6s %3d connections: %10s requests/s  p50 %8s  p99 %8s  non-2xx %s %s\n' "$body" "$connections" "$rps" "$p50" "$p99" "${non2xx:-0}" "$socket"
  done
done
