using DigitParity.Data;
using DigitParity.Metrics;
using DigitParity.Model;
using DigitParity.Optimizers;
using DigitParity.Tasks;
using DigitParity.Training;

namespace DigitParity.Tests;

public sealed class TrainingTests
{
    [Fact]
    public void OverfitsATinyBatchToPerfectAccuracy()
    {
        var config = new ModelConfig(784, [32, 16], TaskDefinition.DigitAndParity);
        var data = new LabeledDataset(TestData.Mnist.Train.Take(20), config.Tasks);
        var network = new MultiTaskNetwork(config);
        network.Initialize(3);
        using var trainer = new Trainer(network, new TrainingOptions { Epochs = 150, BatchSize = 20, Threads = 1 });
        trainer.Fit(data, data);
        var result = trainer.Evaluate(data);
        Assert.Equal(1.0, result["digit"].Accuracy);
        Assert.Equal(1.0, result["parity"].Accuracy);
        Assert.True(result.Loss < 0.05, $"loss {result.Loss}");
    }

    [Fact]
    public void SameSeedGivesIdenticalBitsAndThreadCountDoesNotMatter()
    {
        var (runA, weightsA) = Train(seed: 5, threads: 2);
        var (runB, weightsB) = Train(seed: 5, threads: 2);
        var (runC, weightsC) = Train(seed: 5, threads: 1);
        var (_, weightsD) = Train(seed: 6, threads: 2);
        Assert.True(weightsA.AsSpan().SequenceEqual(weightsB));
        Assert.True(weightsA.AsSpan().SequenceEqual(weightsC));
        Assert.False(weightsA.AsSpan().SequenceEqual(weightsD));
        for (int e = 0; e < runA.Count; e++)
        {
            Assert.Equal(runA[e].Train.Loss, runB[e].Train.Loss);
            Assert.Equal(runA[e].Validation.Loss, runC[e].Validation.Loss);
            Assert.Equal(runA[e].Validation["digit"].Confusion, runB[e].Validation["digit"].Confusion);
        }
    }

    [Fact]
    public void OneEpochOnEmbeddedMnistReaches94PercentDigitAccuracy()
    {
        var config = ModelConfig.Tutorial;
        var train = new LabeledDataset(TestData.Mnist.Train, config.Tasks);
        var validation = new LabeledDataset(TestData.Mnist.Test, config.Tasks);
        var network = new MultiTaskNetwork(config);
        network.Initialize(1);
        using var trainer = new Trainer(network, new TrainingOptions { Epochs = 1 });
        var epoch = trainer.Fit(train, validation).Single();
        Assert.True(epoch.Validation["digit"].Accuracy >= 0.94, $"digit accuracy {epoch.Validation["digit"].Accuracy}");
        Assert.True(epoch.Validation["parity"].Accuracy >= 0.96, $"parity accuracy {epoch.Validation["parity"].Accuracy}");
        Assert.Equal(60000, epoch.Train.Samples);
        Assert.Equal(10000, epoch.Validation.Samples);
    }

    [Fact]
    public void AThirdDerivedTaskIsOneLineAndTrainsWithThreeHeads()
    {
        TaskDefinition[] tasks = [TaskDefinition.Digit, TaskDefinition.Parity, new("gt4", 2, d => d > 4 ? 1 : 0)];
        var config = ModelConfig.Tutorial with { Tasks = tasks };
        var train = new LabeledDataset(TestData.Mnist.Train.Take(10000), tasks);
        var validation = new LabeledDataset(TestData.Mnist.Test.Take(2000), tasks);
        Assert.Equal(TestData.Mnist.Train.Labels[0] > 4 ? 1 : 0, train.Labels[2][0]);
        var network = new MultiTaskNetwork(config);
        Assert.Equal(14, config.HeadWidth);
        network.Initialize(2);
        using var trainer = new Trainer(network, new TrainingOptions { Epochs = 2 });
        var last = trainer.Fit(train, validation)[^1];
        Assert.Equal(["digit", "parity", "gt4"], last.Validation.Tasks.Select(t => t.Name));
        Assert.True(last.Validation["gt4"].Accuracy > 0.9, $"gt4 accuracy {last.Validation["gt4"].Accuracy}");
        Assert.Equal(2, last.Validation["gt4"].Confusion.Length);
    }

    [Fact]
    public void TrainingMetricIsResetEveryEpoch()
    {
        var config = ModelConfig.Tutorial;
        var data = new LabeledDataset(TestData.Mnist.Train.Take(1000), config.Tasks);
        var network = new MultiTaskNetwork(config);
        network.Initialize(1);
        var log = new RecordingCallbacks();
        using var trainer = new Trainer(network, new TrainingOptions { Epochs = 3, LogInterval = 5 });
        var run = trainer.Fit(data, data, log);
        Assert.All(run, e => Assert.Equal(1000, e.Train.Samples));
        Assert.All(run, e => Assert.Equal(1000, e.Train["digit"].Confusion.Sum(r => r.Sum())));
        Assert.Equal(3 * 2, log.Progress.Count); // 10 batches per epoch, a report every 5
        Assert.Equal(500, log.Progress[0].Running.Samples);
        Assert.Equal(1000, log.Progress[1].Running.Samples);
        Assert.Equal(500, log.Progress[2].Running.Samples); // counted from the start of epoch 2 only
        Assert.Equal([1, 2, 3], log.Epochs.Select(e => e.Epoch));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ATrainingStepAllocatesNothing(int threads)
    {
        var config = ModelConfig.Tutorial;
        var data = new LabeledDataset(TestData.Mnist.Train.Take(10000), config.Tasks);
        var network = new MultiTaskNetwork(config);
        network.Initialize(1);
        using var trainer = new Trainer(network, new TrainingOptions { Threads = threads });
        var metric = new DigitParity.Metrics.MultiTaskMetric(config.Tasks);
        int[] order = Enumerable.Range(0, data.Count).ToArray();
        // Warm up past the tiered JIT's call-count threshold (30), so no first-call work lands in the measurement.
        for (int b = 0; b < 60; b++) trainer.TrainBatch(data, order, b * 100, 100, metric);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int b = 60; b < 90; b++) trainer.TrainBatch(data, order, b * 100, 100, metric);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void InvalidOptionsAreRejectedUpFront()
    {
        var network = new MultiTaskNetwork(ModelConfig.Tutorial);
        Assert.Throws<ArgumentException>(() => new Trainer(network, new TrainingOptions { Epochs = 0 }));
        Assert.Throws<ArgumentException>(() => new Trainer(network, new TrainingOptions { BatchSize = 0 }));
        Assert.Throws<ArgumentException>(() => new Trainer(network, new TrainingOptions { LearningRate = float.NaN }));
        Assert.Throws<ArgumentException>(() => new Trainer(network, new TrainingOptions { Momentum = 1 }));
    }

    private static (IReadOnlyList<EpochResult> Run, float[] Weights) Train(ulong seed, int threads)
    {
        var config = ModelConfig.Tutorial;
        var train = new LabeledDataset(TestData.Mnist.Train.Take(3000), config.Tasks);
        var validation = new LabeledDataset(TestData.Mnist.Test.Take(500), config.Tasks);
        var network = new MultiTaskNetwork(config);
        network.Initialize(seed);
        using var trainer = new Trainer(network, new TrainingOptions { Epochs = 2, Seed = seed, Threads = threads, BatchSize = 64 });
        var run = trainer.Fit(train, validation);
        return (run, network.Parameters.Values.ToArray());
    }

    private sealed class RecordingCallbacks : ITrainingCallbacks
    {
        public List<BatchProgress> Progress { get; } = [];
        public List<EpochResult> Epochs { get; } = [];
        public void OnProgress(BatchProgress progress) => Progress.Add(progress);
        public void OnEpochCompleted(EpochResult result) => Epochs.Add(result);
    }
}

public sealed class ScheduleTests
{
    [Fact]
    public void SchedulesFollowTheirFormulas()
    {
        const float peak = 0.1f;
        Assert.Equal(peak, LearningRates.At(LearningRateSchedule.Constant, peak, 3, 3, 500, 1800));
        Assert.Equal([peak, peak / 10, peak / 100], Enumerable.Range(1, 3).Select(e => LearningRates.At(LearningRateSchedule.Step, peak, e, 3, 0, 1800)));
        Assert.Equal(peak, LearningRates.At(LearningRateSchedule.Cosine, peak, 1, 3, 0, 101), 6);
        Assert.Equal(peak / 2, LearningRates.At(LearningRateSchedule.Cosine, peak, 2, 3, 50, 101), 6);
        Assert.Equal(0, LearningRates.At(LearningRateSchedule.Cosine, peak, 3, 3, 100, 101), 6);
        Assert.Equal(peak / 25, LearningRates.At(LearningRateSchedule.OneCycle, peak, 1, 3, 0, 101), 6);
        Assert.Equal(peak, LearningRates.At(LearningRateSchedule.OneCycle, peak, 1, 3, 30, 101), 6);
        Assert.Equal(peak / 1e4, LearningRates.At(LearningRateSchedule.OneCycle, peak, 3, 3, 100, 101), 8);
    }

    [Fact]
    public void PatienceStopsARunThatNoLongerImproves()
    {
        var config = ModelConfig.Tutorial;
        var data = new LabeledDataset(TestData.Mnist.Train.Take(500), config.Tasks);
        var network = new MultiTaskNetwork(config);
        network.Initialize(1);
        // A learning rate too small to change any prediction: validation never improves after epoch 1.
        using var trainer = new Trainer(network, new TrainingOptions { Epochs = 6, Patience = 2, LearningRate = 1e-12f });
        Assert.Equal([1, 2, 3], trainer.Fit(data, data).Select(e => e.Epoch));
    }

    [Fact]
    public void AnUnknownScheduleIsOneLine()
    {
        var error = new StringWriter();
        Assert.Equal(2, DigitParity.Cli.Program.Run(["train", "--schedule", "weird"], new StringWriter(), error));
        string line = Assert.Single(error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("'weird' for option '--schedule'", line);
    }
}
