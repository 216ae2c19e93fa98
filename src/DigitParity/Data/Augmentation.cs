namespace DigitParity.Data;

/// <summary>
/// Seeded random affine distortions of square images, applied to training batches: a shift of up to
/// <see cref="Shift"/> pixels each way, a rotation of up to ±<see cref="Degrees"/>, a scaling by up to
/// ±<see cref="Scale"/>, about the image centre, with bilinear sampling (outside the image is 0). The draw for a
/// sample depends only on the seed, the epoch and the sample's position in that epoch's order, so runs are
/// reproducible for any thread count and a resumed run draws what the original would have.
/// </summary>
/// <param name="Shift">Largest shift in pixels.</param>
/// <param name="Degrees">Largest rotation in degrees.</param>
/// <param name="Scale">Largest relative scaling (0.1: 90 % to 110 %).</param>
public sealed record Augmentation(float Shift = 2f, float Degrees = 10f, float Scale = 0.1f)
{
    /// <summary>The distortions <c>--augment</c> applies: ±2 px, ±10°, ±10 %.</summary>
    public static Augmentation Default { get; } = new();

    // x: one side × side image -> y: its distortion for (seed, key). y must not overlap x.
    internal void Apply(ReadOnlySpan<float> x, Span<float> y, int side, ulong seed, ulong key)
    {
        ulong state = Mix(seed ^ Mix(key + 0x9E3779B97F4A7C15UL));
        float Uniform() // in [-1, 1)
        {
            state = Mix(state + 0x9E3779B97F4A7C15UL);
            return (state >> 40) * (2f / (1 << 24)) - 1f;
        }
        float dx = Shift * Uniform(), dy = Shift * Uniform();
        float angle = Degrees * MathF.PI / 180f * Uniform(), scale = 1f + Scale * Uniform();
        Warp(x, y, side, dx, dy, angle, scale);
    }

    // x -> y: shifted by (dx, dy), rotated by angle (radians, counter-clockwise on screen) and scaled about the centre.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static void Warp(ReadOnlySpan<float> x, Span<float> y, int side, float dx, float dy, float angle, float scale)
    {
        // Inverse map: output pixel (u, v) samples the input at R(−angle)/scale · ((u, v) − centre − shift) + centre.
        float cos = MathF.Cos(angle) / scale, sin = MathF.Sin(angle) / scale, centre = (side - 1) / 2f;
        for (int v = 0; v < side; v++)
        {
            float ry = v - centre - dy;
            for (int u = 0; u < side; u++)
            {
                float rx = u - centre - dx;
                float sx = cos * rx + sin * ry + centre, sy = -sin * rx + cos * ry + centre;
                y[v * side + u] = Sample(x, side, sx, sy);
            }
        }
    }

    private static float Sample(ReadOnlySpan<float> x, int side, float sx, float sy)
    {
        if (!(sx > -1 && sy > -1 && sx < side && sy < side)) return 0f;
        int x0 = (int)MathF.Floor(sx), y0 = (int)MathF.Floor(sy);
        float fx = sx - x0, fy = sy - y0;
        if (x0 >= 0 && y0 >= 0 && x0 < side - 1 && y0 < side - 1)
        {
            // Inside: the four neighbours exist (the same arithmetic as the edge path below, without its checks).
            ref float p = ref System.Runtime.CompilerServices.Unsafe.Add(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x), y0 * side + x0);
            float p00 = p, p10 = System.Runtime.CompilerServices.Unsafe.Add(ref p, 1);
            float p01 = System.Runtime.CompilerServices.Unsafe.Add(ref p, side), p11 = System.Runtime.CompilerServices.Unsafe.Add(ref p, side + 1);
            return (p00 * (1 - fx) + p10 * fx) * (1 - fy) + (p01 * (1 - fx) + p11 * fx) * fy;
        }
        return (At(x, side, x0, y0) * (1 - fx) + At(x, side, x0 + 1, y0) * fx) * (1 - fy)
            + (At(x, side, x0, y0 + 1) * (1 - fx) + At(x, side, x0 + 1, y0 + 1) * fx) * fy;
    }

    private static float At(ReadOnlySpan<float> x, int side, int px, int py) => px >= 0 && py >= 0 && px < side && py < side ? x[py * side + px] : 0f;

    // SplitMix64's finalizer: a cheap, well-mixed hash of one 64-bit value.
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
