using DigitParity.Data;
using DigitParity.Model;
using DigitParity.Training;

namespace DigitParity.Tests;

public sealed class AugmentationTests
{
    private static float[] Digit(int index) => TestData.Mnist.Validation.Image(index).ToArray().Select(p => p / 255f).ToArray();

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
        var validation = new LabeledDataset(TestData.Mnist.Validation.Take(100), TaskDefinition.DigitAndParity);
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
