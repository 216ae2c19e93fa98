using System.Buffers.Text;

namespace DigitParity.Server;

/// <summary>
/// Reads the body the API asks for, <c>{"pixels": [n, n, ...]}</c>, by hand: one object holding only "pixels", an
/// array of plain JSON numbers (no exponent) in 0..1, JSON whitespace between the tokens. Under load with
/// Utf8JsonReader its tokens and numbers took a third of the server's time. Anything else is left to
/// <see cref="PredictRequest.ParsePixels"/>'s general readers, which also say what is wrong with a body.
/// </summary>
internal static class PixelScanner
{
    // 10^0 .. 10^10, each exact as a float (5^10 < 2^24).
    private static ReadOnlySpan<float> PowersOfTen => [1f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f, 1e8f, 1e9f, 1e10f];

    /// <summary>The <paramref name="inputSize"/> pixels of such a body, or null when the body is anything else.</summary>
    public static float[]? TryScan(ReadOnlySpan<byte> body, int inputSize)
    {
        int p = 0;
        if (!Token(body, ref p, (byte)'{') || !Token(body, ref p, (byte)'"') || !body[p..].StartsWith("pixels\""u8)) return null;
        p += "pixels\"".Length;
        if (!Token(body, ref p, (byte)':') || !Token(body, ref p, (byte)'[')) return null;
        var values = new float[inputSize];
        for (int i = 0; i < inputSize; i++)
        {
            if (i > 0 && !Token(body, ref p, (byte)',')) return null;
            SkipWhiteSpace(body, ref p);
            if (!TryNumber(body, ref p, out float v) || !(v >= 0 && v <= 1)) return null;
            values[i] = v;
        }
        if (!Token(body, ref p, (byte)']') || !Token(body, ref p, (byte)'}')) return null;
        SkipWhiteSpace(body, ref p);
        return p == body.Length ? values : null;
    }

    /// <summary>
    /// The JSON number at <paramref name="p"/> (moved past it) as float.Parse reads it; false for anything else, or for
    /// a number with an exponent. Up to 7 significant digits and 10 decimals (every pixel written as k / 255 to 4 or
    /// 6 places) the value is m / 10^f for integers m ≤ 2^24 and f ≤ 10, both exact floats, so one IEEE division gives
    /// the correctly rounded float, as the parser does; longer ones go to the parser.
    /// </summary>
    public static bool TryNumber(ReadOnlySpan<byte> body, ref int p, out float value)
    {
        value = 0;
        int start = p;
        bool negative = p < body.Length && body[p] == '-';
        if (negative) p++;
        if (p >= body.Length || !IsDigit(body[p])) return false;
        ulong m = 0;
        int digits = 0, decimals = 0;
        if (body[p] == '0') p++; // JSON allows no other leading zero
        else
            for (; p < body.Length && IsDigit(body[p]); p++, digits++)
                if (digits < 18) m = m * 10 + (ulong)(body[p] - '0');
        if (p < body.Length && body[p] == '.')
        {
            if (++p >= body.Length || !IsDigit(body[p])) return false;
            for (; p < body.Length && IsDigit(body[p]); p++, decimals++)
                if (digits + decimals < 18) m = m * 10 + (ulong)(body[p] - '0');
        }
        if (p < body.Length && (IsDigit(body[p]) || (body[p] | 0x20) == 'e')) return false;
        if (digits + decimals < 18 && m <= 1 << 24 && decimals <= 10)
        {
            value = m / PowersOfTen[decimals];
            if (negative) value = -value;
            return true;
        }
        // The parser Utf8JsonReader.TryGetSingle uses; it reads a number too large as infinity, which no pixel is.
        return Utf8Parser.TryParse(body[start..p], out value, out int consumed) && consumed == p - start && float.IsFinite(value);
    }

    // Past white space, the expected byte: false when another byte or the end comes first.
    private static bool Token(ReadOnlySpan<byte> body, ref int p, byte expected)
    {
        SkipWhiteSpace(body, ref p);
        if (p >= body.Length || body[p] != expected) return false;
        p++;
        return true;
    }

    private static void SkipWhiteSpace(ReadOnlySpan<byte> body, ref int p)
    {
        while (p < body.Length && body[p] is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t') p++;
    }

    private static bool IsDigit(byte b) => (uint)(b - '0') <= 9;
}
