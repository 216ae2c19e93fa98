using System.Runtime.Intrinsics;

namespace DigitParity.Model;

/// <summary>Element-wise activations that are not fused into a matrix multiply.</summary>
public static class Activations
{
    /// <summary>dx = dy where y &gt; 0, else 0. <paramref name="dx"/> may be <paramref name="dy"/>.</summary>
    public static void ReluBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        if (dy.Length != y.Length || dx.Length != y.Length) throw new ArgumentException("y, dy and dx must have the same length.");
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= y.Length - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var positive = Vector512.GreaterThan(Vector512.Create(y[i..]), Vector512<float>.Zero);
                Vector512.ConditionalSelect(positive, Vector512.Create(dy[i..]), Vector512<float>.Zero).CopyTo(dx[i..]);
            }
        }
        for (; i < y.Length; i++) dx[i] = y[i] > 0f ? dy[i] : 0f;
    }

    // Inverted dropout on rows [b0, b1) × columns [j0, j1) of y (B, width): each element is kept with probability
    // 1 − rate and then scaled by 1/(1 − rate), else set to 0. Whether an element drops depends only on (key, b, j),
    // so any split of the work between threads drops the same elements. Backward needs no mask: a dropped unit is 0,
    // and the ReLU backward that follows zeroes its gradient; kept ones get the same scale (DropoutScale).
    internal static void Dropout(Span<float> y, int width, int b0, int b1, int j0, int j1, float rate, ulong key)
    {
        float scale = 1f / (1f - rate);
        uint threshold = (uint)(rate * 4294967296.0);
        for (int b = b0; b < b1; b++)
        {
            Span<float> row = y.Slice(b * width, width);
            ulong rowKey = key ^ ((ulong)b * 0x9E3779B97F4A7C15UL);
            for (int j = j0; j < j1; j++)
            {
                ulong z = rowKey + (ulong)j * 0xD1B54A32D192ED03UL;
                z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
                z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
                z ^= z >> 31;
                row[j] = (uint)z < threshold ? 0f : row[j] * scale;
            }
        }
    }

    // dy on rows [0, batch) × columns [j0, j1) times 1/(1 − rate): the kept units' share of inverted dropout.
    internal static void DropoutScale(Span<float> dy, int width, int batch, int j0, int j1, float rate)
    {
        float scale = 1f / (1f - rate);
        for (int b = 0; b < batch; b++) System.Numerics.Tensors.TensorPrimitives.Multiply(dy.Slice(b * width + j0, j1 - j0), scale, dy.Slice(b * width + j0, j1 - j0));
    }

    // sums[c − c0] = Σ_r y[r, c] for columns [c0, c1) of y (rows, width), each column summed in row order (so any split
    // of the columns gives the same bits), 32 columns at a time in registers.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static void ColumnSums(ReadOnlySpan<float> y, int width, int rows, int c0, int c1, Span<float> sums)
    {
        int c = c0;
        for (; c + 32 <= c1; c += 32)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int r = 0; r < rows; r++)
            {
                ReadOnlySpan<float> row = y.Slice(r * width + c, 32);
                a0 += Vector256.Create(row); a1 += Vector256.Create(row[8..]); a2 += Vector256.Create(row[16..]); a3 += Vector256.Create(row[24..]);
            }
            a0.CopyTo(sums[(c - c0)..]); a1.CopyTo(sums[(c - c0 + 8)..]); a2.CopyTo(sums[(c - c0 + 16)..]); a3.CopyTo(sums[(c - c0 + 24)..]);
        }
        for (; c + 8 <= c1; c += 8)
        {
            Vector256<float> a = default;
            for (int r = 0; r < rows; r++) a += Vector256.Create(y.Slice(r * width + c, 8));
            a.CopyTo(sums[(c - c0)..]);
        }
        for (; c < c1; c++)
        {
            float a = 0;
            for (int r = 0; r < rows; r++) a += y[r * width + c];
            sums[c - c0] = a;
        }
    }
}
