using System.Globalization;
using DigitParity.Checkpoints;
using DigitParity.Data;
using DigitParity.Metrics;
using DigitParity.Model;
using DigitParity.Training;

namespace DigitParity.Tests;

/// <summary>The training run as a library call: the same run as a hand-driven Trainer, and every file it promises.</summary>
public sealed class TrainingRunTests
{
    private sealed class Recorder : ITrainingCallbacks
    {
        public List<int> Epochs { get; } = [];
        public int Progress { get; set; }

        public void OnProgress(BatchProgress progress) => Progress++;

        public void OnEpochCompleted(EpochResult result) => Epochs.Add(result.Epoch);
    }

    [Fact]
    public void ARunEqualsATrainerDrivenByHandAndWritesItsFiles()
    {
        string data = TestData.WriteMnistSubset(2000, 300, gzip: false);
        string outputs = Directory.CreateTempSubdirectory("digitparity-run-").FullName;
        var training = new TrainingOptions { Epochs = 2, Seed = 5, Threads = 2, LogInterval = 5 };
        var options = new TrainingRunOptions
        {
            Training = training, DataDirectory = data, ValidationSplit = 0.2,
            MetricsFile = Path.Combine(outputs, "metrics.json"), ModelFile = Path.Combine(outputs, "model.safetensors"),
            CheckpointDirectory = Path.Combine(outputs, "checkpoints"),
        };
        var recorder = new Recorder();
        TrainingRunResult result;
        using (var run = TrainingRun.Prepare(options))
        {
            Assert.Equal((1600, 400, 300), (run.Train.Count, run.Validation.Count, run.Test!.Count));
            Assert.Equal(1, run.FirstEpoch);
            result = run.Run(recorder);
        }

        // The oracle: the same split, network and trainer, driven by hand.
        var splits = MnistFiles.Load(data);
        var (kept, heldOut) = splits.Train.Split(0.2, training.Seed);
        var network = new MultiTaskNetwork(ModelConfig.Tutorial);
        network.Initialize(training.Seed);
        IReadOnlyList<EpochResult> expected;
        MetricsSnapshot test;
        using (var trainer = new Trainer(network, training))
        {
            expected = trainer.Fit(new LabeledDataset(kept, network.Tasks), new LabeledDataset(heldOut, network.Tasks));
            test = trainer.Evaluate(new LabeledDataset(splits.Test, network.Tasks));
        }
        Assert.True(network.Parameters.Values.Span.SequenceEqual(result.Network.Parameters.Values.Span));
        Assert.Equal(expected.Select(e => e.Validation.Loss), result.Epochs.Select(e => e.Validation.Loss));
        Assert.Equal(test.Loss, result.Test!.Loss);
        Assert.Equal([1, 2], recorder.Epochs);
        Assert.Equal(2 * (1600 / 100 / 5), recorder.Progress);

        Assert.Equal([WrittenFileKind.Metrics, WrittenFileKind.Checkpoints, WrittenFileKind.Model], result.Files.Select(f => f.Kind));
        var metrics = MetricsJson.Read(File.ReadAllText(options.MetricsFile), options.MetricsFile);
        Assert.Equal(2, metrics.Count);
        Assert.Equal(expected[1].Validation.Loss, metrics[1].Validation.Loss);
        var saved = Checkpoint.Load(options.ModelFile);
        Assert.True(saved.Network.Parameters.Values.Span.SequenceEqual(network.Parameters.Values.Span));
        Assert.Equal("2", saved.Metadata[TrainingRun.EpochKey]);
        Assert.Equal("5", saved.Metadata[TrainingRun.SeedKey]);
        var last = Checkpoint.Load(Path.Combine(options.CheckpointDirectory, TrainingRun.LastCheckpoint));
        Assert.Equal("2", last.Metadata[TrainingRun.EpochKey]);
        // best.safetensors holds the epoch with the best pooled validation accuracy.
        int bestEpoch = expected[1].Validation.PooledAccuracy > expected[0].Validation.PooledAccuracy ? 2 : 1;
        var best = Checkpoint.Load(Path.Combine(options.CheckpointDirectory, TrainingRun.BestCheckpoint));
        Assert.Equal(bestEpoch.ToString(CultureInfo.InvariantCulture), best.Metadata[TrainingRun.EpochKey]);
        Assert.Equal(expected[bestEpoch - 1].Validation.PooledAccuracy.ToString("R", CultureInfo.InvariantCulture), best.Metadata[TrainingRun.ValidationPooledAccuracyKey]);
    }

    [Fact]
    public void AResumedRunContinuesToTheSameBitsAsAStraightOne()
    {
        string data = TestData.WriteMnistSubset(1500, 200, gzip: false);
        string outputs = Directory.CreateTempSubdirectory("digitparity-run-").FullName;
        var training = new TrainingOptions { Epochs = 3, Seed = 2, Threads = 1 };
        var straight = RunToEnd(new TrainingRunOptions { Training = training, DataDirectory = data });
        string one = Path.Combine(outputs, "one.safetensors");
        RunToEnd(new TrainingRunOptions { Training = training with { Epochs = 1 }, DataDirectory = data, ModelFile = one });
        using var resumed = TrainingRun.Prepare(new TrainingRunOptions { Training = training, DataDirectory = data, ResumeFrom = one });
        Assert.True(resumed.Resumed);
        Assert.Equal(2, resumed.FirstEpoch);
        var result = resumed.Run();
        Assert.Equal([2, 3], result.Epochs.Select(e => e.Epoch));
        Assert.True(straight.Network.Parameters.Values.Span.SequenceEqual(result.Network.Parameters.Values.Span));
        Assert.Equal(straight.Epochs[^1].Validation.Loss, result.Epochs[^1].Validation.Loss);

        // A checkpoint already at the last epoch: nothing to train.
        using var finished = TrainingRun.Prepare(new TrainingRunOptions { Training = training with { Epochs = 1 }, DataDirectory = data, ResumeFrom = one });
        Assert.True(finished.Finished);
        Assert.Empty(finished.Run().Epochs);
    }

    [Fact]
    public void OutputsThatCannotBeWrittenFailBeforeAnyTraining()
    {
        string outputs = Directory.CreateTempSubdirectory("digitparity-run-").FullName;
        string missing = Path.Combine(outputs, "no-such-dir", "model.safetensors");
        var e = Assert.Throws<DirectoryNotFoundException>(() => TrainingRun.Prepare(new TrainingRunOptions { ModelFile = missing }));
        Assert.Contains(missing, e.Message);
        var onFile = Path.Combine(outputs, "a-file");
        File.WriteAllText(onFile, "");
        Assert.Throws<IOException>(() => TrainingRun.Prepare(new TrainingRunOptions { ReportDirectory = onFile }));
        Assert.Throws<IOException>(() => TrainingRun.Prepare(new TrainingRunOptions { MetricsFile = outputs }));
        var bad = Assert.Throws<ArgumentException>(() => TrainingRun.Prepare(new TrainingRunOptions { ValidationSplit = 1 }));
        Assert.Contains("validation split", bad.Message);
        var head = Assert.Throws<ArgumentException>(() => TrainingRun.Prepare(new TrainingRunOptions { TaskWeights = new Dictionary<string, float> { ["colour"] = 1 } }));
        Assert.Contains("no head colour", head.Message);
    }

    private static TrainingRunResult RunToEnd(TrainingRunOptions options)
    {
        using var run = TrainingRun.Prepare(options);
        return run.Run();
    }
}
