#!/usr/bin/env bash
# Runs DigitParity and the PyTorch peer on the same network, recipe and data, interleaved, and prints both medians
# (training samples/sec over the epochs after the first) and their ratio against the peer at its best.
#   bash benchmarks/compare.sh [ROUNDS] [mlp|cnn]   (default 3 rounds of the MLP; the CNN rounds are 2 epochs each)
#
# The peer at its best: each round runs ours once, then the peer in every configuration below, and the ratio is taken
# against the configuration with the best median.
#   - OpenBLAS build: each of Debian's variants that is installed (pthreads, OpenMP), chosen with LD_LIBRARY_PATH.
#   - OpenBLAS kernels: the core OpenBLAS detects (OPENBLAS_VERBOSE=2 prints it). Where that core has narrower SIMD
#     than the CPU (OpenBLAS 0.3.21 takes some AVX-512 CPUs for a Prescott and runs SSE3 kernels), the CPU's best core
#     is forced with OPENBLAS_CORETYPE (Cooperlake with AVX-512 BF16, SkylakeX with AVX-512, Haswell with AVX2).
#   - Threads: PyTorch's intra-op threads 1 and 2, with OpenBLAS single-threaded under them, and 2 and 2.
# Needs: the .NET SDK, and Debian's python3-torch with OpenBLAS (apt-get install python3-torch python3-numpy
# libopenblas0-pthread; add libopenblas0-openmp to try that build too).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
model=${2:-mlp}
case "$model" in
  mlp) ours_args=(); peer_args=(--model mlp) ;;
  # The same network on both sides: no dropout, no augmentation (dropout changes nothing measurable; augmented images
  # make conv1's gradient denser, ~20 % slower per step here, see the README's CNN performance notes).
  cnn) ours_args=(--model cnn --dropout 0 --epochs 2); peer_args=(--model cnn --epochs 2) ;;
  *) echo "compare.sh: model must be mlp or cnn (got $model)" >&2; exit 2 ;;
esac
python=/usr/bin/python3
if ! "$python" -c "import torch" 2>/dev/null; then
  echo "compare.sh: PyTorch is not installed for $python; run: apt-get install -y python3-torch python3-numpy libopenblas0-pthread" >&2
  exit 1
fi
builds=()
for variant in pthread openmp; do
  dir=/usr/lib/x86_64-linux-gnu/openblas-$variant
  [ -e "$dir/libblas.so.3" ] && builds+=("$variant")
done
if ((${#builds[@]} == 0)); then
  echo "compare.sh: no OpenBLAS build found (/usr/lib/x86_64-linux-gnu/openblas-pthread); PyTorch would run on the reference BLAS. Run: apt-get install -y libopenblas0-pthread" >&2
  exit 1
fi

# SIMD width of an OpenBLAS core name: 1 SSE, 2 AVX, 3 AVX2, 4 AVX-512.
level() {
  case "$1" in
    SkylakeX|Cooperlake|SapphireRapids) echo 4 ;;
    Haswell|Zen|Excavator|Steamroller) echo 3 ;;
    Sandybridge|Bulldozer|Piledriver) echo 2 ;;
    *) echo 1 ;;
  esac
}
flags=$(grep -m1 '^flags' /proc/cpuinfo)
if [[ " $flags " == *" avx512_bf16 "* ]]; then best_core=Cooperlake
elif [[ " $flags " == *" avx512f "* ]]; then best_core=SkylakeX
elif [[ " $flags " == *" avx2 "* ]]; then best_core=Haswell
else best_core=""
fi

# Every configuration as "build core torch-threads blas-threads"; core "auto" lets OpenBLAS choose.
configs=()
for build in "${builds[@]}"; do
  detected=$(env -u OPENBLAS_CORETYPE OPENBLAS_VERBOSE=2 LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-$build \
    "$python" -c "import torch; a = torch.ones(64, 64); (a @ a).sum()" 2>&1 | sed -n 's/^Core: //p' | head -n 1)
  core=auto
  if [ -n "$best_core" ] && (( $(level "${detected:-none}") < $(level "$best_core") )); then core=$best_core; fi
  echo "OpenBLAS $build picks core ${detected:-unknown}$( [ "$core" != auto ] && echo "; forcing $core, the CPU's widest" )" >&2
  for threads in "1 1" "2 1" "2 2"; do configs+=("$build $core $threads"); done
done

dotnet build src/DigitParity.Cli -c Release -o artifacts/compare >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for round in $(seq 1 "$rounds"); do
  dotnet artifacts/compare/DigitParity.Cli.dll train "${ours_args[@]}" --metrics "$work/ours-$round.json" >/dev/null
  for k in "${!configs[@]}"; do
    read -r build core torch_threads blas_threads <<<"${configs[$k]}"
    coretype=(-u OPENBLAS_CORETYPE)
    [ "$core" != auto ] && coretype=(OPENBLAS_CORETYPE="$core")
    env -u OPENBLAS_L2_SIZE "${coretype[@]}" LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-$build \
      OPENBLAS_NUM_THREADS="$blas_threads" OMP_NUM_THREADS="$torch_threads" \
      "$python" benchmarks/peers/pytorch_peer.py "${peer_args[@]}" --threads "$torch_threads" > "$work/peer-$k-$round.json"
  done
  echo "round $round done" >&2
done
echo "model: $model"
printf '%s\n' "${configs[@]}" > "$work/configs"
"$python" - "$work" "$rounds" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
configs = [line.split() for line in open(f"{work}/configs").read().splitlines()]
def speeds(path):
    epochs = json.load(open(path))["epochs"]
    return [e["samples_per_sec"] for e in epochs[1:]]
ours = [s for r in range(1, rounds + 1) for s in speeds(f"{work}/ours-{r}.json")]
peer = {k: [s for r in range(1, rounds + 1) for s in speeds(f"{work}/peer-{k}-{r}.json")] for k in range(len(configs))}
def name(k):
    build, core, torch_threads, blas_threads = configs[k]
    return f"OpenBLAS {build}, core {core}, {torch_threads} torch / {blas_threads} BLAS thread(s)"
best = max(peer, key=lambda k: statistics.median(peer[k]))
acc = json.load(open(f"{work}/peer-{best}-{rounds}.json"))["epochs"][-1]["validation"]
m_ours, m_peer = statistics.median(ours), statistics.median(peer[best])
print(f"DigitParity  {m_ours:>12,.0f} samples/sec  (median of {len(ours)} epochs)")
for k in peer:
    print(f"PyTorch      {statistics.median(peer[k]):>12,.0f} samples/sec  (median of {len(peer[k])} epochs)  {name(k)}")
print(f"Ratio (ours / best peer): {m_ours / m_peer:.2f}x  against {name(best)}; peer accuracy: digit {acc['digit']:.4f}, parity {acc['parity']:.4f}")
PY
