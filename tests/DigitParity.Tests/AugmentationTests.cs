using DigitParity.Data;
using DigitParity.Model;
using DigitParity.Tasks;
using DigitParity.Training;

namespace DigitParity.Tests;

public sealed class AugmentationTests
{
    private static float[] Digit(int index) => TestData.Mnist.Test.Image(index).ToArray().Select(p => p / 255f).ToArray();

    [Fact]
    public void NoDistortionIsTheIdentityAndShiftsMoveWholePixels()
    {
        float[] x = Digit(0), y = new float[784];
        Augmentation.Warp(x, y, 28, 0, 0, 0, 1);
        Assert.Equal(x, y);
        Augmentation.Warp(x, y, 28, 2, -1, 0, 1); // right 2, up 1
        for (int v = 0; v < 28; v++)
            for (int u = 0; u < 28; u++)
            {
                int su = u - 2, sv = v + 1;
                float expected = su >= 0 && sv < 28 ? x[sv * 28 + su] : 0f;
                Assert.Equal(expected, y[v * 28 + u], 5);
            }
    }

    [Fact]
    public void AQuarterTurnRotatesThePixels()
    {
        float[] x = Digit(1), y = new float[784];
        Augmentation.Warp(x, y, 28, 0, 0, MathF.PI / 2, 1);
        // Output (u, v) samples input (sx, sy) = (v, 27 − u) about the centre 13.5.
        for (int v = 0; v < 28; v++)
            for (int u = 0; u < 28; u++) Assert.Equal(x[(27 - u) * 28 + v], y[v * 28 + u], 3);
    }

    // On a linear ramp bilinear sampling is exact, so each pixel reads back the elastic field's displacement at it:
    // bounded by the amplitude, not zero, varying smoothly (at most 2·amplitude / GridSpacing from pixel to pixel),
    // and the same for the same draw. Sides whose last pixel falls on a control point (29, and 600: a heap-held field)
    // must not read past the grid.
    [Theory]
    [InlineData(28)]
    [InlineData(29)]
    [InlineData(600)]
    public void TheElasticFieldIsABoundedSmoothDisplacement(int side)
    {
        const float amplitude = 1.5f;
        var elastic = new Augmentation(Shift: 0, Degrees: 0, Scale: 0, Elastic: amplitude);
        foreach (bool vertical in new[] { false, true })
        {
            float[] ramp = new float[side * side], y = new float[side * side], again = new float[side * side];
            for (int v = 0; v < side; v++)
                for (int u = 0; u < side; u++) ramp[v * side + u] = vertical ? v : u;
            elastic.Apply(ramp, y, side, 7, 99);
            elastic.Apply(ramp, again, side, 7, 99);
            Assert.Equal(y, again);
            var displacement = new float?[side, side];
            for (int v = 0; v < side; v++)
                for (int u = 0; u < side; u++)
                {
                    int along = vertical ? v : u;
                    if (u < 2 || v < 2 || u > side - 3 || v > side - 3) continue; // a sample there may fall outside the image
                    float d = y[v * side + u] - along;
                    Assert.InRange(d, -amplitude - 1e-3f, amplitude + 1e-3f);
                    displacement[v, u] = d;
                }
            float largest = 0, step = 0;
            for (int v = 0; v < side; v++)
                for (int u = 0; u < side; u++)
                {
                    if (displacement[v, u] is not { } d) continue;
                    largest = Math.Max(largest, Math.Abs(d));
                    if (u + 1 < side && displacement[v, u + 1] is { } right) step = Math.Max(step, Math.Abs(right - d));
                    if (v + 1 < side && displacement[v + 1, u] is { } below) step = Math.Max(step, Math.Abs(below - d));
                }
            Assert.True(largest > amplitude / 4, $"the field should move pixels (largest {largest})");
            Assert.True(step <= 2 * amplitude / Augmentation.GridSpacing + 1e-3f, $"neighbours differ by {step}");
        }
    }

    [Fact]
    public void WithoutElasticTheAffineDrawsAreUnchanged()
    {
        float[] x = Digit(3), plain = new float[784], zero = new float[784], elastic = new float[784];
        Augmentation.Default.Apply(x, plain, 28, 5, 11);
        (Augmentation.Default with { Elastic = 0 }).Apply(x, zero, 28, 5, 11);
        (Augmentation.Default with { Elastic = 1.5f }).Apply(x, elastic, 28, 5, 11);
        Assert.Equal(plain, zero);
        Assert.NotEqual(plain, elastic);
        Assert.InRange(elastic.Sum() / x.Sum(), 0.75, 1.3);
    }

    [Fact]
    public void DrawsDependOnSeedAndKeyOnlyAndStayInRange()
    {
        float[] x = Digit(2), a = new float[784], b = new float[784], c = new float[784];
        Augmentation.Default.Apply(x, a, 28, 1, 42);
        Augmentation.Default.Apply(x, b, 28, 1, 42);
        Augmentation.Default.Apply(x, c, 28, 1, 43);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.All(a, p => Assert.InRange(p, 0f, 1f));
        // Most of the ink survives a small distortion.
        Assert.InRange(a.Sum() / x.Sum(), 0.75, 1.3);
    }

    [Fact]
    public void AugmentedTrainingIsTheSameForAnyThreadCountAndDiffersFromPlain()
    {
        var data = new LabeledDataset(TestData.Mnist.Train.Take(1000), TaskDefinition.DigitAndParity);
        var validation = new LabeledDataset(TestData.Mnist.Test.Take(100), TaskDefinition.DigitAndParity);
        float[] Train(int threads, Augmentation? augmentation)
        {
            var network = new MultiTaskNetwork(ModelConfig.Tutorial);
            network.Initialize(3);
            using var trainer = new Trainer(network, new TrainingOptions { Epochs = 2, Threads = threads, Augmentation = augmentation });
            trainer.Fit(data, validation);
            return network.Parameters.Values.Span.ToArray();
        }
        float[] one = Train(1, Augmentation.Default);
        Assert.Equal(one, Train(2, Augmentation.Default));
        Assert.NotEqual(one, Train(1, null));
    }
}
