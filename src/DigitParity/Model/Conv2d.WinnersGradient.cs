using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using DigitParity.Engine;

namespace DigitParity.Model;

// The first stage's weight gradient straight from the pooled gradient and the pooling's winners.
internal sealed partial class Conv2d
{
    // For a stage followed by ReLU and 2 × 2 max pooling whose only input gradient comes through the pooling (the first
    // stage: no dx): dW and db straight from the pooled gradient (B, OH/2, OW/2, OC) and the pooling's winners, without
    // the dense output gradient (whose writing, indexing and reading cost more than the product). Each worker its share
    // of the channels over the whole batch; per channel the winners are visited in ascending pixel order (pooled rows,
    // then the window row, then pooled columns), so each dW element is the dense product's fma chain without its zero
    // terms, and db the dense column sum's four interleaved chains (Activations.ColumnSums): the same bits as
    // BackwardWeights on the dense gradient. Writes dWᵀ rows [c0, c1) (c0 a multiple of 8) into scratch, for
    // TransposeWeightGradient once every channel is done, and db[c0..c1).
    // The winning pixels' inputs are read from the stage's input x (B, H, W, C) itself: K runs of K·C floats each.
    internal unsafe void WeightGradientFromWinners(ParameterStore store, ReadOnlySpan<float> x, ReadOnlySpan<float> pooledGradient,
        ReadOnlySpan<int> winners, Span<float> scratch, int batch, int c0, int c1)
    {
        int ph = OutHeight / 2, pw = OutWidth / 2, pooledSize = ph * pw * OutChannels;
        if (x.Length < (long)batch * InSize || pooledGradient.Length < (long)batch * pooledSize || winners.Length < (long)batch * pooledSize
            || scratch.Length < OutChannels * Depth)
            throw new ArgumentException("x, pooledGradient, winners or scratch is too short for the batch.");
        int width = c1 - c0;
        scratch.Slice(c0 * Depth, width * Depth).Clear();
        float* chains = stackalloc float[4 * Math.Max(width, 1)];
        new Span<float>(chains, 4 * Math.Max(width, 1)).Clear();
        // Each channel's dWᵀ row accumulates with every kernel row in whole 8-lane vectors of its own (conv1: 5 rows of
        // 8 lanes for 5 floats each), read straight from the image: no masked updates (which could not forward to the
        // next update's loads) and no copies of the winner's inputs (a vector load of a copy that smaller stores have
        // just written waits for them to retire).
        int run = Kernel * InChannels, rowStride = InWidth * InChannels, lanes = (run + 7) / 8 * 8, padded = Kernel * lanes;
        float* rows = stackalloc float[Math.Max(width, 1) * padded];
        new Span<float>(rows, Math.Max(width, 1) * padded).Clear();
        fixed (float* pinput = x, pscratch = scratch, pgrad = pooledGradient)
        fixed (int* pwin = winners)
        {
            float* inputEnd = pinput + x.Length;
            for (int b = 0; b < batch; b++)
                for (int py = 0; py < ph; py++)
                    for (int half = 0; half < 2; half++)
                    {
                        var inHalf = Vector256.Create(half);
                        for (int px = 0; px < pw; px++)
                        {
                            int o = ((b * ph + py) * pw + px) * OutChannels, p0 = (b * OutHeight + 2 * py + half) * OutWidth + 2 * px, c = c0;
                            // The window row's first pixel's inputs: x[b, 2py + half + ky, 2px + kx, ..].
                            float* origin = pinput + (nint)b * InSize + ((2 * py + half) * InWidth + 2 * px) * InChannels;
                            // 8 channels at a time: the lanes whose winner sits in this window row (NoWinner never does)
                            // and whose gradient is not 0, then those lanes in order.
                            for (; c < c1; c += 8)
                            {
                                uint bits;
                                if (c + 8 <= c1)
                                {
                                    var k = Vector256.Load(pwin + o + c);
                                    var live = Vector256.Equals(Vector256.ShiftRightLogical(k, 1), inHalf)
                                        & ~Vector256.Equals(Vector256.Load(pgrad + o + c), Vector256<float>.Zero).AsInt32();
                                    bits = live.ExtractMostSignificantBits();
                                }
                                else
                                {
                                    bits = 0;
                                    for (int l = 0; c + l < c1; l++)
                                        if (pwin[o + c + l] >> 1 == half && pgrad[o + c + l] != 0) bits |= 1u << l;
                                }
                                for (; bits != 0; bits &= bits - 1)
                                {
                                    int cc = c + System.Numerics.BitOperations.TrailingZeroCount(bits), right = pwin[o + cc] & 1;
                                    chains[((p0 + right) & 3) * width + cc - c0] += pgrad[o + cc];
                                    AddWinner(origin + right * InChannels, rowStride, run, lanes, inputEnd, rows + (nint)(cc - c0) * padded, pgrad[o + cc]);
                                }
                            }
                        }
                    }
            for (int i = 0; i < width; i++)
                for (int ky = 0; ky < Kernel; ky++)
                    new ReadOnlySpan<float>(rows + (nint)i * padded + ky * lanes, run).CopyTo(new Span<float>(pscratch + (nint)(c0 + i) * Depth + ky * run, run));
        }
        Span<float> db = store.Gradient(Bias);
        for (int c = c0; c < c1; c++)
        {
            int i = c - c0;
            db[c] = (chains[i] + chains[width + i]) + (chains[2 * width + i] + chains[3 * width + i]);
        }
    }

    // One winner: kernel row ky of its channel's row (`lanes` floats at row + lanes·ky) += g · its inputs' run ky, 8 floats
    // at a time (the lanes past the run collect products that are never read); an fma per element, as the product.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe void AddWinner(float* source, int rowStride, int run, int lanes, float* inputEnd, float* row, float g)
    {
        var s = Vector256.Create(g);
        for (int ky = 0; ky < Kernel; ky++, source += rowStride, row += lanes)
            for (int j = 0; j < run; j += 8)
            {
                if (source + j + 8 <= inputEnd)
                {
                    Vector256.FusedMultiplyAdd(s, Vector256.Load(source + j), Vector256.Load(row + j)).Store(row + j);
                    continue;
                }
                // The last pixels of the buffer: only the run's own floats, one at a time.
                for (int l = j; l < Math.Min(run, j + 8); l++) row[l] = MathF.FusedMultiplyAdd(g, source[l], row[l]);
            }
    }
}
