using System.Diagnostics;
using System.Globalization;
using DigitParity.Checkpoints;
using DigitParity.Data;
using DigitParity.IO;
using DigitParity.Metrics;
using DigitParity.Model;
using DigitParity.Reporting;

namespace DigitParity.Training;

/// <summary>
/// One whole training run, as <c>digitparity train</c> does it: <see cref="Prepare"/> checks every output, loads the
/// data (holding out a validation split if asked), and builds or resumes the network; <see cref="Run"/> trains it,
/// writes the metrics and checkpoints after every epoch, evaluates the test set once at the end when a validation
/// split was held out, and saves the model and the report.
/// <code>
/// using var run = TrainingRun.Prepare(new TrainingRunOptions { ModelFile = "model.safetensors" });
/// TrainingRunResult result = run.Run();
/// </code>
/// </summary>
public sealed class TrainingRun : IDisposable
{
    /// <summary>Checkpoint metadata: the last epoch trained.</summary>
    public const string EpochKey = "epoch";

    /// <summary>Checkpoint metadata: the run's seed.</summary>
    public const string SeedKey = "seed";

    /// <summary>Checkpoint metadata: the pooled validation accuracy after the epoch (round-trip format).</summary>
    public const string ValidationPooledAccuracyKey = "validation_pooled_accuracy";

    /// <summary>Checkpoint metadata: each head's validation accuracy, <c>digit=0.98,parity=0.99</c>.</summary>
    public const string ValidationAccuracyKey = "validation_accuracy";

    /// <summary>Checkpoint metadata: how the run was started (<see cref="TrainingRunOptions.Command"/>), when given.</summary>
    public const string CommandKey = "command";

    /// <summary>
    /// Checkpoint metadata of the final model: each head's test-set accuracy, <c>digit=0.9968,parity=0.9981</c> (the last
    /// epoch's figures when every epoch is evaluated on the test set; the final test pass's after a validation split).
    /// </summary>
    public const string TestAccuracyKey = "test_accuracy";

    /// <summary>Checkpoint metadata of the final model: the number of test images <see cref="TestAccuracyKey"/> counts.</summary>
    public const string TestSamplesKey = "test_samples";

    /// <summary>Checkpoint metadata: the run's metrics JSON up to the epoch.</summary>
    public const string MetricsKey = "metrics";

    /// <summary>File names in <see cref="TrainingRunOptions.CheckpointDirectory"/>.</summary>
    public const string LastCheckpoint = "last.safetensors", BestCheckpoint = "best.safetensors";

    private readonly Trainer _trainer;
    private FileStream? _lock;
    private double _best = double.NegativeInfinity;

    private TrainingRun(TrainingRunOptions options, MultiTaskNetwork network, LabeledDataset train, LabeledDataset validation,
        LabeledDataset? test, int firstEpoch, double loadSeconds, LoadedCheckpoint? resumed)
    {
        Options = options;
        Network = network;
        Train = train;
        Validation = validation;
        Test = test;
        FirstEpoch = firstEpoch;
        LoadSeconds = loadSeconds;
        _trainer = new Trainer(network, options.Training);
        if (resumed is not null) _trainer.RestoreOptimizer(resumed);
        // A resumed run keeps the best model so far unless it beats it.
        if (resumed is not null && options.CheckpointDirectory is not null && File.Exists(Path.Combine(options.CheckpointDirectory, BestCheckpoint)))
            _best = BestSoFar(Path.Combine(options.CheckpointDirectory, BestCheckpoint));
    }

    /// <summary>The run's settings.</summary>
    public TrainingRunOptions Options { get; }

    /// <summary>The network being trained (initialized from the seed, or the resumed checkpoint's).</summary>
    public MultiTaskNetwork Network { get; }

    /// <summary>The images trained on.</summary>
    internal LabeledDataset Train { get; }

    /// <summary>The images evaluated after every epoch: the held-out split, or the test set when there is none.</summary>
    internal LabeledDataset Validation { get; }

    /// <summary>The test set, evaluated once at the end, when a validation split is held out; otherwise null.</summary>
    internal LabeledDataset? Test { get; }

    /// <summary>The first epoch to train (1, or the epoch after a resumed checkpoint's).</summary>
    public int FirstEpoch { get; }

    /// <summary>Whether the run continues a checkpoint.</summary>
    public bool Resumed => Options.ResumeFrom is not null;

    /// <summary>True when a resumed checkpoint has already reached <see cref="TrainingOptions.Epochs"/>: <see cref="Run"/> trains nothing.</summary>
    public bool Finished => FirstEpoch > Options.Training.Epochs;

    /// <summary>Seconds spent reading and decoding the data.</summary>
    internal double LoadSeconds { get; }

    /// <summary>
    /// Checks the options and every output path, loads the data and builds the network (or loads the one to resume).
    /// Bad settings throw <see cref="ArgumentException"/>; a bad file or directory throws <see cref="InvalidDataException"/>
    /// or an <see cref="IOException"/> whose message names it.
    /// </summary>
    public static TrainingRun Prepare(TrainingRunOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        CheckOutputs(options);
        var directoryLock = options.CheckpointDirectory is null ? null : LockDirectory(options.CheckpointDirectory);
        try
        {
            var run = Build(options);
            run._lock = directoryLock;
            return run;
        }
        catch
        {
            directoryLock?.Dispose();
            throw;
        }
    }

    /// <summary>The lock file a run holds in its checkpoint directory while it runs.</summary>
    internal const string LockFile = ".digitparity.lock";

    // An exclusive advisory lock (flock on Unix) on DIR/.digitparity.lock: a second run writing the same checkpoints
    // is refused instead of overwriting the first one's best and last. The kernel releases it when the process ends,
    // however it ends, so a crashed run leaves nothing to clean up.
    private static FileStream LockDirectory(string directory)
    {
        string path = Path.Combine(directory, LockFile);
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
        }
        catch (IOException)
        {
            throw new IOException($"{directory}: another training run is writing checkpoints here (it holds {LockFile}); give this run its own --checkpoint-dir, or wait for that one to end");
        }
    }

    // Loads the data and builds or resumes the network.
    private static TrainingRun Build(TrainingRunOptions options)
    {
        var resumed = options.ResumeFrom is null ? null
            : options.ResumeConfig is null ? Checkpoint.Load(options.ResumeFrom)
            : Checkpoint.LoadStateDict(options.ResumeFrom, options.ResumeConfig);
        int firstEpoch = 1;
        if (resumed is not null && !(options.ResumeConfig is not null && !resumed.Metadata.ContainsKey(EpochKey)))
        {
            if (!int.TryParse(resumed.Metadata.GetValueOrDefault(EpochKey), NumberStyles.None, CultureInfo.InvariantCulture, out int done))
                throw new InvalidDataException($"{options.ResumeFrom}: no epoch in the metadata, expected a checkpoint written by train");
            if (done > TrainingOptions.MaxEpochs)
                throw new InvalidDataException($"{options.ResumeFrom}: epoch {done} in the metadata, expected at most {TrainingOptions.MaxEpochs}");
            firstEpoch = done + 1;
        }
        var clock = Stopwatch.StartNew();
        string directory = options.DataDirectory ?? MnistFiles.EmbeddedDirectory;
        var splits = MnistFiles.Load(directory, (resumed?.Network.Tasks ?? options.Model.Tasks)[0].ClassCount);
        var config = resumed?.Network.Config ?? options.Model with { InputSize = splits.Train.FeatureCount };
        if (config.Problem() is { } problem)
            throw new ArgumentException($"the model for {splits.Train.Rows}x{splits.Train.Columns} images cannot be built: {problem}");
        if (config.InputSize != splits.Train.FeatureCount)
            throw new InvalidDataException($"{directory}: images of {splits.Train.FeatureCount} pixels, expected {config.InputSize} as {options.ResumeFrom} was trained on");
        // With a validation split, model selection sees only a held-out part of the training set; the test set is used once.
        var (trainSet, validationSet) = options.ValidationSplit > 0 ? splits.Train.Split(options.ValidationSplit, options.Training.Seed) : (splits.Train, splits.Test);
        var train = new LabeledDataset(trainSet, config.Tasks);
        var validation = new LabeledDataset(validationSet, config.Tasks);
        var test = options.ValidationSplit > 0 ? new LabeledDataset(splits.Test, config.Tasks) : null;
        double loadSeconds = clock.Elapsed.TotalSeconds;

        var network = resumed?.Network ?? new MultiTaskNetwork(config);
        if (resumed is null) network.Initialize(options.Training.Seed);
        foreach (var (name, weight) in options.TaskWeights)
        {
            if (!network.Tasks.Any(t => t.Name == name))
            {
                string heads = string.Join(", ", network.Tasks.Select(t => t.Name));
                if (resumed is null) throw new ArgumentException($"no head {name} to weight; the heads are {heads}");
                throw new InvalidDataException($"{options.ResumeFrom}: no head {name} to weight; its heads are {heads}");
            }
            network.SetTaskWeight(name, weight);
        }
        return new TrainingRun(options, network, train, validation, test, firstEpoch, loadSeconds, resumed);
    }

    /// <summary>
    /// Trains epochs <see cref="FirstEpoch"/> to <see cref="TrainingOptions.Epochs"/> (fewer if early stopping ends the run),
    /// writing the metrics and checkpoints after each; then the test pass, the model and the report.
    /// </summary>
    /// <param name="callbacks">Progress and epoch hooks; may be null. They run before that epoch's files are written.</param>
    /// <param name="cancellationToken">Stops the run between logging intervals (<see cref="OperationCanceledException"/>).</param>
    public TrainingRunResult Run(ITrainingCallbacks? callbacks = null, CancellationToken cancellationToken = default)
    {
        if (Finished) return new TrainingRunResult(Network, [], null, []);
        var epochs = _trainer.Fit(Train, Validation, new Persisting(this, callbacks), cancellationToken, FirstEpoch);
        var files = new List<WrittenFile>();
        // With a held-out part, each head's temperature is fitted on it (never on the test set).
        if (Options.ValidationSplit > 0 && epochs.Count > 0)
        {
            var calibration = new Calibration(Network.Tasks, Network.Config.HeadWidth);
            _trainer.Evaluate(Validation, calibration);
            Network.SetTemperatures(calibration.FitTemperatures());
            // "Not a digit": below the energy score that keeps 99 % of the held-out images.
            Network.RejectionThreshold = Rejection.Threshold(calibration.Energies(Network.Temperatures[0]), MultiTaskNetwork.KeptShare);
        }
        MetricsSnapshot? test = null;
        if (Test is not null)
        {
            test = _trainer.Evaluate(Test);
            if (Options.MetricsFile is not null) MetricsJson.Write(Options.MetricsFile, epochs, test);
        }
        if (Options.MetricsFile is not null) files.Add(new WrittenFile(WrittenFileKind.Metrics, Options.MetricsFile));
        if (Options.CheckpointDirectory is not null) files.Add(new WrittenFile(WrittenFileKind.Checkpoints, Options.CheckpointDirectory));
        if (Options.ModelFile is not null)
        {
            Checkpoint.Save(Options.ModelFile, Network, Metadata(epochs, final: true, test), _trainer.Optimizer);
            files.Add(new WrittenFile(WrittenFileKind.Model, Options.ModelFile));
        }
        if (Options.ReportDirectory is not null)
        {
            var content = TrainingReport.Collect(Options.ModelFile ?? "training run", Network, epochs, Validation, Options.Training.Threads);
            TrainingReport.Write(Options.ReportDirectory, content);
            files.Add(new WrittenFile(WrittenFileKind.Report, Options.ReportDirectory));
        }
        return new TrainingRunResult(Network, epochs, test, files);
    }

    /// <summary>Stops the worker threads.</summary>
    public void Dispose()
    {
        _trainer.Dispose();
        _lock?.Dispose();
    }

    // Every output is checked before any work, so a bad path never costs a finished run.
    private static void CheckOutputs(TrainingRunOptions options)
    {
        if (options.MetricsFile is not null) OutputPaths.CheckWritable(options.MetricsFile, "the metrics file");
        if (options.ModelFile is not null) OutputPaths.CheckWritable(options.ModelFile, "the model");
        if (options.CheckpointDirectory is not null)
        {
            OutputPaths.CheckDirectory(options.CheckpointDirectory, "the checkpoints");
            // Leftovers of a run killed mid-write; the checkpoints themselves are always whole.
            foreach (string name in new[] { LastCheckpoint, BestCheckpoint }) AtomicFile.RemoveStale(Path.Combine(options.CheckpointDirectory, name));
        }
        if (options.ReportDirectory is not null) OutputPaths.CheckDirectory(options.ReportDirectory, "the report");
    }

    private void EpochDone(IReadOnlyList<EpochResult> epochs)
    {
        if (Options.MetricsFile is not null) MetricsJson.Write(Options.MetricsFile, epochs);
        if (Options.CheckpointDirectory is null) return;
        var last = epochs[^1];
        var metadata = Metadata(epochs);
        // best before last: a kill between the two writes never leaves a last.safetensors without a best.safetensors.
        if (last.Validation.PooledAccuracy > _best)
        {
            _best = last.Validation.PooledAccuracy;
            Checkpoint.Save(Path.Combine(Options.CheckpointDirectory, BestCheckpoint), Network, metadata, _trainer.Optimizer);
        }
        Checkpoint.Save(Path.Combine(Options.CheckpointDirectory, LastCheckpoint), Network, metadata, _trainer.Optimizer);
    }

    private static double BestSoFar(string path)
    {
        var metadata = Checkpoint.Load(path).Metadata;
        return double.TryParse(metadata.GetValueOrDefault(ValidationPooledAccuracyKey), NumberStyles.Float, CultureInfo.InvariantCulture, out double accuracy)
            ? accuracy
            : double.NegativeInfinity;
    }

    // The final model's also carries its test figures: the test pass's, or the last epoch's when every epoch was
    // evaluated on the test set.
    private Dictionary<string, string> Metadata(IReadOnlyList<EpochResult> epochs, bool final = false, MetricsSnapshot? test = null)
    {
        var epoch = epochs[^1];
        using var metrics = new MemoryStream();
        MetricsJson.Write(metrics, epochs, test);
        var metadata = new Dictionary<string, string>
        {
            [EpochKey] = epoch.Epoch.ToString(CultureInfo.InvariantCulture),
            [SeedKey] = Options.Training.Seed.ToString(CultureInfo.InvariantCulture),
            [ValidationPooledAccuracyKey] = epoch.Validation.PooledAccuracy.ToString("R", CultureInfo.InvariantCulture),
            [ValidationAccuracyKey] = Accuracies(epoch.Validation),
            [MetricsKey] = System.Text.Encoding.UTF8.GetString(metrics.ToArray()),
        };
        if (Options.Command is not null) metadata[CommandKey] = Options.Command;
        if ((test ?? (final && Options.ValidationSplit == 0 ? epoch.Validation : null)) is { } figures)
        {
            metadata[TestAccuracyKey] = Accuracies(figures);
            metadata[TestSamplesKey] = figures.Samples.ToString(CultureInfo.InvariantCulture);
        }
        return metadata;
    }

    private static string Accuracies(MetricsSnapshot figures) =>
        string.Join(",", figures.Tasks.Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Name}={t.Accuracy:R}")));

    // Passes progress on, and after each epoch's own callback writes the metrics and checkpoints.
    private sealed class Persisting(TrainingRun run, ITrainingCallbacks? inner) : ITrainingCallbacks
    {
        private readonly List<EpochResult> _epochs = [];

        public void OnProgress(BatchProgress progress) => inner?.OnProgress(progress);

        public void OnEpochCompleted(EpochResult result)
        {
            inner?.OnEpochCompleted(result);
            _epochs.Add(result);
            run.EpochDone(_epochs);
        }
    }
}
