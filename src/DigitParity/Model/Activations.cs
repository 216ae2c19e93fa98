using System.Runtime.Intrinsics;

namespace DigitParity.Model;

/// <summary>Element-wise activations that are not fused into a matrix multiply.</summary>
public static class Activations
{
    // ReLU backward on the columns [j0, j1) of (B, width) buffers: dx = dy where y > 0, else 0 (in place allowed).
    // y is the ReLU's output; y > 0 exactly where its input was > 0.
    internal static void ReluBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, int batch, int width, int j0, int j1)
    {
        for (int b = 0; b < batch; b++)
        {
            int row = b * width;
            ReluBackward(y.Slice(row + j0, j1 - j0), dy.Slice(row + j0, j1 - j0), dx.Slice(row + j0, j1 - j0));
        }
    }

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
}
