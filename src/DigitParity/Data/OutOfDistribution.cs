using SkiaSharp;

namespace DigitParity.Data;

/// <summary>
/// Seeded sets of 28 × 28 images that are not digits, to measure how well a score tells them from MNIST: uniform
/// noise, random pen strokes (drawn on a 280 × 280 canvas and prepared as the drawing page's are), blank and
/// near-blank inputs, letters rendered from the DejaVu fonts Debian ships (prepared as image files are; letters
/// that look like digits left out), and MNIST test images with their pixels shuffled.
/// </summary>
internal static class OutOfDistribution
{
    /// <summary>The sets' names, in the order <see cref="Generate"/> knows them.</summary>
    public static IReadOnlyList<string> Sets { get; } = ["noise", "strokes", "blank", "letters", "shuffled"];

    // Letters that are not a digit's look-alike (O, l, I, S, Z, B, g, q, b, G ... are left out).
    private const string Letters = "ACEFHJKLMNPRTUVWXYacdefhkmnprtuvwxy";

    private static readonly string[] Fonts = ["DejaVu Sans", "DejaVu Serif", "DejaVu Sans Mono"];

    /// <summary><paramref name="count"/> images of set <paramref name="name"/>, 784 bytes each (0 = background), from <paramref name="seed"/>.</summary>
    public static byte[][] Generate(string name, int count, int seed, Dataset mnist)
    {
        ArgumentNullException.ThrowIfNull(mnist);
        var random = new Random(seed);
        var images = new byte[count][];
        for (int i = 0; i < count; i++)
        {
            images[i] = name switch
            {
                "noise" => Noise(random),
                "strokes" => Strokes(random),
                "blank" => Blank(random),
                "letters" => Letter(random),
                "shuffled" => Shuffled(random, mnist.Image(random.Next(mnist.Count)).ToArray()),
                _ => throw new ArgumentException($"no set {name}; the sets are {string.Join(", ", Sets)}", nameof(name)),
            };
        }
        return images;
    }

    private static byte[] Noise(Random random)
    {
        var image = new byte[784];
        random.NextBytes(image);
        return image;
    }

    // Half all zeros, half a few faint or bright dots.
    private static byte[] Blank(Random random)
    {
        var image = new byte[784];
        if (random.Next(2) == 0) return image;
        for (int k = random.Next(1, 6); k > 0; k--) image[random.Next(784)] = (byte)random.Next(30, 256);
        return image;
    }

    private static byte[] Shuffled(Random random, byte[] image)
    {
        random.Shuffle(image);
        return image;
    }

    // 1-4 random strokes of a round pen, as a mouse or finger leaves them, then the page's preparation.
    private static byte[] Strokes(Random random) => GeneratedImage.Draw(canvas =>
    {
        using var pen = new SKPaint { Color = SKColors.White, IsAntialias = true, Style = SKPaintStyle.Stroke, StrokeCap = SKStrokeCap.Round, StrokeJoin = SKStrokeJoin.Round, StrokeWidth = random.Next(14, 26) };
        for (int s = random.Next(1, 5); s > 0; s--)
        {
            using var path = new SKPath();
            path.MoveTo(random.Next(20, 260), random.Next(20, 260));
            for (int k = random.Next(1, 4); k > 0; k--)
                path.QuadTo(random.Next(20, 260), random.Next(20, 260), random.Next(20, 260), random.Next(20, 260));
            canvas.DrawPath(path, pen);
        }
    });

    private static byte[] Letter(Random random) => GeneratedImage.Draw(canvas =>
    {
        using var typeface = SKTypeface.FromFamilyName(Fonts[random.Next(Fonts.Length)], random.Next(2) == 0 ? SKFontStyle.Normal : SKFontStyle.Bold);
        using var font = new SKFont(typeface, random.Next(120, 220));
        using var paint = new SKPaint { Color = SKColors.White, IsAntialias = true };
        string letter = Letters[random.Next(Letters.Length)].ToString();
        canvas.DrawText(letter, 140 - font.MeasureText(letter) / 2, 200, SKTextAlign.Left, font, paint);
    });
}
