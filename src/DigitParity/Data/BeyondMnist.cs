using SkiaSharp;

namespace DigitParity.Data;

/// <summary>
/// Labelled digits that are not from MNIST, to measure how far a model trained on it generalizes. <c>typed</c>: every
/// digit in 13 DejaVu fonts (Sans, Serif and Mono at their weights and slants, ExtraLight and Condensed among them),
/// each filled, with a 6 px and with a 14 px outline, and sheared −0.25, 0 and +0.25: 1,170 images. <c>drawn</c>: digits
/// drawn as pen strokes by a program, the way a mouse or finger draws them on the page: a stroke template per digit
/// (two for 1, 4 and 7) with its points jittered, sized, sheared, rotated and placed at random, a round pen 14-26 px
/// wide. Both are drawn white on a black 280 × 280 canvas and prepared as image files and the page's drawings are
/// (<see cref="DigitImage.FromGray"/>).
/// </summary>
internal static class BeyondMnist
{
    /// <summary>The sets' names, in the order <see cref="Generate"/> knows them.</summary>
    public static IReadOnlyList<string> Sets { get; } = ["typed", "drawn"];

    /// <summary>Where Debian's fonts-dejavu-core and fonts-dejavu-extra put the fonts.</summary>
    public const string FontDirectory = "/usr/share/fonts/truetype/dejavu";

    /// <summary>The font files of <c>typed</c>, in <see cref="FontDirectory"/>.</summary>
    public static IReadOnlyList<string> FontFiles { get; } =
    [
        "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-ExtraLight.ttf", "DejaVuSans-Oblique.ttf",
        "DejaVuSansCondensed.ttf", "DejaVuSansCondensed-BoldOblique.ttf",
        "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerifCondensed.ttf",
        "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf",
    ];

    // Widths of the outline stroked around each glyph, in canvas pixels (0: the font's own weight).
    private static readonly float[] Outlines = [0, 6, 14];

    // Horizontal shear x += s · (y − centre).
    private static readonly float[] Shears = [-0.25f, 0, 0.25f];

    /// <summary>Images of <c>drawn</c> per digit.</summary>
    public const int DrawnPerDigit = 100;

    private const int Side = GeneratedImage.Side;

    /// <summary>
    /// The set <paramref name="name"/> as a labelled dataset (28 × 28, label = digit), with a description of each image
    /// (<c>DejaVuSans-Bold.ttf outline 6 shear -0.25</c>, <c>pen 18</c>); <c>drawn</c> is made from <paramref name="seed"/>,
    /// <c>typed</c> from the fonts in <paramref name="fonts"/> (default <see cref="FontDirectory"/>).
    /// </summary>
    /// <exception cref="InvalidDataException">A font file of <c>typed</c> is missing; the message names it and its package.</exception>
    public static (Dataset Images, string[] Descriptions) Generate(string name, int seed = 1, string fonts = FontDirectory) => name switch
    {
        "typed" => Typed(fonts),
        "drawn" => Drawn(seed),
        _ => throw new ArgumentException($"no set {name}; the sets are {string.Join(", ", Sets)}", nameof(name)),
    };

    private static (Dataset, string[]) Typed(string fonts)
    {
        var images = new List<byte[]>();
        var labels = new List<byte>();
        var descriptions = new List<string>();
        foreach (string file in FontFiles)
        {
            string path = Path.Combine(fonts, file);
            using var typeface = File.Exists(path) ? SKTypeface.FromFile(path) : null;
            if (typeface is null)
                throw new InvalidDataException($"{path}: font missing, expected Debian's fonts-dejavu-core and fonts-dejavu-extra (apt-get install fonts-dejavu-core fonts-dejavu-extra)");
            using var font = new SKFont(typeface, 200);
            foreach (float outline in Outlines)
                foreach (float shear in Shears)
                    for (int digit = 0; digit < 10; digit++)
                    {
                        string text = digit.ToString(System.Globalization.CultureInfo.InvariantCulture);
                        images.Add(GeneratedImage.Draw(canvas =>
                        {
                            using var paint = new SKPaint
                            {
                                Color = SKColors.White, IsAntialias = true, StrokeWidth = outline, StrokeJoin = SKStrokeJoin.Round,
                                Style = outline > 0 ? SKPaintStyle.StrokeAndFill : SKPaintStyle.Fill,
                            };
                            canvas.Translate(Side / 2f, Side / 2f);
                            canvas.Skew(shear, 0);
                            // Baseline 0.36 em below the centre puts a digit's ~0.73 em height around it.
                            canvas.DrawText(text, -font.MeasureText(text) / 2, 0.36f * font.Size, SKTextAlign.Left, font, paint);
                        }));
                        labels.Add((byte)digit);
                        descriptions.Add(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{file} outline {outline} shear {shear}"));
                    }
        }
        return (ToDataset(images, labels), descriptions.ToArray());
    }

    // Stroke templates in a unit box (x right, y down), one list of strokes per variant. A point given twice is a corner;
    // elsewhere the pen passes smoothly near the points (quadratic curves through their midpoints).
    private static readonly (float X, float Y)[][][][] Templates =
    [
        [[Ring(12)]],
        [[[(0.5f, 0.03f), (0.5f, 0.97f)]], [[(0.2f, 0.25f), (0.55f, 0.03f), (0.55f, 0.03f), (0.55f, 0.97f)]]],
        [[[(0.12f, 0.25f), (0.3f, 0.05f), (0.65f, 0.04f), (0.85f, 0.25f), (0.75f, 0.5f), (0.4f, 0.75f), (0.1f, 0.96f), (0.1f, 0.96f), (0.9f, 0.96f)]]],
        [[[(0.12f, 0.12f), (0.5f, 0.02f), (0.82f, 0.2f), (0.72f, 0.42f), (0.4f, 0.5f), (0.4f, 0.5f), (0.82f, 0.62f), (0.85f, 0.85f), (0.5f, 0.98f), (0.12f, 0.86f)]]],
        [[[(0.62f, 0.03f), (0.62f, 0.03f), (0.08f, 0.66f), (0.08f, 0.66f), (0.92f, 0.66f)], [(0.66f, 0.3f), (0.66f, 0.97f)]],
         [[(0.18f, 0.03f), (0.18f, 0.03f), (0.14f, 0.55f), (0.14f, 0.55f), (0.88f, 0.55f)], [(0.72f, 0.03f), (0.72f, 0.97f)]]],
        [[[(0.85f, 0.04f), (0.85f, 0.04f), (0.25f, 0.04f), (0.25f, 0.04f), (0.2f, 0.45f), (0.2f, 0.45f), (0.55f, 0.38f), (0.85f, 0.58f), (0.8f, 0.85f), (0.5f, 0.98f), (0.12f, 0.88f)]]],
        [[[(0.75f, 0.06f), (0.4f, 0.18f), (0.17f, 0.55f), (0.25f, 0.88f), (0.55f, 0.98f), (0.82f, 0.8f), (0.74f, 0.56f), (0.45f, 0.5f), (0.2f, 0.65f)]]],
        [[[(0.08f, 0.06f), (0.08f, 0.06f), (0.92f, 0.06f), (0.92f, 0.06f), (0.4f, 0.97f)]],
         [[(0.08f, 0.06f), (0.08f, 0.06f), (0.92f, 0.06f), (0.92f, 0.06f), (0.4f, 0.97f)], [(0.35f, 0.52f), (0.85f, 0.52f)]]],
        [[[(0.72f, 0.12f), (0.5f, 0.02f), (0.24f, 0.15f), (0.3f, 0.38f), (0.5f, 0.5f), (0.76f, 0.65f), (0.72f, 0.9f), (0.5f, 0.99f), (0.24f, 0.88f), (0.28f, 0.64f), (0.5f, 0.5f), (0.7f, 0.36f), (0.74f, 0.16f), (0.56f, 0.03f)]]],
        [[[(0.8f, 0.3f), (0.62f, 0.05f), (0.3f, 0.07f), (0.18f, 0.3f), (0.38f, 0.48f), (0.7f, 0.42f), (0.8f, 0.22f), (0.8f, 0.22f), (0.77f, 0.6f), (0.68f, 0.98f)]]],
    ];

    // A closed ring of n points around the unit box's centre, the first repeated to close it smoothly.
    private static (float X, float Y)[] Ring(int n) =>
        Enumerable.Range(0, n + 2).Select(i => (0.5f + 0.45f * MathF.Sin(i * 2 * MathF.PI / n), 0.5f - 0.48f * MathF.Cos(i * 2 * MathF.PI / n))).ToArray();

    private static (Dataset, string[]) Drawn(int seed)
    {
        var random = new Random(seed);
        var images = new List<byte[]>();
        var labels = new List<byte>();
        var descriptions = new List<string>();
        for (int k = 0; k < DrawnPerDigit; k++)
            for (int digit = 0; digit < 10; digit++)
            {
                var variants = Templates[digit];
                var strokes = variants[random.Next(variants.Length)];
                int pen = random.Next(14, 27);
                float height = 150 + 100 * random.NextSingle(), width = height * (0.5f + 0.3f * random.NextSingle());
                float shear = 0.4f * random.NextSingle() - 0.2f, angle = 20 * random.NextSingle() - 10;
                float cx = Side / 2f + (random.NextSingle() - 0.5f) * (Side - width) * 0.6f;
                float cy = Side / 2f + (random.NextSingle() - 0.5f) * (Side - height) * 0.6f;
                var jittered = strokes.Select(stroke => stroke.Select(p => (X: p.X + Jitter(random), Y: p.Y + Jitter(random))).ToArray()).ToArray();
                images.Add(GeneratedImage.Draw(canvas =>
                {
                    using var paint = new SKPaint
                    {
                        Color = SKColors.White, IsAntialias = true, Style = SKPaintStyle.Stroke,
                        StrokeCap = SKStrokeCap.Round, StrokeJoin = SKStrokeJoin.Round, StrokeWidth = pen,
                    };
                    canvas.Translate(cx, cy);
                    canvas.RotateDegrees(angle);
                    canvas.Skew(shear, 0);
                    foreach (var stroke in jittered)
                    {
                        using var path = Smooth(stroke, width, height);
                        canvas.DrawPath(path, paint);
                    }
                }));
                labels.Add((byte)digit);
                descriptions.Add(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"pen {pen}"));
            }
        return (ToDataset(images, labels), descriptions.ToArray());
    }

    // Gaussian, standard deviation 0.03 of the box (Box-Muller).
    private static float Jitter(Random random) =>
        0.03f * MathF.Sqrt(-2 * MathF.Log(1 - random.NextSingle())) * MathF.Cos(2 * MathF.PI * random.NextSingle());

    // The stroke through its points, scaled to width × height around the origin: quadratic curves whose control points
    // are the points and whose ends are the midpoints between them.
    private static SKPath Smooth((float X, float Y)[] points, float width, float height)
    {
        SKPoint At(int i) => new((points[i].X - 0.5f) * width, (points[i].Y - 0.5f) * height);
        var path = new SKPath();
        path.MoveTo(At(0));
        for (int i = 1; i < points.Length - 1; i++)
        {
            SKPoint p = At(i), q = At(i + 1);
            path.QuadTo(p, new SKPoint((p.X + q.X) / 2, (p.Y + q.Y) / 2));
        }
        path.LineTo(At(points.Length - 1));
        return path;
    }

    private static Dataset ToDataset(List<byte[]> images, List<byte> labels)
    {
        var pixels = new byte[images.Count * DigitImage.Side * DigitImage.Side];
        for (int i = 0; i < images.Count; i++) images[i].CopyTo(pixels, i * DigitImage.Side * DigitImage.Side);
        return new Dataset(pixels, labels.ToArray(), DigitImage.Side, DigitImage.Side);
    }
}
