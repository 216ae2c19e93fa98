using DigitParity.Data;
using DigitParity.Inference;
using DigitParity.Checkpoints;

namespace DigitParity.Tests;

/// <summary>
/// The digits beyond MNIST: typed in real fonts and drawn by a program, labelled, balanced, prepared and seeded; and
/// <c>evaluate --beyond-mnist</c> reports what the model's own answers on them count to.
/// </summary>
public sealed class BeyondMnistTests
{
    [Theory]
    [InlineData("typed", 1170)]
    [InlineData("drawn", 1000)]
    public void TheSetsAreBalancedLabelledPreparedDigits(string set, int count)
    {
        var (images, descriptions) = BeyondMnist.Generate(set);
        Assert.Equal(count, images.Count);
        Assert.Equal(count, descriptions.Length);
        Assert.All(Enumerable.Range(0, 10), d => Assert.Equal(count / 10, images.Labels.Count(l => l == d)));
        var x = new float[784];
        int inRange = 0;
        for (int i = 0; i < images.Count; i++)
        {
            var image = images.Image(i);
            Assert.True(image.ToArray().Any(p => p > 128), $"{set} image {i} ({descriptions[i]}) has no ink");
            for (int k = 0; k < 784; k++) x[k] = image[k] / 255f;
            double width = StrokeWidth.Estimate(x, 28);
            if (width >= StrokeWidth.Thinnest - 0.05 && width <= StrokeWidth.Thickest + 0.05) inRange++;
        }
        Assert.True(inRange > 0.95 * count, $"{inRange} of {count} {set} images have MNIST's stroke width after preparation");
        Assert.Equal(images.Pixels, BeyondMnist.Generate(set).Images.Pixels); // same seed, same bits
        if (set == "drawn") Assert.NotEqual(images.Pixels, BeyondMnist.Generate(set, seed: 2).Images.Pixels);
    }

    [Fact]
    public void AMissingFontIsNamedWithItsPackage()
    {
        string empty = Directory.CreateTempSubdirectory("digitparity-fonts-").FullName;
        var e = Assert.Throws<InvalidDataException>(() => BeyondMnist.Generate("typed", fonts: empty));
        Assert.Equal($"{Path.Combine(empty, "DejaVuSans.ttf")}: font missing, expected Debian's fonts-dejavu-core and fonts-dejavu-extra (apt-get install fonts-dejavu-core fonts-dejavu-extra)", e.Message);
    }

    [Fact]
    public void EvaluateBeyondMnistCountsTheShippedModelsAnswers()
    {
        var output = new StringWriter();
        Assert.Equal(0, Cli.Program.Run(["evaluate", "--beyond-mnist"], output, new StringWriter()));
        var lines = output.ToString().Split('\n');
        Assert.Contains(lines, l => l.StartsWith("Beyond MNIST: digits typed in 13 DejaVu fonts", StringComparison.Ordinal));

        // Oracle: the shipped CNN's answers counted here, head by head, with and without the rejected images.
        var network = Checkpoint.LoadShipped().Network;
        using var predictor = new Predictor(network);
        foreach (string set in BeyondMnist.Sets)
        {
            var images = BeyondMnist.Generate(set).Images;
            var answers = predictor.Predict(Enumerable.Range(0, images.Count).Select(i => images.Image(i).ToArray()).ToArray());
            double Share(Func<int, bool> count, IEnumerable<int> of) => of.Count(count) / (double)of.Count();
            var all = Enumerable.Range(0, images.Count).ToArray();
            var kept = all.Where(i => !answers[i].Rejected).ToArray();
            double digit = Share(i => answers[i]["digit"].Answer == images.Labels[i], all);
            double parity = Share(i => answers[i]["parity"].Answer == images.Labels[i] % 2, all);
            double rejected = 1 - kept.Length / (double)all.Length;
            double digitKept = Share(i => answers[i]["digit"].Answer == images.Labels[i], kept);
            double parityKept = Share(i => answers[i]["parity"].Answer == images.Labels[i] % 2, kept);
            string P(double v, int decimals) => (100 * v).ToString(decimals == 2 ? "0.00" : "0.0", System.Globalization.CultureInfo.InvariantCulture) + " %";
            string expected = $"{set} {images.Count} {P(digit, 2)} {P(parity, 2)} {P(rejected, 1)} {P(digitKept, 2)} {P(parityKept, 2)}";
            string row = lines.Single(l => l.StartsWith($"  {set} ", StringComparison.Ordinal));
            Assert.Equal(expected, string.Join(' ', row.Split(' ', StringSplitOptions.RemoveEmptyEntries)));
            Assert.InRange(digit, 0.95, 1.0); // the CNN reads typed and drawn digits
        }
    }
}
