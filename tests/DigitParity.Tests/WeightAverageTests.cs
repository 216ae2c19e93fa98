using DigitParity.Data;
using DigitParity.Engine;
using DigitParity.Metrics;
using DigitParity.Model;
using DigitParity.Training;

namespace DigitParity.Tests;

public sealed class WeightAverageTests
{
    [Fact]
    public void FitEvaluatesAndLeavesTheAverageOfTheWeightsAfterEveryStep()
    {
        var config = ModelConfig.Tutorial;
        var data = new LabeledDataset(TestData.Mnist.Train.Take(1000), config.Tasks);
        var options = new TrainingOptions { Epochs = 2, Seed = 5, AverageDecay = 0.9f };

        var averaged = new MultiTaskNetwork(config);
        averaged.Initialize(options.Seed);
        IReadOnlyList<EpochResult> run;
        float[] parked;
        using (var trainer = new Trainer(averaged, options))
        {
            run = trainer.Fit(data, data);
            parked = trainer.Optimizer.State.Single(s => s.Name == "training_weights").Buffer.Span.ToArray();
        }

        // The oracle: the same steps without an average, taken one by one in Fit's order, averaged here in double.
        var plain = new MultiTaskNetwork(config);
        plain.Initialize(options.Seed);
        var average = plain.Parameters.Values.Span.ToArray().Select(v => (double)v).ToArray();
        using (var trainer = new Trainer(plain, options with { AverageDecay = 0 }))
        {
            var metric = new MultiTaskMetric(config.Tasks);
            long step = 0;
            for (int epoch = 1; epoch <= options.Epochs; epoch++)
            {
                int[] order = Enumerable.Range(0, data.Count).ToArray();
                new Rng(options.Seed, stream: 1000 + (ulong)epoch).Shuffle(order);
                for (int first = 0; first < data.Count; first += options.BatchSize)
                {
                    Assert.True(trainer.TrainBatch(data, order, first, options.BatchSize, metric));
                    step++;
                    double decay = Math.Min(0.9, (1.0 + step) / (10.0 + step));
                    var weights = plain.Parameters.Values.Span;
                    for (int i = 0; i < average.Length; i++) average[i] = decay * average[i] + (1 - decay) * weights[i];
                }
            }
        }

        // Averaging does not disturb training: the parked weights are the plain run's, bit for bit.
        Assert.True(parked.AsSpan().SequenceEqual(plain.Parameters.Values.Span));
        var result = averaged.Parameters.Values.Span;
        for (int i = 0; i < average.Length; i++)
            Assert.True(Math.Abs(result[i] - average[i]) <= 1e-5 + 1e-4 * Math.Abs(average[i]), $"parameter {i}: {result[i]} vs {average[i]}");
        Assert.False(result.SequenceEqual(plain.Parameters.Values.Span));

        // The last validation figures are those of the average the network now holds.
        using var evaluator = new Trainer(averaged, new TrainingOptions());
        Assert.Equal(run[^1].Validation.Loss, evaluator.Evaluate(data).Loss);
    }

    [Theory]
    [InlineData(-0.1f)]
    [InlineData(1f)]
    [InlineData(float.NaN)]
    public void ADecayOutsideZeroToOneIsRefused(float decay)
    {
        var error = Assert.Throws<ArgumentException>(() => new TrainingOptions { AverageDecay = decay }.Validate());
        Assert.Contains("decay must be in [0, 1)", error.Message);
    }
}
