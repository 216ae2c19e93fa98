using DigitParity.Engine;
using DigitParity.Inference;
using DigitParity.Model;
using DigitParity.Tasks;

namespace DigitParity.Tests;

/// <summary>Saliency maps against finite differences of a naive double-precision forward pass.</summary>
public sealed class ExplanationTests
{
    private static readonly TaskDefinition[] Tasks = [new("a", 3, d => d % 3), new("b", 2, d => d % 2)];

    // The CNN case has conv1 fused with its pooling (32 channels, 5 × 5) and conv2 on Winograd's path; the 3 × 3 case
    // takes the plain im2col paths. Every input pixel is checked. With batch norm, an explanation normalizes by the
    // running statistics (set at random here), as a prediction does.
    [Theory]
    [InlineData(20, 5, 32, 16, false)]
    [InlineData(13, 3, 3, 4, false)]
    [InlineData(20, 5, 32, 16, true)]
    [InlineData(17, 3, 3, 4, true)]
    public void CnnSaliencyIsGradientTimesInputByFiniteDifferences(int side0, int kernel, int channels1, int channels2, bool batchNorm)
    {
        int pixels = side0 * side0;
        var network = new MultiTaskNetwork(new ModelConfig(pixels, [6], Tasks) { Convolutions = [channels1, channels2], Kernel = kernel, BatchNorm = batchNorm });
        network.Initialize(21);
        var rng = new Rng(23);
        foreach (var norm in network.Norms)
        {
            foreach (ref float v in network.Parameters.Value(norm.Weight)) v = 1 + 0.5f * rng.NextUniform(1);
            foreach (ref float v in network.Parameters.Value(norm.Bias)) v = 0.3f * rng.NextUniform(1);
            foreach (ref float v in network.Parameters.Value(norm.RunningMean)) v = 0.1f * rng.NextUniform(1);
            foreach (ref float v in network.Parameters.Value(norm.RunningVariance)) v = 0.05f + 0.1f * Math.Abs(rng.NextUniform(1));
        }
        var norms = network.Norms.Select(n => (Gamma: D(network.Parameters.Value(n.Weight)), Beta: D(network.Parameters.Value(n.Bias)),
            Mean: D(network.Parameters.Value(n.RunningMean)), Variance: D(network.Parameters.Value(n.RunningVariance)))).ToArray();
        Assert.Equal(kernel == 5, network.Convolutions[0].FusesPooling);
        Assert.Equal(kernel == 5, network.Convolutions[1].UsesWinograd);
        var convs = network.Convolutions;
        var convW = convs.Select(c => D(network.Parameters.Value(c.Weight))).ToArray();
        var convB = convs.Select(c => D(network.Parameters.Value(c.Bias))).ToArray();
        double[] Logits(double[] x)
        {
            double[] h = x;
            int side = side0, channels = 1;
            for (int l = 0; l < convs.Count; l++)
            {
                h = ConvolutionTests.Pool(ConvolutionTests.Conv(h, side, channels, convW[l], convB[l], kernel, convs[l].OutChannels), side - kernel + 1, convs[l].OutChannels);
                side = (side - kernel + 1) / 2;
                channels = convs[l].OutChannels;
                if (!batchNorm) continue;
                var n = norms[l];
                h = h.Select((v, i) => n.Gamma[i % channels] * (v - n.Mean[i % channels]) / Math.Sqrt(n.Variance[i % channels] + BatchNorm.Epsilon) + n.Beta[i % channels]).ToArray();
            }
            return Dense(network, h);
        }
        Check(network, pixels, Logits, seed: 5);
    }

    [Fact]
    public void MlpSaliencyIsGradientTimesInputByFiniteDifferences()
    {
        var network = new MultiTaskNetwork(new ModelConfig(30, [70, 5], Tasks));
        network.Initialize(22);
        Check(network, 30, x => Dense(network, x), seed: 6);
    }

    [Fact]
    public void TheExplainedAnswerIsThePredictionsAndBlankPixelsGetNothing()
    {
        var network = TestData.Trained.Value;
        using var predictor = new Predictor(network);
        byte[] image = TestData.Mnist.Test.Image(0).ToArray();
        var explanation = predictor.Explain(image);
        var prediction = predictor.Predict(image);
        Assert.Equal(prediction.Tasks.Select(t => t.Answer), explanation.Prediction.Tasks.Select(t => t.Answer));
        Assert.Equal(prediction.Tasks.Select(t => t.Answer), explanation.Heads.Select(h => h.Class));
        Assert.Equal(["digit", "parity"], explanation.Heads.Select(h => h.Task));
        for (int i = 0; i < 784; i++)
        {
            Assert.Equal(image[i] / 255f, explanation.Input[i]);
            if (image[i] == 0) Assert.All(explanation.Heads, h => Assert.Equal(0f, h.Values[i]));
        }
        Assert.All(explanation.Heads, h => Assert.True(h.Peak > 0));
        // A second explanation of another image reuses the buffers and does not depend on the first.
        byte[] other = TestData.Mnist.Test.Image(1).ToArray();
        predictor.Explain(other);
        Assert.Equal(explanation.Heads[1].Values, predictor.Explain(image).Heads[1].Values);
        Assert.Throws<ArgumentException>(() => predictor.Explain(new byte[10]));
    }

    // The naive reference of the dense layers, as GradientCheckTests.Dense.
    private static double[] Dense(MultiTaskNetwork network, double[] h)
    {
        var layers = network.Trunk.Append(network.Heads).ToArray();
        var weights = layers.Select(l => l.ReadWeight(network.Parameters).Select(v => (double)v).ToArray()).ToArray();
        var biases = layers.Select(l => D(network.Parameters.Value(l.Bias))).ToArray();
        return GradientCheckTests.Dense(h, layers, weights, biases);
    }

    private static double[] D(Span<float> s) => s.ToArray().Select(v => (double)v).ToArray();

    // Per head, x_i · ∂(z_answer − mean z)/∂x_i by central differences of the reference, for every pixel.
    private static void Check(MultiTaskNetwork network, int pixels, Func<double[], double[]> logits, int seed)
    {
        var rng = new Rng((ulong)seed);
        float[] x = GemmTests.Random(rng, pixels).Select(v => Math.Min(1f, Math.Abs(v))).ToArray();
        using var predictor = new Predictor(network);
        var explanation = predictor.Explain(x);
        double[] reference = x.Select(v => (double)v).ToArray();
        double Contrast(int t)
        {
            var z = logits(reference);
            int offset = t == 0 ? 0 : 3, classes = Tasks[t].ClassCount;
            var head = z.Skip(offset).Take(classes).ToArray();
            return head[explanation.Heads[t].Class] - head.Average();
        }
        for (int t = 0; t < Tasks.Length; t++)
        {
            Assert.Equal(explanation.Prediction.Tasks[t].Answer, explanation.Heads[t].Class);
            for (int i = 0; i < pixels; i++)
            {
                double numeric = GradientCheckTests.Numeric(reference, i, () => Contrast(t)) * x[i];
                GradientCheckTests.AssertClose(numeric, explanation.Heads[t].Values[i], $"head {t} pixel {i}", relative: 2e-3);
            }
        }
    }
}
