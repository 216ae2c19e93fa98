namespace DigitParity.Data;

/// <summary>
/// Seeded random distortions of square images, applied to training batches: a shift of up to
/// <see cref="Shift"/> pixels each way, a rotation of up to ±<see cref="Degrees"/>, a scaling by up to
/// ±<see cref="Scale"/>, about the image centre, and, with <see cref="Elastic"/> above 0, a smooth random
/// displacement of up to that many pixels (an elastic distortion: displacements drawn at a grid of control points
/// <see cref="GridSpacing"/> pixels apart and interpolated bilinearly between them), with bilinear sampling
/// (outside the image is 0). The draw for a sample depends only on the seed, the epoch and the sample's position in
/// that epoch's order, so runs are reproducible for any thread count and a resumed run draws what the original would have.
/// </summary>
/// <param name="Shift">Largest shift in pixels.</param>
/// <param name="Degrees">Largest rotation in degrees.</param>
/// <param name="Scale">Largest relative scaling (0.1: 90 % to 110 %).</param>
/// <param name="Elastic">Largest elastic displacement in pixels at a control point (0: none).</param>
public sealed record Augmentation(float Shift = 2f, float Degrees = 10f, float Scale = 0.1f, float Elastic = 0f)
{
    /// <summary>The distortions <c>--augment</c> applies: ±2 px, ±10°, ±10 %.</summary>
    public static Augmentation Default { get; } = new();

    /// <summary>Pixels between two control points of the elastic displacement field.</summary>
    internal const int GridSpacing = 7;

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
        if (Elastic <= 0)
        {
            Warp(x, y, side, dx, dy, angle, scale);
            return;
        }
        // The control points' displacements (x then y), drawn after the affine parameters so that those stay as without.
        int points = GridPoints(side);
        int count = 2 * points * points;
        Span<float> field = count <= 4096 ? stackalloc float[count] : new float[count];
        for (int i = 0; i < field.Length; i++) field[i] = Elastic * Uniform();
        Warp(x, y, side, dx, dy, angle, scale, field);
    }

    /// <summary>Control points per side of the elastic field: one every <see cref="GridSpacing"/> pixels from 0, past the last pixel.</summary>
    internal static int GridPoints(int side) => (side - 1) / GridSpacing + 2;

    // x -> y: shifted by (dx, dy), rotated by angle (radians, counter-clockwise on screen) and scaled about the centre,
    // then displaced by the elastic field if one is given (GridPoints² x displacements, then as many y ones; control
    // point (gx, gy) sits at pixel (gx, gy) · GridSpacing).
    [System.Runtime.CompilerServices.MethodImpl(Engine.KernelCompilation.Options)]
    internal static void Warp(ReadOnlySpan<float> x, Span<float> y, int side, float dx, float dy, float angle, float scale, ReadOnlySpan<float> field = default)
    {
        // Inverse map: output pixel (u, v) samples the input at R(−angle)/scale · ((u, v) − centre − shift) + centre
        // (+ the field's displacement at (u, v)).
        float cos = MathF.Cos(angle) / scale, sin = MathF.Sin(angle) / scale, centre = (side - 1) / 2f;
        int points = GridPoints(side);
        for (int v = 0; v < side; v++)
        {
            float ry = v - centre - dy;
            int gy = v / GridSpacing;
            float ty = (v - gy * GridSpacing) / (float)GridSpacing;
            for (int u = 0; u < side; u++)
            {
                float rx = u - centre - dx;
                float sx = cos * rx + sin * ry + centre, sy = -sin * rx + cos * ry + centre;
                if (!field.IsEmpty)
                {
                    int gx = u / GridSpacing, at = gy * points + gx;
                    float tx = (u - gx * GridSpacing) / (float)GridSpacing;
                    sx += Bilinear(field, at, points, tx, ty);
                    sy += Bilinear(field, points * points + at, points, tx, ty);
                }
                y[v * side + u] = Sample(x, side, sx, sy);
            }
        }
    }

    // The field between control points at, at + 1, at + points, at + points + 1, at fractions (tx, ty).
    private static float Bilinear(ReadOnlySpan<float> field, int at, int points, float tx, float ty) =>
        (field[at] * (1 - tx) + field[at + 1] * tx) * (1 - ty) + (field[at + points] * (1 - tx) + field[at + points + 1] * tx) * ty;

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
