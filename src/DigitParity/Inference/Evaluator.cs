using DigitParity.Data;
using DigitParity.Engine;
using DigitParity.Metrics;
using DigitParity.Model;

namespace DigitParity.Inference;

/// <summary>
/// Forward passes of a network over a labeled dataset in large batches, accumulated into a metric: loss, accuracies,
/// confusion matrices and, when asked, the heads' agreement. Training uses one after every epoch; <c>evaluate</c> and
/// reports use one on their own.
/// </summary>
public sealed class Evaluator : IDisposable, IParallelWork
{
    private readonly MultiTaskNetwork _network;
    private readonly WorkerPool _pool;
    private readonly bool _ownsPool;
    private readonly int _batchSize;
    private readonly Workspace _ws;
    private readonly MultiTaskMetric _metric;
    private readonly double[] _taskLosses;
    private readonly int[] _indices;
    private LabeledDataset? _data;
    private int _batch;

    /// <summary>
    /// An evaluator of <paramref name="network"/> on <paramref name="threads"/> threads, in batches of
    /// <paramref name="batchSize"/> samples (0: <see cref="DefaultBatchSize"/>).
    /// </summary>
    public Evaluator(MultiTaskNetwork network, int threads = 1, int batchSize = 0)
        : this(network, new WorkerPool(CheckThreads(threads)), ownsPool: true, batchSize)
    {
    }

    /// <summary>An evaluator that runs on a pool it shares (a trainer's) and does not dispose.</summary>
    internal Evaluator(MultiTaskNetwork network, WorkerPool pool, int batchSize = 0)
        : this(network, pool, ownsPool: false, batchSize)
    {
    }

    private Evaluator(MultiTaskNetwork network, WorkerPool pool, bool ownsPool, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentOutOfRangeException.ThrowIfNegative(batchSize);
        _network = network;
        _pool = pool;
        _ownsPool = ownsPool;
        _batchSize = batchSize == 0 ? DefaultBatchSize(network) : batchSize;
        _ws = network.CreateWorkspace(_batchSize, training: false);
        _metric = new MultiTaskMetric(network.Tasks);
        _taskLosses = new double[network.Tasks.Count];
        _indices = new int[_batchSize];
    }

    /// <summary>
    /// Samples per forward pass unless given: 1000, or 200 for a network with convolutions, whose im2col rows grow
    /// with the batch (200 MB at 1000).
    /// </summary>
    internal static int DefaultBatchSize(MultiTaskNetwork network)
    {
        ArgumentNullException.ThrowIfNull(network);
        return network.Convolutions.Count > 0 ? 200 : 1000;
    }

    /// <summary>
    /// Loss, accuracies and confusion matrices of the network's current weights on <paramref name="data"/>, for each
    /// of the network's heads (their labels derived from the dataset's classes).
    /// </summary>
    /// <exception cref="ArgumentException">The images do not have the network's input size.</exception>
    public MetricsSnapshot Evaluate(Dataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return Evaluate(new LabeledDataset(data, _network.Tasks));
    }

    /// <summary>Loss, accuracies and confusion matrices of the network's current weights on <paramref name="data"/>.</summary>
    /// <param name="data">Samples with the network's input size and tasks.</param>
    /// <param name="consistency">If given, also counts every derived head's agreement with the class head.</param>
    /// <param name="calibration">If given, also keeps every sample's logits and labels, to measure calibration.</param>
    internal MetricsSnapshot Evaluate(LabeledDataset data, HeadConsistency? consistency = null, Calibration? calibration = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        CheckShape(_network, data);
        _metric.Reset();
        for (int first = 0; first < data.Count; first += _batchSize)
        {
            _batch = Math.Min(_batchSize, data.Count - first);
            for (int i = 0; i < _batch; i++) _indices[i] = first + i;
            _data = data;
            data.GatherLabels(_indices.AsSpan(0, _batch), _ws.Labels);
            _pool.Run(this);
            _network.SumLosses(_ws, _batch, _taskLosses);
            _metric.Update(_batch, _ws.Labels, _ws.Predictions, _taskLosses);
            consistency?.Update(_batch, _ws.Labels, _ws.Predictions);
            calibration?.Update(_batch, _ws.Logits.Span, _ws.Labels);
        }
        return _metric.Compute();
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="data"/> has the network's input size and tasks.</summary>
    internal static void CheckShape(MultiTaskNetwork network, LabeledDataset data)
    {
        if (data.Data.FeatureCount != network.Config.InputSize)
            throw new ArgumentException($"The data has {data.Data.FeatureCount} features per sample; the network expects {network.Config.InputSize}.");
        if (!data.Tasks.Select(t => t.Name).SequenceEqual(network.Tasks.Select(t => t.Name)))
            throw new ArgumentException("The data's tasks differ from the network's.");
    }

    /// <inheritdoc/>
    void IParallelWork.Execute(int worker)
    {
        var (r0, r1) = StepSchedule.Rows(_batch, worker, _pool.Count);
        _data!.GatherPixels(_indices.AsSpan(r0, r1 - r0), _ws.Input.AsSpan(r0 * _network.Config.InputSize));
        _network.IndexInput(_ws, _batch, r0, r1);
        _pool.Barrier();
        _network.ForwardLoss(_ws, _batch, _pool, worker);
    }

    /// <summary>Stops the worker threads of an evaluator that owns them.</summary>
    public void Dispose()
    {
        if (_ownsPool) _pool.Dispose();
    }

    private static int CheckThreads(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(threads, 256);
        return threads;
    }
}
