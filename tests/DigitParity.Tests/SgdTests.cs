using DigitParity.Engine;
using DigitParity.Model;
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
