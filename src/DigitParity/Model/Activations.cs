using System.Runtime.Intrinsics;

namespace DigitParity.Model;

/// <summary>Element-wise activations that are not fused into a matrix multiply.</summary>
internal static class Activations
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

    // dy on rows [b0, b1) × columns [j0, j1) times 1/(1 − rate): the kept units' share of inverted dropout.
    internal static void DropoutScale(Span<float> dy, int width, int b0, int b1, int j0, int j1, float rate)
    {
        float scale = 1f / (1f - rate);
        for (int b = b0; b < b1; b++) System.Numerics.Tensors.TensorPrimitives.Multiply(dy.Slice(b * width + j0, j1 - j0), scale, dy.Slice(b * width + j0, j1 - j0));
    }

    // sums[c − c0] = Σ_r y[r, c] for columns [c0, c1) of y (rows, width). Each column is summed as four partial sums
    // over the rows r ≡ 0, 1, 2, 3 (mod 4), each in row order, then (s0 + s1) + (s2 + s3): four independent chains
    // hide the adder's latency even for a share of 8 columns (conv1's bias split between two workers: one chain took
    // 4 % of a CNN step). The order depends on nothing but the rows, so any split of the columns gives the same bits.
    [System.Runtime.CompilerServices.MethodImpl(Engine.KernelCompilation.Options)]
    internal static void ColumnSums(ReadOnlySpan<float> y, int width, int rows, int c0, int c1, Span<float> sums)
    {
        int c = c0, whole = rows & ~3;
        for (; c + 16 <= c1; c += 16)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
            int r = 0;
            for (; r < whole; r += 4)
            {
                int at = r * width + c;
                a0 += Vector256.Create(y.Slice(at, 8)); b0 += Vector256.Create(y.Slice(at + 8, 8)); at += width;
                a1 += Vector256.Create(y.Slice(at, 8)); b1 += Vector256.Create(y.Slice(at + 8, 8)); at += width;
                a2 += Vector256.Create(y.Slice(at, 8)); b2 += Vector256.Create(y.Slice(at + 8, 8)); at += width;
                a3 += Vector256.Create(y.Slice(at, 8)); b3 += Vector256.Create(y.Slice(at + 8, 8));
            }
            if (r < rows) { a0 += Vector256.Create(y.Slice(r * width + c, 8)); b0 += Vector256.Create(y.Slice(r * width + c + 8, 8)); }
            if (r + 1 < rows) { a1 += Vector256.Create(y.Slice((r + 1) * width + c, 8)); b1 += Vector256.Create(y.Slice((r + 1) * width + c + 8, 8)); }
            if (r + 2 < rows) { a2 += Vector256.Create(y.Slice((r + 2) * width + c, 8)); b2 += Vector256.Create(y.Slice((r + 2) * width + c + 8, 8)); }
            ((a0 + a1) + (a2 + a3)).CopyTo(sums[(c - c0)..]);
            ((b0 + b1) + (b2 + b3)).CopyTo(sums[(c - c0 + 8)..]);
        }
        for (; c + 8 <= c1; c += 8)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            int r = 0;
            for (; r < whole; r += 4)
            {
                int at = r * width + c;
                a0 += Vector256.Create(y.Slice(at, 8)); a1 += Vector256.Create(y.Slice(at + width, 8));
                a2 += Vector256.Create(y.Slice(at + 2 * width, 8)); a3 += Vector256.Create(y.Slice(at + 3 * width, 8));
            }
            if (r < rows) a0 += Vector256.Create(y.Slice(r * width + c, 8));
            if (r + 1 < rows) a1 += Vector256.Create(y.Slice((r + 1) * width + c, 8));
            if (r + 2 < rows) a2 += Vector256.Create(y.Slice((r + 2) * width + c, 8));
            ((a0 + a1) + (a2 + a3)).CopyTo(sums[(c - c0)..]);
        }
        Span<float> partial = stackalloc float[4];
        for (; c < c1; c++)
        {
            partial.Clear();
            for (int r = 0; r < rows; r++) partial[r & 3] += y[r * width + c];
            sums[c - c0] = (partial[0] + partial[1]) + (partial[2] + partial[3]);
        }
    }
}
