using DigitParity.Engine;
using DigitParity.Model;
using DigitParity.Optimizers;
using DigitParity.Training;

namespace DigitParity.Tests;

public sealed class SgdTests
{
    [Fact]
    public void OneStepMatchesHandComputedNumbers()
    {
        var layout = new ParameterLayout();
        var weight = layout.Add("w", [1, 2], decay: true);
        var bias = layout.Add("b", [2], decay: false);
        var store = new ParameterStore(layout);
        store.Value(weight)[0] = 1f; store.Value(weight)[1] = -2f;
        store.Value(bias)[0] = 0.5f; store.Value(bias)[1] = 0f;
        store.Gradient(weight)[0] = 0.5f; store.Gradient(weight)[1] = 0.25f;
        store.Gradient(bias)[0] = 0.2f; store.Gradient(bias)[1] = -1f;
        var sgd = new Sgd(store, learningRate: 0.1f, momentum: 0.9f, weightDecay: 0.01f);
        sgd.Velocity.AsSpan(weight.Offset, 2)[0] = 0.1f;

        sgd.Step();

        // w0: v = 0.9·0.1 + (0.5 + 0.01·1) = 0.6;        w = 1 − 0.1·0.6 = 0.94
        // w1: v = 0 + (0.25 + 0.01·(−2)) = 0.23;          w = −2 − 0.023 = −2.023
        // b0: v = 0.2 (no decay on biases);                b = 0.5 − 0.02 = 0.48
        // b1: v = −1;                                      b = 0 + 0.1 = 0.1
        Assert.Equal(0.6f, sgd.Velocity[weight.Offset], 6);
        Assert.Equal(0.94f, store.Value(weight)[0], 6);
        Assert.Equal(0.23f, sgd.Velocity[weight.Offset + 1], 6);
        Assert.Equal(-2.023f, store.Value(weight)[1], 6);
        Assert.Equal(0.48f, store.Value(bias)[0], 6);
        Assert.Equal(0.1f, store.Value(bias)[1], 6);

        // Second step with the same gradient: momentum carries over.
        sgd.Step();
        float v0 = 0.9f * 0.6f + (0.5f + 0.01f * 0.94f);
        Assert.Equal(0.94f - 0.1f * v0, store.Value(weight)[0], 5);
    }

    [Fact]
    public void VectorAndScalarPathsAgree()
    {
        var rng = new Rng(9);
        float[] w = GemmTests.Random(rng, 37), g = GemmTests.Random(rng, 37), v = GemmTests.Random(rng, 37);
        float[] w2 = w.ToArray(), v2 = v.ToArray();
        Sgd.Update(w, g, v, 0.1f, 0.9f, 1e-3f);
        for (int i = 0; i < 37; i++)
        {
            Sgd.Update(w2.AsSpan(i, 1), g.AsSpan(i, 1), v2.AsSpan(i, 1), 0.1f, 0.9f, 1e-3f);
            Assert.Equal(w2[i], w[i]);
            Assert.Equal(v2[i], v[i]);
        }
    }
}

public sealed class AdamTests
{
    private static (ParameterStore Store, ParameterTensor Weight, ParameterTensor Bias) Store()
    {
        var layout = new ParameterLayout();
        var weight = layout.Add("w", [1, 2], decay: true);
        var bias = layout.Add("b", [1], decay: false);
        var store = new ParameterStore(layout);
        store.Value(weight)[0] = 1f; store.Value(weight)[1] = -2f; store.Value(bias)[0] = 0.5f;
        store.Gradient(weight)[0] = 0.5f; store.Gradient(weight)[1] = -0.25f; store.Gradient(bias)[0] = 2f;
        return (store, weight, bias);
    }

    [Fact]
    public void FirstAdamStepMovesEachWeightByTheLearningRate()
    {
        // At t = 1 the bias-corrected m/√v is g/|g| (ε aside): every parameter moves by η against its gradient's sign.
        var (store, weight, bias) = Store();
        var adam = new Adam(store, learningRate: 0.01f, weightDecay: 0f, decoupled: false);
        adam.BeginStep();
        adam.Apply(weight, 0, 2);
        adam.Apply(bias, 0, 1);
        Assert.Equal(0.99f, store.Value(weight)[0], 5);
        Assert.Equal(-1.99f, store.Value(weight)[1], 5);
        Assert.Equal(0.49f, store.Value(bias)[0], 5);
        Assert.Equal(0.05f, adam.FirstMoment[weight.Offset], 6);          // (1 − 0.9)·0.5
        Assert.Equal(0.00025f, adam.SecondMoment[weight.Offset], 8);      // (1 − 0.999)·0.25
    }

    [Fact]
    public void AdamWDecaysWeightsOutsideTheGradientAndNotBiases()
    {
        var (store, weight, bias) = Store();
        var adamw = new Adam(store, learningRate: 0.01f, weightDecay: 0.1f, decoupled: true);
        adamw.BeginStep();
        adamw.Apply(weight, 0, 2);
        adamw.Apply(bias, 0, 1);
        // w ← w − η·(sign(g) + λ·w): 1 − 0.01·(1 + 0.1) = 0.989; −2 − 0.01·(−1 − 0.2) = −1.988.
        Assert.Equal(0.989f, store.Value(weight)[0], 5);
        Assert.Equal(-1.988f, store.Value(weight)[1], 5);
        Assert.Equal(0.49f, store.Value(bias)[0], 5);
    }

    [Fact]
    public void AdamTrainsTheNetwork()
    {
        var config = ModelConfig.Tutorial;
        var data = new DigitParity.Data.LabeledDataset(TestData.Mnist.Train.Take(5000), config.Tasks);
        var validation = new DigitParity.Data.LabeledDataset(TestData.Mnist.Test.Take(1000), config.Tasks);
        var network = new MultiTaskNetwork(config);
        network.Initialize(3);
        using var trainer = new Trainer(network, new TrainingOptions { Optimizer = OptimizerKind.AdamW, LearningRate = 0.002f, Epochs = 2 });
        var last = trainer.Fit(data, validation)[^1];
        Assert.True(last.Validation["digit"].Accuracy > 0.85, $"digit accuracy {last.Validation["digit"].Accuracy}");
    }
}
