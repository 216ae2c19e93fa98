using DigitParity.Data;
using DigitParity.Engine;
using DigitParity.Model;
using DigitParity.Tasks;
using DigitParity.Training;

namespace DigitParity.Tests;

public sealed class DropoutTests
{
    [Fact]
    public void DropsTheRateScalesTheRestAndDoesNotDependOnTheSplit()
    {
        const int batch = 200, width = 128;
        var rng = new Rng(1);
        float[] x = Enumerable.Range(0, batch * width).Select(_ => rng.NextFloat() + 0.5f).ToArray();
        float[] whole = x.ToArray(), parts = x.ToArray();
        Activations.Dropout(whole, width, 0, batch, 0, width, 0.25f, 77);
        Activations.Dropout(parts, width, 0, 70, 0, width, 0.25f, 77);        // rows split
        Activations.Dropout(parts, width, 70, batch, 0, 64, 0.25f, 77);       // then columns split
        Activations.Dropout(parts, width, 70, batch, 64, width, 0.25f, 77);
        Assert.Equal(whole, parts);
        int dropped = whole.Count(v => v == 0);
        Assert.InRange(dropped / (double)whole.Length, 0.23, 0.27);
        for (int i = 0; i < x.Length; i++)
            if (whole[i] != 0) Assert.Equal(x[i] * (1f / 0.75f), whole[i]);
        float[] other = x.ToArray();
        Activations.Dropout(other, width, 0, batch, 0, width, 0.25f, 78);
        Assert.NotEqual(whole, other);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void GradientsWithDropoutMatchFiniteDifferencesOfTheSameMasks(int threads)
    {
        TaskDefinition[] tasks = [new("a", 3, d => d % 3), new("b", 2, d => d % 2)];
        var network = new MultiTaskNetwork(new ModelConfig(9, [70, 5], tasks) { Dropout = 0.4f });
        network.Initialize(7);
        const int batch = 10;
        var rng = new Rng(8);
        var ws = network.CreateWorkspace(batch, threads, privateInputs: false); // the row-by-row tail with 2 threads
        float[] x = GemmTests.Random(rng, batch * 9);
        for (int t = 0; t < 2; t++)
            for (int b = 0; b < batch; b++) ws.Labels[t][b] = tasks[t].LabelOf(b);
        ws.DropoutKey = 12345;
        using var pool = new WorkerPool(threads);
        double Loss()
        {
            x.CopyTo(ws.Input.Span);
            var step = new GradientCheckTests.GradientStep(network, ws, pool, batch);
            pool.Run(step);
            return (step.TaskLosses[0] + step.TaskLosses[1]) / batch;
        }
        Loss();
        var values = network.Parameters.Values.Span;
        float[] analytic = network.Parameters.Gradients.Span.ToArray();
        // The engine itself, with the same masks, is the oracle: central differences in single precision.
        const float Eps = 1e-3f;
        int checkedCount = 0;
        foreach (var tensor in network.Parameters.Tensors)
            for (int i = 0; i < tensor.Length; i += 7)
            {
                int at = tensor.Offset + i;
                float saved = values[at];
                values[at] = saved + Eps;
                double plus = Loss();
                values[at] = saved - Eps;
                double minus = Loss();
                values[at] = saved;
                double numeric = (plus - minus) / (2 * Eps);
                Assert.True(Math.Abs(numeric - analytic[at]) <= 2e-3 + 2e-2 * Math.Abs(numeric), $"{tensor.Name}[{i}]: analytic {analytic[at]}, numeric {numeric}");
                checkedCount++;
            }
        Assert.True(checkedCount > 100);
    }

    [Fact]
    public void TrainingWithDropoutIsTheSameForAnyThreadCountAndEvaluationDoesNotDrop()
    {
        var config = ModelConfig.Tutorial with { Dropout = 0.3f };
        var data = new LabeledDataset(TestData.Mnist.Train.Take(1000), config.Tasks);
        var validation = new LabeledDataset(TestData.Mnist.Test.Take(200), config.Tasks);
        (float[] Weights, double Accuracy, double Again) Train(int threads)
        {
            var network = new MultiTaskNetwork(config);
            network.Initialize(3);
            using var trainer = new Trainer(network, new TrainingOptions { Epochs = 2, Threads = threads });
            var epochs = trainer.Fit(data, validation);
            return (network.Parameters.Values.Span.ToArray(), epochs[^1].Validation.PooledAccuracy, trainer.Evaluate(validation).PooledAccuracy);
        }
        var one = Train(1);
        var two = Train(2);
        Assert.Equal(one.Weights, two.Weights);
        Assert.Equal(one.Accuracy, one.Again); // evaluation is deterministic: no drops outside training
    }
}
