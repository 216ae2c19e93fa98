using DigitParity.IO;
using SkiaSharp;

namespace DigitParity.Data;

/// <summary>
/// Turns an image file (PNG, JPEG, BMP; any size, colour or gray, dark-on-light or light-on-dark) into 28 × 28 MNIST-style
/// pixels, the way MNIST was made: grayscale; inverted when the background is light; cropped to the ink's bounding
/// box; scaled so the longer side is 20 px, keeping the aspect ratio; placed in 28 × 28 with its centre of mass at the
/// centre; then, where its strokes are thinner or thicker than 80 % of MNIST's (1.45 to 2.72 px), dilated or eroded into that
/// range. Every failure is an <see cref="InvalidDataException"/> naming the file.
/// </summary>
public static class DigitImage
{
    /// <summary>Largest image accepted, checked from the header before any pixel is decoded: 40 megapixels.</summary>
    public const long MaxPixels = 40_000_000;

    /// <summary>Side of the output image.</summary>
    public const int Side = 28;

    /// <summary>Reads <paramref name="path"/> and returns 784 bytes (0 = background, 255 = ink).</summary>
    /// <exception cref="InvalidDataException">The file is missing or holds no readable image; the message names it.</exception>
    public static byte[] Load(string path)
    {
        return FromEncoded(InputFile.ReadAll(path, MaxEncodedBytes, "a PNG, JPEG or BMP image"), path);
    }

    /// <summary>Largest encoded image read from a stream: 64 MiB.</summary>
    public const int MaxEncodedBytes = 64 << 20;

    /// <summary>As <see cref="Load(string)"/>, from a stream of the encoded file (read to its end, at most <see cref="MaxEncodedBytes"/>).</summary>
    /// <exception cref="InvalidDataException">The stream holds no readable image or is too large; the message names <paramref name="name"/>.</exception>
    public static byte[] Load(Stream stream, string name)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return FromEncoded(InputFile.ReadBounded(stream, MaxEncodedBytes, $"{name}: more than {MaxEncodedBytes:N0} bytes, expected a PNG, JPEG or BMP image of at most that size"), name);
    }

    /// <summary>As <see cref="Load(string)"/>, from the file's bytes; <paramref name="name"/> is used in error messages.</summary>
    public static byte[] FromEncoded(byte[] encoded, string name) => FromEncoded(encoded, name, budget: null);

    /// <summary>As <see cref="FromEncoded(byte[], string)"/>, decoding only within <paramref name="budget"/> (checked from the header).</summary>
    internal static byte[] FromEncoded(byte[] encoded, string name, DecodeBudget? budget)
    {
        ArgumentNullException.ThrowIfNull(encoded);
        using var data = SKData.CreateCopy(encoded);
        using var codec = SKCodec.Create(data)
            ?? throw new InvalidDataException($"{name}: not an image, expected a PNG, JPEG or BMP file");
        var info = codec.Info;
        if (info.Width <= 0 || info.Height <= 0 || (long)info.Width * info.Height > MaxPixels)
            throw new InvalidDataException($"{name}: {info.Width}x{info.Height} pixels, expected at most {MaxPixels:N0} pixels");
        if (codec.EncodedFormat is not (SKEncodedImageFormat.Png or SKEncodedImageFormat.Jpeg or SKEncodedImageFormat.Bmp))
            throw new InvalidDataException($"{name}: a {codec.EncodedFormat} image, expected a PNG, JPEG or BMP file");
        // Deflate packs at most 1032 bytes into one, and a PNG row holds at least a filter byte and a bit per pixel: a
        // PNG shorter than that for its size is truncated, whatever it claims. Refused before decoding, which would
        // allocate the whole image first (a 74-byte file claiming 6324 x 6324 pixels would cost ~280 MB).
        if (codec.EncodedFormat == SKEncodedImageFormat.Png && encoded.Length * 1032.0 < info.Height * (1.0 + (info.Width + 7) / 8))
            throw new InvalidDataException($"{name}: {encoded.Length} bytes cannot hold {info.Width}x{info.Height} pixels (truncated file), expected a whole PNG, JPEG or BMP image");
        using var reservation = budget is null ? null : budget.TryReserve((long)info.Width * info.Height)
            ?? throw new DecodeBudgetExceededException($"{name}: too many images are being decoded now ({info.Width}x{info.Height} pixels asked); try again shortly");
        using var bitmap = new SKBitmap(new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        var result = codec.GetPixels(bitmap.Info, bitmap.GetPixels());
        // A truncated file decodes as far as it goes and leaves the rest blank: an answer about part of an image.
        if (result == SKCodecResult.IncompleteInput)
            throw new InvalidDataException($"{name}: the image data ends early (truncated file), expected a whole PNG, JPEG or BMP image");
        if (result != SKCodecResult.Success)
            throw new InvalidDataException($"{name}: unreadable image data ({result}), expected a valid PNG, JPEG or BMP file");
        return FromGray(Gray(bitmap), info.Width, info.Height, name);
    }

    /// <summary>MNIST-style 28 × 28 bytes from a grayscale image (0 = black, 255 = white), width × height, row-major.</summary>
    public static byte[] FromGray(byte[] gray, int width, int height, string name)
    {
        ArgumentNullException.ThrowIfNull(gray);
        if (gray.Length != width * height) throw new ArgumentException("gray does not hold width × height pixels.", nameof(gray));
        // Ink is the minority: a light border means dark ink on a light background, so invert to light-on-dark.
        double border = 0;
        int count = 0;
        for (int x = 0; x < width; x++) { border += gray[x] + gray[(height - 1) * width + x]; count += 2; }
        for (int y = 0; y < height; y++) { border += gray[y * width] + gray[y * width + width - 1]; count += 2; }
        bool invert = border / count > 127;
        var ink = new byte[gray.Length];
        for (int i = 0; i < ink.Length; i++) ink[i] = invert ? (byte)(255 - gray[i]) : gray[i];

        // Bounding box of the ink (pixels clearly above the background).
        int background = invert ? 255 - (int)(border / count) : (int)(border / count);
        int threshold = Math.Min(250, background + 10);
        int left = width, right = -1, top = height, bottom = -1;
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                if (ink[y * width + x] > threshold)
                {
                    left = Math.Min(left, x); right = Math.Max(right, x);
                    top = Math.Min(top, y); bottom = Math.Max(bottom, y);
                }
        if (right < 0) throw new InvalidDataException($"{name}: no ink, expected a digit on a plain background");

        // Crop, then scale the longer side to 20 px with area averaging.
        int cropWidth = right - left + 1, cropHeight = bottom - top + 1;
        double scale = 20.0 / Math.Max(cropWidth, cropHeight);
        int outWidth = Math.Max(1, (int)Math.Round(cropWidth * scale)), outHeight = Math.Max(1, (int)Math.Round(cropHeight * scale));
        var small = new double[outWidth * outHeight];
        for (int y = 0; y < outHeight; y++)
            for (int x = 0; x < outWidth; x++)
                small[y * outWidth + x] = AreaAverage(ink, width, left + x / scale, top + y / scale, 1 / scale, background);

        // Centre of mass to the centre of the 28 × 28 image.
        double mass = 0, cx = 0, cy = 0;
        for (int y = 0; y < outHeight; y++)
            for (int x = 0; x < outWidth; x++)
            {
                double v = small[y * outWidth + x];
                mass += v; cx += v * x; cy += v * y;
            }
        cx = mass > 0 ? cx / mass : outWidth / 2.0;
        cy = mass > 0 ? cy / mass : outHeight / 2.0;
        // MNIST put the centre of mass at (14, 14) in pixel coordinates (measured: 13.5 shifts most digits by a pixel).
        int dx = (int)Math.Round(Side / 2.0 - cx), dy = (int)Math.Round(Side / 2.0 - cy);
        var placed = new float[Side * Side];
        for (int y = 0; y < outHeight; y++)
            for (int x = 0; x < outWidth; x++)
            {
                int tx = x + dx, ty = y + dy;
                if ((uint)tx < Side && (uint)ty < Side)
                    placed[ty * Side + tx] = (float)Math.Clamp(Math.Round(small[y * outWidth + x]), 0, 255) / 255f;
            }

        // Strokes thinner or thicker than MNIST's to its range (thin fonts, bold fonts, thin and thick pens).
        StrokeWidth.Normalize(placed, Side);
        var result = new byte[Side * Side];
        for (int i = 0; i < result.Length; i++) result[i] = (byte)Math.Clamp(MathF.Round(placed[i] * 255), 0, 255);
        return result;
    }

    // Mean of the source pixels covered by the square [x0, x0 + size) × [y0, y0 + size), minus the background level.
    private static double AreaAverage(byte[] ink, int width, double x0, double y0, double size, int background)
    {
        int height = ink.Length / width;
        int xs = (int)Math.Floor(x0), ys = (int)Math.Floor(y0);
        int xe = Math.Min(width, (int)Math.Ceiling(x0 + size)), ye = Math.Min(height, (int)Math.Ceiling(y0 + size));
        double sum = 0, weight = 0;
        for (int y = ys; y < ye; y++)
        {
            double wy = Math.Min(y + 1, y0 + size) - Math.Max(y, y0);
            for (int x = xs; x < xe; x++)
            {
                double w = wy * (Math.Min(x + 1, x0 + size) - Math.Max(x, x0));
                if (w <= 0) continue;
                sum += w * Math.Max(0, ink[y * width + x] - background) * 255.0 / Math.Max(1, 255 - background);
                weight += w;
            }
        }
        return weight > 0 ? sum / weight : 0;
    }

    // Luma of RGBA pixels composited on white (transparent areas count as background paper).
    private static byte[] Gray(SKBitmap bitmap)
    {
        var gray = new byte[bitmap.Width * bitmap.Height];
        ReadOnlySpan<byte> rgba = bitmap.GetPixelSpan();
        for (int i = 0; i < gray.Length; i++)
        {
            double r = rgba[4 * i], g = rgba[4 * i + 1], b = rgba[4 * i + 2], a = rgba[4 * i + 3] / 255.0;
            double luma = 0.299 * r + 0.587 * g + 0.114 * b;
            gray[i] = (byte)Math.Clamp(Math.Round(luma * a + 255 * (1 - a)), 0, 255);
        }
        return gray;
    }
}
