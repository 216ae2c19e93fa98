using System.Diagnostics;
using DigitParity.Checkpoints;
using DigitParity.Data;
using DigitParity.Engine;
using DigitParity.Inference;
using DigitParity.Metrics;
using DigitParity.Model;
using DigitParity.Optimizers;

namespace DigitParity.Training;

/// <summary>
/// Trains a <see cref="MultiTaskNetwork"/> with SGD: per epoch, shuffle, then for each batch
/// gather → forward → loss → backward → update, then evaluate on the validation set.
/// The same seed and thread count give bit-identical weights and metrics.
/// </summary>
internal sealed class Trainer : IDisposable
{
    private readonly MultiTaskNetwork _network;
    private readonly TrainingOptions _options;
    private readonly WorkerPool _pool;
    private readonly IOptimizer _optimizer;
    private readonly TrainStep _trainStep;
    private readonly Evaluator _evaluator;
    private readonly WeightAverage? _average;

    /// <summary>Prepares training of an initialized <paramref name="network"/>.</summary>
    public Trainer(MultiTaskNetwork network, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _network = network;
        _options = options;
        _pool = new WorkerPool(options.Threads);
        _optimizer = options.Optimizer == OptimizerKind.Sgd
            ? new Sgd(network.Parameters, options.LearningRate, options.Momentum, options.WeightDecay)
            : new Adam(network.Parameters, options.LearningRate, options.WeightDecay, decoupled: options.Optimizer == OptimizerKind.AdamW);
        if (options.AverageDecay > 0)
        {
            // The network starts holding the average (equal to the weights here; a resumed run restores the parked
            // training weights with the optimizer's state).
            _average = new WeightAverage(network.Parameters.Values, options.AverageDecay);
            _optimizer = new AveragedOptimizer(_optimizer, _average);
        }
        // Without augmentation (which costs ~20 µs an image), every worker of an MLP gathers the whole batch itself.
        var workspace = network.CreateWorkspace(options.BatchSize, options.Threads, privateInputs: options.Augmentation is null);
        workspace.LabelSmoothing = options.LabelSmoothing;
        _trainStep = new TrainStep(network, _optimizer, _pool, workspace, options);
        _evaluator = new Evaluator(network, _pool, network.Convolutions.Count > 0
            ? Math.Min(options.EvaluationBatchSize, Evaluator.DefaultBatchSize(network))
            : options.EvaluationBatchSize);
    }

    /// <summary>The optimizer (its state, e.g. SGD's momentum, is part of the training state).</summary>
    public IOptimizer Optimizer => _optimizer;

    /// <summary>Restores SGD's momentum from a checkpoint, tensor by tensor ((out, in) weights, as saved).</summary>
    public void RestoreMomentum(IReadOnlyDictionary<string, float[]> momentum)
    {
        ArgumentNullException.ThrowIfNull(momentum);
        foreach (var (name, buffer) in _optimizer.State)
            if (name == "momentum") Restore(buffer, momentum);
    }

    /// <summary>
    /// Restores the optimizer's state saved in <paramref name="checkpoint"/> (SGD's momentum, Adam's moments and step
    /// count), so that a resumed run continues as the original would have. State of another optimizer is ignored.
    /// </summary>
    public void RestoreOptimizer(LoadedCheckpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        foreach (var (name, buffer) in _optimizer.State)
            if (checkpoint.OptimizerState.TryGetValue(name, out var values)) Restore(buffer, values);
        _optimizer.Steps = checkpoint.OptimizerSteps;
    }

    private void Restore(FloatBuffer buffer, IReadOnlyDictionary<string, float[]> values)
    {
        foreach (var conv in _network.Convolutions)
        {
            if (values.TryGetValue(conv.Weight.Name, out var weight) && weight.Length == conv.Weight.Length)
                weight.CopyTo(buffer.AsSpan(conv.Weight.Offset, conv.Weight.Length));
            if (values.TryGetValue(conv.Bias.Name, out var bias) && bias.Length == conv.Bias.Length)
                bias.CopyTo(buffer.AsSpan(conv.Bias.Offset, conv.Bias.Length));
        }
        foreach (var norm in _network.NormTensors)
            if (values.TryGetValue(norm.Name, out var state) && state.Length == norm.Length) state.CopyTo(buffer.AsSpan(norm.Offset, norm.Length));
        foreach (var layer in _network.Trunk.Append(_network.Heads))
        {
            if (values.TryGetValue(layer.Weight.Name, out var weight))
                layer.WriteWeight(buffer, Checkpoint.Transpose(weight, layer.Out, layer.In));
            if (values.TryGetValue(layer.Bias.Name, out var bias))
                bias.CopyTo(buffer.AsSpan(layer.Bias.Offset, layer.Bias.Length));
        }
    }

    /// <summary>
    /// Runs epochs <paramref name="firstEpoch"/> to <see cref="TrainingOptions.Epochs"/> (a resumed run starts after the
    /// checkpoint's epoch); <paramref name="callbacks"/> may be null.
    /// </summary>
    public IReadOnlyList<EpochResult> Fit(LabeledDataset train, LabeledDataset validation, ITrainingCallbacks? callbacks = null,
        CancellationToken cancellation = default, int firstEpoch = 1)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(validation);
        ArgumentOutOfRangeException.ThrowIfLessThan(firstEpoch, 1);
        CheckShape(train);
        CheckShape(validation);
        var results = new List<EpochResult>();
        var order = new int[train.Count];
        var metric = new MultiTaskMetric(_network.Tasks);
        double best = double.NegativeInfinity;
        int sinceBest = 0;
        for (int epoch = firstEpoch; epoch <= _options.Epochs; epoch++)
        {
            // Each epoch's order depends only on the seed and the epoch, so a resumed run shuffles as the original did.
            for (int i = 0; i < order.Length; i++) order[i] = i;
            new Rng(_options.Seed, stream: 1000 + (ulong)epoch).Shuffle(order);
            cancellation.ThrowIfCancellationRequested();
            _average?.ResumeTraining(_network.Parameters.Values.Span);
            (double Seconds, MetricsSnapshot Metrics) trained;
            try
            {
                trained = TrainEpoch(train, order, epoch, metric, callbacks, cancellation);
            }
            finally
            {
                // Evaluation, the callbacks (checkpoints) and whoever holds the network after Fit see the average.
                _average?.ShowAverage(_network.Parameters.Values.Span);
            }
            var (seconds, trainMetrics) = trained;
            var validationMetrics = _evaluator.Evaluate(validation);
            var result = new EpochResult(epoch, seconds, train.Count / seconds, trainMetrics, validationMetrics, _optimizer.LearningRate);
            results.Add(result);
            callbacks?.OnEpochCompleted(result);
            // Early stopping: the run ends once validation has not improved for Patience epochs.
            if (validationMetrics.PooledAccuracy > best) (best, sinceBest) = (validationMetrics.PooledAccuracy, 0);
            else if (_options.Patience > 0 && ++sinceBest >= _options.Patience) break;
        }
        return results;
    }

    /// <summary>Loss, accuracies and confusion matrices of the current weights on <paramref name="data"/>.</summary>
    public MetricsSnapshot Evaluate(LabeledDataset data) => _evaluator.Evaluate(data);

    /// <summary>As <see cref="Evaluate(LabeledDataset)"/>, also counting the heads' agreement into <paramref name="consistency"/>.</summary>
    public MetricsSnapshot Evaluate(LabeledDataset data, HeadConsistency? consistency) => _evaluator.Evaluate(data, consistency);

    /// <summary>As <see cref="Evaluate(LabeledDataset)"/>, also keeping the logits in <paramref name="calibration"/>.</summary>
    public MetricsSnapshot Evaluate(LabeledDataset data, Calibration calibration) => _evaluator.Evaluate(data, null, calibration);

    private (double Seconds, MetricsSnapshot Metrics) TrainEpoch(LabeledDataset train, int[] order, int epoch, MultiTaskMetric metric,
        ITrainingCallbacks? callbacks, CancellationToken cancellation)
    {
        metric.Reset();
        int batchSize = _options.BatchSize;
        int batches = (train.Count + batchSize - 1) / batchSize;
        long start = Stopwatch.GetTimestamp(), intervalStart = start;
        int intervalSamples = 0;
        for (int batch = 0; batch < batches; batch++)
        {
            int first = batch * batchSize;
            int size = Math.Min(batchSize, train.Count - first);
            _optimizer.LearningRate = LearningRates.At(_options.Schedule, _options.LearningRate, epoch, _options.Epochs,
                (long)(epoch - 1) * batches + batch, (long)_options.Epochs * batches);
            if (!_trainStep.Run(train, order, first, size, metric, (ulong)epoch * (ulong)train.Count))
                throw new TrainingDivergedException(epoch, batch + 1, _optimizer.LearningRate);
            _average?.Update(_network.Parameters.Values.Span, _optimizer.Steps);
            intervalSamples += size;
            if ((batch + 1) % _options.LogInterval == 0 && callbacks is not null)
            {
                long now = Stopwatch.GetTimestamp();
                double speed = intervalSamples / Stopwatch.GetElapsedTime(intervalStart, now).TotalSeconds;
                callbacks.OnProgress(new BatchProgress(epoch, batch + 1, batches, speed, metric.Compute()));
                cancellation.ThrowIfCancellationRequested();
                intervalStart = Stopwatch.GetTimestamp();
                intervalSamples = 0;
            }
        }
        return (Stopwatch.GetElapsedTime(start).TotalSeconds, metric.Compute());
    }

    /// <summary>One SGD step on samples order[first..first+size) (for tests and benchmarks).</summary>
    internal bool TrainBatch(LabeledDataset data, int[] order, int first, int size, MultiTaskMetric metric)
        => _trainStep.Run(data, order, first, size, metric, 0);

    private void CheckShape(LabeledDataset data) => Evaluator.CheckShape(_network, data);

    /// <summary>Stops the worker threads.</summary>
    public void Dispose()
    {
        _evaluator.Dispose();
        _pool.Dispose();
    }

    /// <summary>One SGD step on all workers: gather and index, forward and loss, backward with the updates.</summary>
    private sealed class TrainStep(MultiTaskNetwork network, IOptimizer optimizer, WorkerPool pool, Workspace ws, TrainingOptions options) : IParallelWork
    {
        private readonly float[][] _original = options.Augmentation is null ? [] : Enumerable.Range(0, pool.Count).Select(_ => new float[network.Config.InputSize]).ToArray();
        private ulong _epochKey;
        private readonly double[] _taskLosses = new double[network.Tasks.Count];
        private LabeledDataset? _data;
        // With private inputs: the masks of every image of the dataset being trained on (built on its first step).
        private ImageMasks? _imageMasks;
        private LabeledDataset? _maskedData;
        private int[] _indices = [];
        private int _first, _batch;

        // Returns false when the loss is no longer finite (the step's update has already diverged the weights).
        // epochKey: the epoch's first key for the augmentation draws (epoch × samples), so each position draws its own.
        public bool Run(LabeledDataset data, int[] order, int first, int batch, MultiTaskMetric metric, ulong epochKey)
        {
            (_data, _indices, _first, _batch, _epochKey) = (data, order, first, batch, epochKey);
            if (ws.PrivateIndex && !ReferenceEquals(data, _maskedData)) (_imageMasks, _maskedData) = (new ImageMasks(data), data);
            // Dropout draws depend on the seed and the step's position only (same bits for any thread count, and on resume).
            if (network.Config.Dropout > 0) ws.DropoutKey = options.Seed * 0x9E3779B97F4A7C15UL ^ (epochKey + (ulong)first) * 0xC2B2AE3D27D4EB4FUL;
            data.GatherLabels(order.AsSpan(first, batch), ws.Labels);
            optimizer.BeginStep();
            pool.Run(this);
            network.SumLosses(ws, _batch, _taskLosses);
            foreach (double loss in _taskLosses)
                if (!double.IsFinite(loss)) return false;
            metric.Update(_batch, ws.Labels, ws.Predictions, _taskLosses);
            return true;
        }

        public void Execute(int worker)
        {
            // Each worker gathers its share of the batch's rows (or, with its own copy of x, all of them) and indexes
            // them, so no core waits for one gatherer. A worker with its own copy (pixel bytes) takes their masks from
            // the dataset's ImageMasks into its own tables and needs no barrier before fc1; otherwise x is floats,
            // indexed after any augmentation into shared tables, and everyone waits for all of its rows.
            int inputs = network.Config.InputSize;
            bool whole = ws.PrivateIndex;
            var (r0, r1) = whole ? (0, _batch) : StepSchedule.Rows(_batch, worker, pool.Count);
            if (whole)
            {
                ReadOnlySpan<int> batch = _indices.AsSpan(_first, _batch);
                _data!.GatherPixelBytes(batch, ws.PixelsOf(worker), default, 0);
                _imageMasks!.Gather(batch, ws.InputMasksOf(worker), ws.InputTileMasksOf(worker), ActiveDepth.TileStride(_batch));
            }
            else _data!.GatherPixels(_indices.AsSpan(_first + r0, r1 - r0), ws.Input.AsSpan(r0 * inputs));
            if (options.Augmentation is { } augmentation)
            {
                float[] original = _original[worker];
                for (int r = r0; r < r1; r++)
                {
                    Span<float> row = ws.Input.AsSpan(r * inputs, inputs);
                    row.CopyTo(original);
                    augmentation.Apply(original, row, network.Config.ImageSide, options.Seed, _epochKey + (ulong)(_first + r));
                }
            }
            if (!whole) network.IndexInput(ws, _batch, r0, r1, worker, step: pool);
            // Start fetching this worker's rows of the next batch while this step computes: half of them now, half
            // after the loss. All at once, the prefetches fill the miss queue and stall the core for several µs; in two
            // halves they overlap with the products (interleaved A/B: +6-8 % at the 80th and 95th percentiles).
            int next = _first + _batch, n0 = 0, n1 = 0;
            if (next < _indices.Length)
            {
                int size = Math.Min(_batch, _indices.Length - next);
                (n0, n1) = whole ? (0, size) : StepSchedule.Rows(size, worker, pool.Count);
            }
            int half = (n0 + n1) / 2;
            Prefetch(next + n0, half - n0);
            if (!whole) pool.Barrier();
            network.ForwardLoss(ws, _batch, pool, worker);
            Prefetch(next + half, n1 - half);
            network.Backward(ws, _batch, pool, worker, optimizer);
        }

        // The images at order[first..first+count) and, with private inputs, their mask entries.
        private void Prefetch(int first, int count)
        {
            if (count <= 0) return;
            _data!.Prefetch(_indices.AsSpan(first, count));
            _imageMasks?.Prefetch(_indices.AsSpan(first, count));
        }
    }
}
