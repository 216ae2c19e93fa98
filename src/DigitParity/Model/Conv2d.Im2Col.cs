using System.Runtime.Intrinsics;

namespace DigitParity.Model;

// im2col and its inverse: each output pixel's K·K·C inputs as one row, and rows scattered back.
internal sealed partial class Conv2d
{
    // x: (B, H, W, C) -> cols: (B·OH·OW, K·K·C), samples [b0, b1). Row (b, oy, ox) holds, for ky = 0..K−1, the
    // K·C contiguous floats x[b, oy+ky, ox..ox+K−1, 0..C−1].
    // Copies run through pointers: conv1's runs are 5 floats, where slicing two spans per run cost more than the copy.
    // Runs of at most 8 floats are copied as one 8-float vector each, in order, so that the 3 floats a vector writes past
    // its run are overwritten by the next run; the range's last run is copied exactly (past it lie other workers' rows).
    internal unsafe void Im2Col(ReadOnlySpan<float> x, Span<float> cols, int b0, int b1)
    {
        int run = Kernel * InChannels, rowStride = InWidth * InChannels;
        if (b0 >= b1) return;
        if (x.Length < b1 * InSize || cols.Length < (long)b1 * OutPixels * Depth) throw new ArgumentException("x or cols is too short for the samples.");
        long bytes = run * sizeof(float);
        bool vectors = run <= 8 && Vector256.IsHardwareAccelerated;
        fixed (float* px = x, pc = cols)
        {
            float* end = pc + (nint)b1 * OutPixels * Depth, inputEnd = px + x.Length;
            for (int b = b0; b < b1; b++)
            {
                float* image = px + (nint)b * InSize;
                float* dst = pc + (nint)b * OutPixels * Depth;
                for (int oy = 0; oy < OutHeight; oy++)
                    for (int ox = 0; ox < OutWidth; ox++, dst += Depth)
                    {
                        float* src = image + oy * rowStride + ox * InChannels;
                        for (int ky = 0; ky < Kernel; ky++)
                        {
                            float* from = src + ky * rowStride, to = dst + ky * run;
                            if (vectors && to + 8 <= end && from + 8 <= inputEnd) Vector256.Store(Vector256.Load(from), to);
                            else Buffer.MemoryCopy(from, to, bytes, bytes);
                        }
                    }
            }
        }
    }

    // dcols: ((b1−b0)·OH·OW, K·K·C), the rows of samples [b0, b1) -> dx: (B, H, W, C) += the scatter of every row back
    // to its inputs. dx must be zero (or hold what to add to) for those samples.
    internal void Col2ImAdd(ReadOnlySpan<float> dcols, Span<float> dx, int b0, int b1)
    {
        int run = Kernel * InChannels, rowStride = InWidth * InChannels;
        for (int b = b0; b < b1; b++)
        {
            Span<float> image = dx.Slice(b * InSize, InSize);
            int row = (b - b0) * OutPixels;
            for (int oy = 0; oy < OutHeight; oy++)
                for (int ox = 0; ox < OutWidth; ox++, row++)
                {
                    ReadOnlySpan<float> src = dcols.Slice(row * Depth, Depth);
                    for (int ky = 0; ky < Kernel; ky++)
                    {
                        Span<float> target = image.Slice((oy + ky) * rowStride + ox * InChannels, run);
                        System.Numerics.Tensors.TensorPrimitives.Add(target, src.Slice(ky * run, run), target);
                    }
                }
        }
    }

    // offsets[(b·OH + oy)·OW + ox] = where pixel (b, oy, ox)'s inputs start in x: b·H·W·C + (oy·W + ox)·C.
    internal void RowOffsets(Span<int> offsets, int batch)
    {
        if (offsets.Length < (long)batch * OutPixels) throw new ArgumentException("offsets is too short for the batch.", nameof(offsets));
        for (int b = 0, r = 0; b < batch; b++)
            for (int oy = 0; oy < OutHeight; oy++)
                for (int ox = 0; ox < OutWidth; ox++, r++) offsets[r] = checked(b * InSize + (oy * InWidth + ox) * InChannels);
    }
}
