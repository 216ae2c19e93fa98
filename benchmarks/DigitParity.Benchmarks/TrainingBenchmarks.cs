using BenchmarkDotNet.Attributes;
using DigitParity.Data;
using DigitParity.Metrics;
using DigitParity.Model;
using DigitParity.Training;

namespace DigitParity.Benchmarks;

/// <summary>One SGD step of the tutorial network on real MNIST batches.</summary>
[MemoryDiagnoser]
public class TrainingStepBenchmarks
{
    private LabeledDataset _data = null!;
    private Trainer _trainer = null!;
    private MultiTaskMetric _metric = null!;
    private int[] _order = [];
    private int _next;

    [Params(100, 1000)]
    public int Batch { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var config = ModelConfig.Tutorial;
        _data = new LabeledDataset(MnistFiles.Load(MnistFiles.EmbeddedDirectory).Train, config.Tasks);
        var network = new MultiTaskNetwork(config);
        network.Initialize(1);
        _trainer = new Trainer(network, new TrainingOptions { BatchSize = Batch, Threads = Threads });
        _metric = new MultiTaskMetric(config.Tasks);
        _order = Enumerable.Range(0, _data.Count).ToArray();
        new DigitParity.Engine.Rng(1).Shuffle(_order);
    }

    [GlobalCleanup]
    public void Cleanup() => _trainer.Dispose();

    [Benchmark]
    public void Step()
    {
        if (_next + Batch > _order.Length) _next = 0;
        _trainer.TrainBatch(_data, _order, _next, Batch, _metric);
        _next += Batch;
    }
}

/// <summary>Forward passes over the 10,000 validation images.</summary>
[MemoryDiagnoser]
public class EvaluationBenchmarks
{
    private LabeledDataset _data = null!;
    private Trainer _trainer = null!;

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var config = ModelConfig.Tutorial;
        _data = new LabeledDataset(MnistFiles.Load(MnistFiles.EmbeddedDirectory).Test, config.Tasks);
        var network = new MultiTaskNetwork(config);
        network.Initialize(1);
        _trainer = new Trainer(network, new TrainingOptions { Threads = Threads });
    }

    [GlobalCleanup]
    public void Cleanup() => _trainer.Dispose();

    [Benchmark]
    public MetricsSnapshot Evaluate() => _trainer.Evaluate(_data);
}
