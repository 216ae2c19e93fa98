using DigitParity.Data;
using DigitParity.Optimizers;
namespace DigitParity.Training;

/// <summary>Settings of a training run; the defaults are the tutorial's.</summary>
public sealed record TrainingOptions
{
    /// <summary>Passes over the training set.</summary>
    public int Epochs { get; init; } = 3;

    /// <summary>Most epochs a run may have.</summary>
    internal const int MaxEpochs = 1_000_000;

    /// <summary>Samples per SGD step.</summary>
    public int BatchSize { get; init; } = 100;

    /// <summary>η.</summary>
    public float LearningRate { get; init; } = 0.1f;

    /// <summary>μ.</summary>
    public float Momentum { get; init; } = 0.9f;

    /// <summary>λ, applied to weights (not biases).</summary>
    public float WeightDecay { get; init; } = 1e-5f;

    /// <summary>Drives initialization and shuffling.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Worker threads (each owns a block of every layer's output columns).</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>Batches between progress reports.</summary>
    public int LogInterval { get; init; } = 100;

    /// <summary>The optimizer: SGD with momentum (the tutorial's), Adam or AdamW.</summary>
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Sgd;

    /// <summary>How η moves during the run (the tutorial keeps it constant).</summary>
    public LearningRateSchedule Schedule { get; init; } = LearningRateSchedule.Constant;

    /// <summary>Stop after this many epochs without a better validation pooled accuracy (0 = never stop early).</summary>
    public int Patience { get; init; }

    /// <summary>Samples per forward pass during evaluation.</summary>
    public int EvaluationBatchSize { get; init; } = 1000;

    /// <summary>Random distortions of the training images (none by default).</summary>
    public Augmentation? Augmentation { get; init; }

    /// <summary>
    /// Decay per step of an exponential moving average of the weights that is evaluated and saved instead of the
    /// weights themselves (see <see cref="WeightAverage"/>); 0, the default, trains without one.
    /// </summary>
    public float AverageDecay { get; init; }

    /// <summary>
    /// ε of label smoothing: each head trains towards (1 − ε) on the true class and ε / K on each of its K classes
    /// (0, the default, is plain cross-entropy). Validation losses are always plain cross-entropy.
    /// </summary>
    public float LabelSmoothing { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        static void Require(bool ok, string message)
        {
            if (!ok) throw new ArgumentException(message);
        }
        Require(Epochs >= 1 && Epochs <= MaxEpochs, $"epochs must be in 1-{MaxEpochs} (got {Epochs})");
        Require(BatchSize >= 1, $"batch size must be at least 1 (got {BatchSize})");
        Require(float.IsFinite(LearningRate) && LearningRate > 0, $"learning rate must be a positive number (got {LearningRate})");
        Require(float.IsFinite(Momentum) && Momentum >= 0 && Momentum < 1, $"momentum must be in [0, 1) (got {Momentum})");
        Require(float.IsFinite(WeightDecay) && WeightDecay >= 0, $"weight decay must be zero or positive (got {WeightDecay})");
        Require(Threads >= 1 && Threads <= 256, $"threads must be in 1-256 (got {Threads})");
        Require(LogInterval >= 1, $"log interval must be at least 1 (got {LogInterval})");
        Require(AverageDecay >= 0 && AverageDecay < 1, $"the average's decay must be in [0, 1) (got {AverageDecay})");
        Require(LabelSmoothing >= 0 && LabelSmoothing < 1, $"label smoothing must be in [0, 1) (got {LabelSmoothing})");
        Require(Patience >= 0, $"patience must be zero or positive (got {Patience})");
        Require(EvaluationBatchSize >= 1, $"evaluation batch size must be at least 1 (got {EvaluationBatchSize})");
    }
}
