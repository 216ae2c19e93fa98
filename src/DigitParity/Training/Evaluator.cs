using DigitParity.Data;
using DigitParity.Engine;
using DigitParity.Metrics;
using DigitParity.Model;

namespace DigitParity.Training;

/// <summary>Forward passes over a dataset in large batches, accumulated into a metric.</summary>
internal sealed class Evaluator(MultiTaskNetwork network, WorkerPool pool, int batchSize) : IParallelWork
{
    private readonly Workspace _ws = network.CreateWorkspace(batchSize, training: false);
    private readonly MultiTaskMetric _metric = new(network.Tasks);
    private readonly double[] _taskLosses = new double[network.Tasks.Count];
    private readonly int[] _indices = new int[batchSize];
    private LabeledDataset? _data;
    private int _batch;

    public MetricsSnapshot Evaluate(LabeledDataset data, HeadConsistency? consistency = null)
    {
        _metric.Reset();
        for (int first = 0; first < data.Count; first += batchSize)
        {
            _batch = Math.Min(batchSize, data.Count - first);
            for (int i = 0; i < _batch; i++) _indices[i] = first + i;
            _data = data;
            data.GatherLabels(_indices.AsSpan(0, _batch), _ws.Labels);
            pool.Run(this);
            network.SumLosses(_ws, _batch, _taskLosses);
            _metric.Update(_batch, _ws.Labels, _ws.Predictions, _taskLosses);
            consistency?.Update(_batch, _ws.Labels, _ws.Predictions);
        }
        return _metric.Compute();
    }

    public void Execute(int worker)
    {
        var (r0, r1) = MultiTaskNetwork.InputRows(_batch, worker, pool.Count);
        _data!.GatherPixels(_indices.AsSpan(r0, r1 - r0), _ws.Input.AsSpan(r0 * network.Config.InputSize));
        network.IndexInput(_ws, _batch, r0, r1);
        pool.Barrier();
        network.ForwardLoss(_ws, _batch, pool, worker);
    }
}
