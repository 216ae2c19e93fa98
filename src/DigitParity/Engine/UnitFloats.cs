using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using System.Runtime.Intrinsics;

namespace DigitParity.Engine;

/// <summary>
/// Pixel bytes as the network's inputs: byte / 255, correctly rounded. Datasets convert whole images with
/// <see cref="FromBytes"/>; products that read bytes directly look each value up in <see cref="ByteValues"/>.
/// </summary>
internal static class UnitFloats
{
    /// <summary>The value of each pixel byte, byte / 255: exactly what <see cref="FromBytes(ReadOnlySpan{byte}, Span{float})"/> gives.</summary>
    public static ReadOnlySpan<float> ByteValues => s_byteValues;

    private static readonly float[] s_byteValues = Table();

    private static float[] Table()
    {
        var bytes = new byte[256];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)i;
        var values = new float[256];
        FromBytes(bytes, values);
        return values;
    }

    /// <summary>
    /// destination[i] = source[i] / 255, bit for bit the correctly rounded division, in one vectorised pass.
    /// A vector division costs ~10 cycles, so the quotient is q = x·(1/255) refined once with the exact residual
    /// x − 255q (one fma); a test checks all 256 byte values against <c>b / 255f</c>.
    /// </summary>
    public static unsafe void FromBytes(ReadOnlySpan<byte> source, Span<float> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("destination is shorter than source.", nameof(destination));
        int i = 0, n = source.Length;
        fixed (byte* s = source)
        fixed (float* d = destination)
        {
            if (Vector512.IsHardwareAccelerated && Avx512BW.IsSupported)
            {
                // 64 pixels at a time; MNIST's all-blank runs (its borders) need no conversion.
                for (; i + 64 <= n; i += 64)
                {
                    var bytes = Vector512.Load(s + i);
                    if (Vector512.EqualsAll(bytes, Vector512<byte>.Zero))
                    {
                        Vector512<float>.Zero.Store(d + i); Vector512<float>.Zero.Store(d + i + 16);
                        Vector512<float>.Zero.Store(d + i + 32); Vector512<float>.Zero.Store(d + i + 48);
                        continue;
                    }
                    Divide(Avx512F.ConvertToVector512Int32(bytes.GetLower().GetLower()), d + i);
                    Divide(Avx512F.ConvertToVector512Int32(bytes.GetLower().GetUpper()), d + i + 16);
                    Divide(Avx512F.ConvertToVector512Int32(bytes.GetUpper().GetLower()), d + i + 32);
                    Divide(Avx512F.ConvertToVector512Int32(bytes.GetUpper().GetUpper()), d + i + 48);
                }
                for (; i + 16 <= n; i += 16) Divide(Avx512F.ConvertToVector512Int32(Vector128.Load(s + i)), d + i);
            }
            else if (Vector256.IsHardwareAccelerated && Avx2.IsSupported)
            {
                for (; i + 32 <= n; i += 32)
                {
                    if (Vector256.EqualsAll(Vector256.Load(s + i), Vector256<byte>.Zero))
                    {
                        Vector256<float>.Zero.Store(d + i); Vector256<float>.Zero.Store(d + i + 8);
                        Vector256<float>.Zero.Store(d + i + 16); Vector256<float>.Zero.Store(d + i + 24);
                        continue;
                    }
                    Divide(Avx2.ConvertToVector256Int32(s + i), d + i);
                    Divide(Avx2.ConvertToVector256Int32(s + i + 8), d + i + 8);
                    Divide(Avx2.ConvertToVector256Int32(s + i + 16), d + i + 16);
                    Divide(Avx2.ConvertToVector256Int32(s + i + 24), d + i + 24);
                }
                for (; i + 8 <= n; i += 8) Divide(Avx2.ConvertToVector256Int32(s + i), d + i);
            }
            for (; i < n; i++) d[i] = s[i] / 255f;
        }
    }

    // to[0..16) = pixels / 255, correctly rounded: q = x·(1/255), then q + (x − 255q)·(1/255).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Divide(Vector512<int> pixels, float* to)
    {
        var x = Avx512F.ConvertToVector512Single(pixels);
        var reciprocal = Vector512.Create(1f / 255f);
        var q = x * reciprocal;
        var residual = Vector512.FusedMultiplyAdd(-q, Vector512.Create(255f), x);
        Vector512.FusedMultiplyAdd(residual, reciprocal, q).Store(to);
    }

    // The same for 8 pixels.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Divide(Vector256<int> pixels, float* to)
    {
        var x = Vector256.ConvertToSingle(pixels);
        var reciprocal = Vector256.Create(1f / 255f);
        var q = x * reciprocal;
        var residual = Vector256.FusedMultiplyAdd(-q, Vector256.Create(255f), x);
        Vector256.FusedMultiplyAdd(residual, reciprocal, q).Store(to);
    }
}
