using DigitParity.Data;

namespace DigitParity.Tests;

/// <summary>
/// The stroke width estimate on hand-worked images, dilation and erosion by hand, MNIST's range recomputed from the
/// embedded training set, and image files prepared into that range.
/// </summary>
public sealed class StrokeWidthTests
{
    [Fact]
    public void TheWidthOfABarIsItsInkOverHalfItsOutline()
    {
        // A 3 × 20 bar of full ink inside 28 × 28: ink 60, outline 2 · 20 + 2 · 3 = 46, width 2 · 60 / 46.
        var bar = new float[28 * 28];
        for (int y = 10; y < 13; y++)
            for (int x = 4; x < 24; x++) bar[y * 28 + x] = 1;
        Assert.Equal(120.0 / 46, StrokeWidth.Estimate(bar, 28), 12);
        // Touching the border counts the edge against the outside: a 2 × 28 bar along the top has outline 2 · 28 + 2 · 2.
        var top = new float[28 * 28];
        for (int i = 0; i < 2 * 28; i++) top[i] = 1;
        Assert.Equal(2.0 * 56 / 60, StrokeWidth.Estimate(top, 28), 12);
        Assert.Equal(0, StrokeWidth.Estimate(new float[28 * 28], 28));
    }

    [Fact]
    public void DilationAndErosionBlendTowardsTheLargestOrSmallestOfEachPlus()
    {
        // One pixel of 1 at (2, 2) in 5 × 5: half a dilation puts 0.5 on its four neighbours; half an erosion halves it.
        var x = new float[25];
        x[12] = 1;
        StrokeWidth.Restroke(x, 5, 0.5f);
        var expected = new float[25];
        expected[12] = 1;
        foreach (int i in new[] { 7, 11, 13, 17 }) expected[i] = 0.5f;
        Assert.Equal(expected, x);
        StrokeWidth.Restroke(x, 5, -0.5f);
        // Erosion: (2, 2) keeps min(1, 0.5 ×4) = 0.5 → 1 − 0.5 · 0.5 = 0.75; each neighbour has 0 beside it → 0.25.
        var eroded = new float[25];
        eroded[12] = 0.75f;
        foreach (int i in new[] { 7, 11, 13, 17 }) eroded[i] = 0.25f;
        Assert.Equal(eroded, x);
    }

    [Fact]
    public void MnistsRangeIsTheTenthToNinetiethPercentileOfItsTrainingImages()
    {
        var train = TestData.Mnist.Train;
        var widths = new double[train.Count];
        var x = new float[784];
        for (int i = 0; i < train.Count; i++)
        {
            var image = train.Image(i);
            for (int k = 0; k < 784; k++) x[k] = image[k] / 255f;
            widths[i] = StrokeWidth.Estimate(x, 28);
        }
        Array.Sort(widths);
        Assert.Equal(StrokeWidth.Thinnest, Math.Round(widths[widths.Length / 10], 2));
        Assert.Equal(StrokeWidth.Thickest, Math.Round(widths[widths.Length * 9 / 10], 2));
    }

    [Fact]
    public void NormalizeBringsThinAndThickStrokesIntoTheRangeAndLeavesOthersAlone()
    {
        foreach (int rows in new[] { 1, 6 })
        {
            // A bar one pixel (too thin) or six pixels (too thick) high: its width ends in MNIST's range.
            var bar = new float[28 * 28];
            for (int y = 10; y < 10 + rows; y++)
                for (int x = 4; x < 24; x++) bar[y * 28 + x] = 1;
            StrokeWidth.Normalize(bar, 28);
            Assert.InRange(StrokeWidth.Estimate(bar, 28), StrokeWidth.Thinnest - 1e-9, StrokeWidth.Thickest + 1e-9);
        }
        // An MNIST test image in the range is not touched.
        var test = TestData.Mnist.Test;
        for (int i = 0; i < 50; i++)
        {
            var image = test.Image(i).ToArray().Select(b => b / 255f).ToArray();
            double width = StrokeWidth.Estimate(image, 28);
            if (width < StrokeWidth.Thinnest || width > StrokeWidth.Thickest) continue;
            var copy = image.ToArray();
            StrokeWidth.Normalize(copy, 28);
            Assert.Equal(image, copy);
        }
    }
}
