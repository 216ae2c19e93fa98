using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using DigitParity.Engine;

namespace DigitParity.Model;

/// <summary>
/// 2 × 2 max pooling, stride 2, channels last: x (B, H, W, C) → y (B, H/2, W/2, C) (odd edges dropped, as PyTorch).
/// The gradient goes to the first maximum of each window (in row-major window order), and only where it is above
/// zero: the layer follows a ReLU, whose derivative at 0 is 0, so the ReLU's backward is folded in here.
/// Channels are processed 8 at a time when C is a multiple of 8 (the same result as the scalar path, which stays as
/// the reference).
/// </summary>
internal static class MaxPool2d
{
    /// <summary>The winner recorded where a window's maximum is not above 0 (no gradient passes).</summary>
    internal const int NoWinner = 255;

    // x: (B, H, W, C) -> y: (B, H/2, W/2, C), samples [b0, b1). With winners (laid out like y), also which input of each
    // window the backward would pass the gradient to: the first maximum in row-major window order (0-3), or NoWinner
    // where the maximum is not above 0 — exactly the choice Backward makes.
    [MethodImpl(KernelCompilation.Options)]
    // With a channel range [c0, c1), only those channels (one image split between workers).
    internal static unsafe void Forward(ReadOnlySpan<float> x, Span<float> y, int height, int width, int channels, int b0, int b1, bool vectors = true,
        Span<int> winners = default, int c0 = 0, int c1 = -1)
    {
        if (c1 < 0) c1 = channels;
        int oh = height / 2, ow = width / 2, inSize = height * width * channels, outSize = oh * ow * channels, row = width * channels;
        bool wide = vectors && c0 % Vector256<float>.Count == 0 && c1 % Vector256<float>.Count == 0;
        for (int b = b0; b < b1; b++)
        {
            ReadOnlySpan<float> image = x.Slice(b * inSize, inSize);
            Span<float> output = y.Slice(b * outSize, outSize);
            for (int py = 0; py < oh; py++)
                for (int px = 0; px < ow; px++)
                {
                    int top = 2 * py * row + 2 * px * channels, o = (py * ow + px) * channels;
                    if (wide)
                    {
                        for (int c = c0; c < c1; c += Vector256<float>.Count)
                        {
                            var x0 = Vector256.Create(image.Slice(top + c));
                            var x1 = Vector256.Create(image.Slice(top + channels + c));
                            var x2 = Vector256.Create(image.Slice(top + row + c));
                            var x3 = Vector256.Create(image.Slice(top + row + channels + c));
                            var m = Vector256.Max(Vector256.Max(x0, x1), Vector256.Max(x2, x3));
                            m.CopyTo(output.Slice(o + c));
                            if (!winners.IsEmpty)
                                fixed (int* w = winners.Slice(b * outSize + o + c, Vector256<float>.Count)) Simd256.StoreWinners(x0, x1, x2, x3, m, w);
                        }
                        continue;
                    }
                    for (int c = c0; c < c1; c++)
                    {
                        float x0 = image[top + c], x1 = image[top + channels + c], x2 = image[top + row + c], x3 = image[top + row + channels + c];
                        float m = MathF.Max(MathF.Max(x0, x1), MathF.Max(x2, x3));
                        output[o + c] = m;
                        if (!winners.IsEmpty)
                            winners[b * outSize + o + c] = !(m > 0) ? NoWinner : x0 == m ? 0 : x1 == m ? 1 : x2 == m ? 2 : x3 == m ? 3 : NoWinner;
                    }
                }
        }
    }

    // dy: (B, H/2, W/2, C) -> dx: (B, H, W, C) for samples [b0, b1), given the forward's x (post-ReLU) and y.
    [MethodImpl(KernelCompilation.Options)]
    internal static void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx,
        int height, int width, int channels, int b0, int b1, bool vectors = true)
    {
        int oh = height / 2, ow = width / 2, inSize = height * width * channels, outSize = oh * ow * channels, row = width * channels;
        bool wide = vectors && channels % Vector256<float>.Count == 0;
        // The vector path writes all four inputs of every window; only odd edges and the scalar path need zeros first.
        if (!wide || height % 2 != 0 || width % 2 != 0) dx.Slice(b0 * inSize, (b1 - b0) * inSize).Clear();
        Span<int> window = stackalloc int[4];
        for (int b = b0; b < b1; b++)
        {
            int xi = b * inSize, yi = b * outSize;
            for (int py = 0; py < oh; py++)
                for (int px = 0; px < ow; px++)
                {
                    int top = xi + 2 * py * row + 2 * px * channels, o = yi + (py * ow + px) * channels;
                    window[0] = top; window[1] = top + channels; window[2] = top + row; window[3] = top + row + channels;
                    if (wide)
                    {
                        for (int c = 0; c < channels; c += Vector256<float>.Count)
                        {
                            var max = Vector256.Create(y.Slice(o + c));
                            var grad = Vector256.Create(dy.Slice(o + c));
                            // Lanes still looking for their maximum: those above zero (ReLU), until the first match.
                            var open = Vector256.GreaterThan(max, Vector256<float>.Zero);
                            for (int k = 0; k < 4; k++)
                            {
                                var hit = Vector256.Equals(Vector256.Create(x.Slice(window[k] + c)), max) & open;
                                Vector256.ConditionalSelect(hit, grad, Vector256<float>.Zero).CopyTo(dx.Slice(window[k] + c));
                                open = Vector256.AndNot(open, hit);
                            }
                        }
                        continue;
                    }
                    for (int c = 0; c < channels; c++)
                    {
                        float max = y[o + c];
                        if (!(max > 0)) continue;
                        for (int k = 0; k < 4; k++)
                            if (x[window[k] + c] == max) { dx[window[k] + c] = dy[o + c]; break; }
                    }
                }
        }
    }
}
