using DigitParity.Model;

namespace DigitParity.Training;

/// <summary>
/// Everything one training run does besides the optimization itself: which data, which model, what to resume, and
/// which files to write. The defaults are the tutorial's run on the embedded MNIST, writing nothing.
/// </summary>
public sealed record TrainingRunOptions
{
    /// <summary>The optimization: epochs, batch, optimizer, schedule, augmentation, seed, threads.</summary>
    public TrainingOptions Training { get; init; } = new();

    /// <summary>
    /// The network to train: its trunk, convolutions, dropout and tasks (the first is the class head). Its input size
    /// is taken from the data. Ignored when resuming: the checkpoint's network is trained on.
    /// </summary>
    public ModelConfig Model { get; init; } = ModelConfig.Tutorial;

    /// <summary>Loss weight per head name (heads not named weigh 1).</summary>
    public IReadOnlyDictionary<string, float> TaskWeights { get; init; } = new Dictionary<string, float>();

    /// <summary>Directory with the four MNIST IDX files, raw or gzip; null: the embedded MNIST.</summary>
    public string? DataDirectory { get; init; }

    /// <summary>
    /// Fraction of the training set held out for validation (0 ≤ f &lt; 1). With 0, every epoch is evaluated on the test
    /// set, as the tutorial does; otherwise on the held-out part, and the test set is evaluated once, at the end.
    /// </summary>
    public double ValidationSplit { get; init; }

    /// <summary>A checkpoint written by a run to continue, up to <see cref="TrainingOptions.Epochs"/> in all.</summary>
    public string? ResumeFrom { get; init; }

    /// <summary>
    /// The configuration JSON of <see cref="ResumeFrom"/> when that file is a plain PyTorch state_dict (see
    /// <see cref="Checkpoints.Checkpoint.LoadStateDict(string, string)"/>); its run starts at epoch 1 unless its
    /// metadata has an <c>epoch</c>.
    /// </summary>
    public string? ResumeConfig { get; init; }

    /// <summary>
    /// After every epoch write <c>last.safetensors</c> here, and <c>best.safetensors</c> when the pooled validation
    /// accuracy improves (a resumed run keeps the best so far unless it beats it).
    /// </summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>Per-epoch metrics as JSON, rewritten after every epoch (and with the test figures at the end).</summary>
    public string? MetricsFile { get; init; }

    /// <summary>The final model, as a safetensors checkpoint.</summary>
    public string? ModelFile { get; init; }

    /// <summary>A report directory: metrics.csv, metrics.json, PNG plots and report.html.</summary>
    public string? ReportDirectory { get; init; }

    /// <summary>How the run was started (for example the command line), kept in the checkpoints' metadata; null: none.</summary>
    public string? Command { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Training);
        ArgumentNullException.ThrowIfNull(Model);
        ArgumentNullException.ThrowIfNull(TaskWeights);
        Training.Validate();
        if (!(ValidationSplit >= 0 && ValidationSplit < 1))
            throw new ArgumentException($"the validation split must be in [0, 1) (got {ValidationSplit})");
        foreach (var (name, weight) in TaskWeights)
            if (!float.IsFinite(weight) || weight < 0) throw new ArgumentException($"the weight of head {name} must be finite and at least 0 (got {weight})");
    }
}
