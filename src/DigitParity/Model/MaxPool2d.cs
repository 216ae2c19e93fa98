namespace DigitParity.Model;

/// <summary>
/// 2 × 2 max pooling, stride 2, channels last: x (B, H, W, C) → y (B, H/2, W/2, C) (odd edges dropped, as PyTorch).
/// The gradient goes to the first maximum of each window (in row-major window order), and only where it is above
/// zero: the layer follows a ReLU, whose derivative at 0 is 0, so the ReLU's backward is folded in here.
/// </summary>
public static class MaxPool2d
{
    // x: (B, H, W, C) -> y: (B, H/2, W/2, C), samples [b0, b1).
    internal static void Forward(ReadOnlySpan<float> x, Span<float> y, int height, int width, int channels, int b0, int b1)
    {
        int oh = height / 2, ow = width / 2, inSize = height * width * channels, outSize = oh * ow * channels, row = width * channels;
        for (int b = b0; b < b1; b++)
        {
            ReadOnlySpan<float> image = x.Slice(b * inSize, inSize);
            Span<float> output = y.Slice(b * outSize, outSize);
            for (int py = 0; py < oh; py++)
                for (int px = 0; px < ow; px++)
                {
                    int top = 2 * py * row + 2 * px * channels;
                    ReadOnlySpan<float> a = image.Slice(top, channels), c = image.Slice(top + channels, channels);
                    ReadOnlySpan<float> d = image.Slice(top + row, channels), e = image.Slice(top + row + channels, channels);
                    Span<float> dst = output.Slice((py * ow + px) * channels, channels);
                    System.Numerics.Tensors.TensorPrimitives.Max(a, c, dst);
                    System.Numerics.Tensors.TensorPrimitives.Max(dst, d, dst);
                    System.Numerics.Tensors.TensorPrimitives.Max(dst, e, dst);
                }
        }
    }

    // dy: (B, H/2, W/2, C) -> dx: (B, H, W, C) for samples [b0, b1), given the forward's x (post-ReLU) and y.
    internal static void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx,
        int height, int width, int channels, int b0, int b1)
    {
        int oh = height / 2, ow = width / 2, inSize = height * width * channels, outSize = oh * ow * channels, row = width * channels;
        dx.Slice(b0 * inSize, (b1 - b0) * inSize).Clear();
        Span<int> window = stackalloc int[4];
        for (int b = b0; b < b1; b++)
        {
            int xi = b * inSize, yi = b * outSize;
            for (int py = 0; py < oh; py++)
                for (int px = 0; px < ow; px++)
                {
                    int top = xi + 2 * py * row + 2 * px * channels, o = yi + (py * ow + px) * channels;
                    window[0] = top; window[1] = top + channels; window[2] = top + row; window[3] = top + row + channels;
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
