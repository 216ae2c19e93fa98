using DigitParity.Engine;
using DigitParity.Tasks;

namespace DigitParity.Model;

/// <summary>
/// The shared trunk and the task heads. All heads are one Linear layer whose output columns are
/// split by task ([digit 0-9 | parity 0-1]), so the heads cost one matrix multiply, not one per task.
/// <code>
/// MLP: x (B, 784) -fc1+ReLU-> h1 (B, 128) -fc2+ReLU-> h2 (B, 64) -heads-> logits (B, 10 + 2)
/// CNN: x (B, 28, 28, 1) -conv1+ReLU-> (B, 24, 24, 32) -pool-> (B, 12, 12, 32) -conv2+ReLU-> (B, 8, 8, 64)
///      -pool-> (B, 4, 4, 64) = features (B, 1024) -fc1+ReLU-> (B, 128) -heads-> logits (B, 10 + 2)
/// </code>
/// With batch norm, each pooled map is normalized (bn1, bn2) before the next layer reads it.
/// </summary>
public sealed partial class MultiTaskNetwork
{
    private readonly int[] _taskOffsets;
    private readonly int[] _taskClasses;
    private readonly float[] _taskWeights;
    private readonly double[] _temperatures;

    /// <summary>Builds the layers and allocates all parameters (zero until <see cref="Initialize"/>).</summary>
    public MultiTaskNetwork(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Tasks.Count == 0) throw new ArgumentException("A network needs at least one task.", nameof(config));
        if (config.Tasks.Select(t => t.Name).Distinct().Count() != config.Tasks.Count)
            throw new ArgumentException("Task names must be distinct.", nameof(config));
        if (config.Problem() is { } problem) throw new ArgumentException($"Invalid model: {problem}.", nameof(config));
        Config = config;
        var layout = new ParameterLayout();
        var stages = config.Stages();
        var convolutions = new List<Conv2d>();
        var norms = new List<BatchNorm>();
        for (int l = 0; l < config.Convolutions.Count; l++)
        {
            convolutions.Add(new Conv2d(layout, $"conv{l + 1}", stages[l].Channels, config.Convolutions[l], config.Kernel, stages[l].Side, stages[l].Side));
            if (config.BatchNorm) norms.Add(new BatchNorm(layout, $"bn{l + 1}", config.Convolutions[l]));
        }
        Convolutions = convolutions;
        Norms = norms;
        var trunk = new List<Linear>();
        int width = config.FeatureSize;
        for (int l = 0; l < config.Hidden.Count; l++)
        {
            trunk.Add(new Linear(layout, $"fc{l + 1}", width, config.Hidden[l]));
            width = config.Hidden[l];
        }
        Trunk = trunk;
        Heads = new Linear(layout, "heads", width, config.HeadWidth);
        Parameters = new ParameterStore(layout);
        _taskClasses = config.Tasks.Select(t => t.ClassCount).ToArray();
        _taskWeights = config.Tasks.Select(_ => 1f).ToArray();
        _temperatures = config.Tasks.Select(_ => 1.0).ToArray();
        _taskOffsets = new int[config.Tasks.Count];
        for (int t = 1; t < _taskOffsets.Length; t++) _taskOffsets[t] = _taskOffsets[t - 1] + config.Tasks[t - 1].ClassCount;
    }

    /// <summary>The network's shape.</summary>
    public ModelConfig Config { get; }

    /// <summary>The tasks, in head order.</summary>
    public IReadOnlyList<TaskDefinition> Tasks => Config.Tasks;

    /// <summary>The convolution stages (each followed by ReLU and 2 × 2 max pooling); empty for an MLP.</summary>
    internal IReadOnlyList<Conv2d> Convolutions { get; }

    /// <summary>With <see cref="ModelConfig.BatchNorm"/>, each convolution stage's batch norm of its pooled output; empty otherwise.</summary>
    internal IReadOnlyList<BatchNorm> Norms { get; }

    /// <summary>Every batch norm's tensors, each a plain (C) vector in checkpoints: γ, β, running mean and variance.</summary>
    internal IEnumerable<ParameterTensor> NormTensors => Norms.SelectMany(n => new[] { n.Weight, n.Bias, n.RunningMean, n.RunningVariance });

    /// <summary>Trunk layers, each followed by ReLU.</summary>
    internal IReadOnlyList<Linear> Trunk { get; }

    /// <summary>All task heads as one layer; task t owns columns [TaskOffset(t), TaskOffset(t) + classes).</summary>
    internal Linear Heads { get; }

    /// <summary>Parameters and gradients, one allocation each.</summary>
    internal ParameterStore Parameters { get; }

    /// <summary>Weight of each head's loss in the training objective Σ_t w_t · CE_t (all 1 unless set).</summary>
    public IReadOnlyList<float> TaskWeights => _taskWeights;

    /// <summary>
    /// Each head's softmax temperature T (1 unless calibrated): its probabilities are softmax(logits / T). Fitted on
    /// held-out data by training with a validation split; no temperature changes a head's answer.
    /// </summary>
    internal IReadOnlyList<double> Temperatures => _temperatures;

    /// <summary>
    /// The rejection threshold: an input whose class-head energy score (log-sum-exp of its logits / T) is below it is
    /// "not a digit". Chosen on held-out data to keep <see cref="KeptShare"/> of real inputs; null: nothing is rejected.
    /// </summary>
    internal double? RejectionThreshold { get; set; }

    /// <summary>The share of held-out inputs the rejection threshold keeps: 99 %.</summary>
    internal const double KeptShare = 0.99;

    /// <summary>Sets every head's temperature (each finite and positive).</summary>
    internal void SetTemperatures(IReadOnlyList<double> temperatures)
    {
        ArgumentNullException.ThrowIfNull(temperatures);
        if (temperatures.Count != _temperatures.Length || temperatures.Any(t => !(double.IsFinite(t) && t > 0)))
            throw new ArgumentException($"expected {_temperatures.Length} finite positive temperatures", nameof(temperatures));
        for (int t = 0; t < _temperatures.Length; t++) _temperatures[t] = temperatures[t];
    }

    /// <summary>Sets the loss weight of the task called <paramref name="task"/> (finite, zero or positive).</summary>
    public void SetTaskWeight(string task, float weight)
    {
        int index = Tasks.Select(t => t.Name).ToList().IndexOf(task);
        if (index < 0) throw new ArgumentException($"The network has no task {task}.", nameof(task));
        if (!float.IsFinite(weight) || weight < 0) throw new ArgumentOutOfRangeException(nameof(weight), $"A task weight must be finite and not negative (got {weight}).");
        _taskWeights[index] = weight;
    }

    /// <summary>First column of task <paramref name="task"/> in the head output.</summary>
    internal int TaskOffset(int task) => _taskOffsets[task];

    /// <summary>Seeds every layer (PyTorch's Linear default, uniform ±1/sqrt(fan_in)) from <paramref name="seed"/>.</summary>
    public void Initialize(ulong seed)
    {
        var rng = new Rng(seed, stream: 1);
        foreach (var conv in Convolutions) conv.Initialize(Parameters, rng);
        foreach (var norm in Norms) norm.Initialize(Parameters);
        foreach (var layer in Trunk) layer.Initialize(Parameters, rng);
        Heads.Initialize(Parameters, rng);
    }

    /// <summary>
    /// Buffers for batches of up to <paramref name="maxBatch"/> samples (with the backward pass's unless <paramref name="training"/> is
    /// false); <paramref name="listRows"/> chooses a prediction's fc1 by rows or by tiles (default: <see cref="Workspace.SparseRowsPay"/>).
    /// </summary>
    internal Workspace CreateWorkspace(int maxBatch, bool training = true, bool? listRows = null) => new(this, maxBatch, training, listRows: listRows);

    /// <summary>A training workspace for <paramref name="workers"/> workers that each gather the whole batch (see Workspace.WorkerPixels).</summary>
    internal Workspace CreateWorkspace(int maxBatch, int workers, bool privateInputs) => new(this, maxBatch, training: true, workers, privateInputs);
}
