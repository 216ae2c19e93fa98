#!/usr/bin/env bash
# Runs DigitParity and the PyTorch peer on the same network, recipe and data, interleaved, and prints both
# medians (training samples/sec over the epochs after the first) and their ratio.
#   bash benchmarks/compare.sh [ROUNDS] [mlp|cnn]   (default 3 rounds of the MLP; each round: ours once, the peer with 1
#                                                    and 2 threads; the CNN rounds are 2 epochs each)
# Needs: the .NET SDK, and Debian's python3-torch with OpenBLAS (apt-get install python3-torch python3-numpy libopenblas0-pthread).
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
dotnet build src/DigitParity.Cli -c Release -o artifacts/compare >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for round in $(seq 1 "$rounds"); do
  dotnet artifacts/compare/DigitParity.Cli.dll train "${ours_args[@]}" --metrics "$work/ours-$round.json" >/dev/null
  for threads in 1 2; do
    # This machine sets OPENBLAS_CORETYPE=Haswell, which halves OpenBLAS on AVX-512: unset it for the peer only.
    # PyTorch runs its own threads; OpenBLAS threads on top of them only oversubscribe the 2 cores (measured: 16k vs 39k).
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 "$python" benchmarks/peers/pytorch_peer.py "${peer_args[@]}" --threads "$threads" > "$work/peer-$threads-$round.json"
  done
  echo "round $round done" >&2
done
echo "model: $model"
"$python" - "$work" "$rounds" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def speeds(path):
    epochs = json.load(open(path))["epochs"]
    return [e["samples_per_sec"] for e in epochs[1:]]
ours = [s for r in range(1, rounds + 1) for s in speeds(f"{work}/ours-{r}.json")]
peer = {t: [s for r in range(1, rounds + 1) for s in speeds(f"{work}/peer-{t}-{r}.json")] for t in (1, 2)}
best = max(peer, key=lambda t: statistics.median(peer[t]))
acc = json.load(open(f"{work}/peer-{best}-{rounds}.json"))["epochs"][-1]["validation"]
m_ours, m_peer = statistics.median(ours), statistics.median(peer[best])
print(f"DigitParity          {m_ours:>12,.0f} samples/sec  (median of {len(ours)} epochs)")
for t in (1, 2):
    print(f"PyTorch, {t} thread(s) {statistics.median(peer[t]):>12,.0f} samples/sec  (median of {len(peer[t])} epochs)")
print(f"Ratio (ours / best peer, {best} thread(s)): {m_ours / m_peer:.2f}x   peer accuracy: digit {acc['digit']:.4f}, parity {acc['parity']:.4f}")
PY
