using System.Diagnostics;
using System.Text.Json;
using DigitParity.Checkpoints;
using DigitParity.Data;
using DigitParity.Engine;
using DigitParity.IO;
using DigitParity.Inference;
using DigitParity.Metrics;
using DigitParity.Model;
using DigitParity.Training;

namespace DigitParity.Performance;

/// <summary>One matrix shape of a training step, timed on one thread.</summary>
/// <param name="Name">Layer and pass, e.g. <c>fc1.forward</c>.</param>
/// <param name="Batch">Batch size the shape belongs to.</param>
/// <param name="M">Rows of C.</param>
/// <param name="N">Columns of C.</param>
/// <param name="K">Depth.</param>
/// <param name="Gflops">Measured GFLOP/s (dense kernel, one thread).</param>
/// <param name="FractionOfPeak">Gflops / one thread's FMA peak.</param>
internal sealed record KernelFigure(string Name, int Batch, int M, int N, int K, double Gflops, double FractionOfPeak);

/// <summary>End-to-end training throughput for one configuration.</summary>
/// <param name="Batch">Batch size.</param>
/// <param name="Threads">Worker threads.</param>
/// <param name="SamplesPerSecond">Median over the epochs after the first.</param>
/// <param name="Gflops">SamplesPerSecond × FLOPs per sample.</param>
/// <param name="FractionOfPeak">Gflops / the FMA peak of that many threads.</param>
internal sealed record TrainingFigure(int Batch, int Threads, double SamplesPerSecond, double Gflops, double FractionOfPeak);

/// <summary>Prediction throughput for one model, batch size and thread count, through the span API.</summary>
/// <param name="Model">"tutorial MLP" (initialized) or "shipped CNN".</param>
/// <param name="Batch">Images per call.</param>
/// <param name="Threads">Worker threads.</param>
/// <param name="ImagesPerSecond">Median of 5 timings.</param>
/// <param name="BytesAllocatedPerBatch">Managed bytes one call allocates.</param>
internal sealed record PredictionFigure(string Model, int Batch, int Threads, double ImagesPerSecond, double BytesAllocatedPerBatch)
{
    /// <summary>Microseconds an image.</summary>
    public double MicrosecondsPerImage => 1e6 / ImagesPerSecond;
}

/// <summary>Everything <see cref="Bench.Run"/> measures.</summary>
/// <param name="Processor">What the runtime reports about the machine.</param>
/// <param name="Cores">Logical processors.</param>
/// <param name="PeakGflopsOneThread">Register-only FMA loop, one thread.</param>
/// <param name="PeakGflopsAllThreads">The same loop on every core at once.</param>
/// <param name="FlopsPerTrainingSample">Forward and backward of the tutorial network (fc1 needs no input gradient).</param>
/// <param name="Kernels">Each matrix shape of a batch-100 and a batch-1000 step.</param>
/// <param name="Training">Training throughput per batch size and thread count.</param>
/// <param name="EvaluationSamplesPerSecond">Forward passes over the validation set, all threads.</param>
/// <param name="BytesAllocatedPerStep">Managed bytes allocated per training step (all threads).</param>
/// <param name="PeakWorkingSetBytes">The process's peak working set at the end of the run.</param>
/// <param name="Prediction">Prediction throughput per model, batch size and thread count.</param>
internal sealed record BenchReport(string Processor, int Cores, double PeakGflopsOneThread, double PeakGflopsAllThreads,
    long FlopsPerTrainingSample, IReadOnlyList<KernelFigure> Kernels, IReadOnlyList<TrainingFigure> Training,
    double EvaluationSamplesPerSecond, double BytesAllocatedPerStep, long PeakWorkingSetBytes, IReadOnlyList<PredictionFigure> Prediction)
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    /// <summary>Writes the report as JSON, atomically.</summary>
    public void WriteJson(string path) => AtomicFile.Write(path, stream => JsonSerializer.Serialize(stream, this, Json));
}

/// <summary>Settings of a benchmark run.</summary>
internal sealed record BenchOptions
{
    /// <summary>Epochs per training configuration (the first is not counted).</summary>
    public int Epochs { get; init; } = 4;

    /// <summary>Batch sizes to train with.</summary>
    public IReadOnlyList<int> BatchSizes { get; init; } = [100, 1000];

    /// <summary>Thread counts to train with.</summary>
    public IReadOnlyList<int> ThreadCounts { get; init; } = [1, Environment.ProcessorCount];

    /// <summary>Time spent on each kernel measurement.</summary>
    public TimeSpan KernelTime { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Batch sizes to predict with.</summary>
    public IReadOnlyList<int> PredictionBatches { get; init; } = [1, 256];
}

/// <summary>Measures this machine's FMA peak and how close the engine gets to it.</summary>
internal static class Bench
{
    /// <summary>Runs every measurement; <paramref name="progress"/> hears what is being measured.</summary>
    public static BenchReport Run(DataSplits data, BenchOptions options, IProgress<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        var config = ModelConfig.Tutorial with { InputSize = data.Train.FeatureCount };
        progress?.Report("FMA peak");
        double peakOne = FmaPeak.SingleThread(TimeSpan.FromMilliseconds(300));
        double peakAll = FmaPeak.Measure(Environment.ProcessorCount, TimeSpan.FromMilliseconds(300));
        long flops = FlopsPerSample(new MultiTaskNetwork(config));

        var kernels = new List<KernelFigure>();
        foreach (int batch in options.BatchSizes)
        {
            progress?.Report($"kernels at batch {batch}");
            kernels.AddRange(Kernels(config, batch, options.KernelTime, peakOne));
        }

        var train = new LabeledDataset(data.Train, config.Tasks);
        var validation = new LabeledDataset(data.Test, config.Tasks);
        var smallValidation = new LabeledDataset(data.Test.Take(Math.Min(1000, data.Test.Count)), config.Tasks);
        var training = new List<TrainingFigure>();
        foreach (int batch in options.BatchSizes)
        {
            foreach (int threads in options.ThreadCounts.Distinct())
            {
                progress?.Report($"training at batch {batch}, {threads} thread(s)");
                double speed = TrainingSpeed(config, train, smallValidation, batch, threads, options.Epochs);
                double peak = threads == 1 ? peakOne : peakAll * Math.Min(threads, Environment.ProcessorCount) / Environment.ProcessorCount;
                training.Add(new TrainingFigure(batch, threads, speed, speed * flops / 1e9, speed * flops / 1e9 / peak));
            }
        }

        progress?.Report("evaluation and allocations");
        var network = new MultiTaskNetwork(config);
        network.Initialize(1);
        using var evaluator = new Evaluator(network, Environment.ProcessorCount);
        double evaluation = Median(Enumerable.Range(0, 5).Select(_ =>
        {
            var clock = Stopwatch.StartNew();
            evaluator.Evaluate(validation);
            return validation.Count / clock.Elapsed.TotalSeconds;
        }));
        progress?.Report("prediction");
        var models = new List<(string Name, MultiTaskNetwork Model)> { ("tutorial MLP", network) };
        // The shipped CNN takes 28 × 28 images: it is timed on data of that size only.
        var shipped = Checkpoint.LoadShipped().Network;
        if (shipped.Config.InputSize == data.Test.FeatureCount) models.Add(("shipped CNN", shipped));
        var predictions = new List<PredictionFigure>();
        foreach (var (name, model) in models)
            foreach (int batch in options.PredictionBatches)
                foreach (int threads in options.ThreadCounts.Distinct())
                    predictions.Add(Prediction(name, model, data.Test, batch, threads));
        using var trainer = new Trainer(network, new TrainingOptions());
        double allocated = AllocationPerStep(trainer, train);
        return new BenchReport(ProcessorName(),
            Environment.ProcessorCount, peakOne, peakAll, flops, kernels, training, evaluation, allocated,
            Process.GetCurrentProcess().PeakWorkingSet64, predictions);
    }

    // The first `batch` test images predicted into spans, over and over: the median of 5 timings of at least 50 ms,
    // and the bytes one call allocates.
    private static PredictionFigure Prediction(string name, MultiTaskNetwork model, Dataset test, int batch, int threads)
    {
        batch = Math.Min(batch, test.Count);
        ReadOnlySpan<byte> pixels = test.Pixels.AsSpan(0, batch * test.FeatureCount);
        var answers = new int[batch * model.Tasks.Count];
        var probabilities = new float[batch * model.Config.HeadWidth];
        var rejected = new bool[batch];
        using var predictor = new Predictor(model, batch, threads);
        predictor.Predict(pixels, answers, probabilities, rejected);
        long before = GC.GetAllocatedBytesForCurrentThread();
        predictor.Predict(pixels, answers, probabilities, rejected);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        var rates = new List<double>();
        for (int r = 0; r < 5; r++)
        {
            long calls = 0;
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed.TotalMilliseconds < 50) { predictor.Predict(pixels, answers, probabilities, rejected); calls++; }
            rates.Add(calls * batch / clock.Elapsed.TotalSeconds);
        }
        return new PredictionFigure(name, batch, threads, Median(rates), allocated);
    }

    /// <summary>FLOPs of one training sample: forward and weight gradient of every layer, input gradient of all but the first.</summary>
    public static long FlopsPerSample(MultiTaskNetwork network)
    {
        ArgumentNullException.ThrowIfNull(network);
        var layers = network.Trunk.Append(network.Heads).ToArray();
        long forward = layers.Sum(l => (long)l.In * l.Out);
        long inputGradient = layers.Skip(1).Sum(l => (long)l.In * l.Out);
        return 2 * (2 * forward + inputGradient);
    }

    private static IEnumerable<KernelFigure> Kernels(ModelConfig config, int batch, TimeSpan time, double peak)
    {
        int[] widths = [config.InputSize, .. config.Hidden, config.HeadWidth];
        string[] names = [.. config.Hidden.Select((_, l) => $"fc{l + 1}"), "heads"];
        for (int l = 0; l < names.Length; l++)
        {
            int inputs = widths[l], outputs = widths[l + 1];
            yield return Time($"{names[l]}.forward", batch, batch, outputs, inputs, false, time, peak);
            yield return Time($"{names[l]}.weight-grad", batch, inputs, outputs, batch, true, time, peak);
            if (l > 0) yield return Time($"{names[l]}.input-grad", batch, batch, inputs, outputs, false, time, peak);
        }
    }

    // As Linear runs it: forward and weight gradient one 64-column panel at a time (B and, for the gradient,
    // C contiguous per panel); the input gradient against the transposed weights in one product.
    private static KernelFigure Time(string name, int batch, int m, int n, int k, bool weightGradient, TimeSpan time, double peak)
    {
        var rng = new Rng(7);
        float[] a = Random(rng, m * k), b = Random(rng, k * n), c = new float[m * n];
        bool panels = !name.EndsWith(".input-grad", StringComparison.Ordinal);
        void Once()
        {
            if (!panels)
            {
                Gemm.Multiply(a, k, b, n, default, c, n, m, n, k);
                return;
            }
            for (int j = 0; j < n; j += Linear.PanelWidth)
            {
                int width = Math.Min(Linear.PanelWidth, n - j);
                if (weightGradient)
                    Gemm.Multiply(a, m, b.AsSpan(j * k), width, default, c.AsSpan(j * m), width, m, width, k, GemmOptions.TransposeA);
                else
                    Gemm.Multiply(a, k, b.AsSpan(j * k), width, default, c.AsSpan(j), n, m, width, k);
            }
        }
        double seconds = MedianSeconds(Once, time);
        double gflops = 2.0 * m * n * k / seconds / 1e9;
        return new KernelFigure(name, batch, m, n, k, gflops, gflops / peak);
    }

    private static string ProcessorName()
    {
        try
        {
            string? line = File.Exists("/proc/cpuinfo") ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal)) : null;
            if (line is not null) return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException)
        {
        }
        return System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
    }

    private static double TrainingSpeed(ModelConfig config, LabeledDataset train, LabeledDataset validation, int batch, int threads, int epochs)
    {
        var network = new MultiTaskNetwork(config);
        network.Initialize(1);
        using var trainer = new Trainer(network, new TrainingOptions { BatchSize = batch, Threads = threads, Epochs = Math.Max(2, epochs) });
        var run = trainer.Fit(train, validation);
        return Median(run.Skip(1).Select(e => e.SamplesPerSecond));
    }

    private static double AllocationPerStep(Trainer trainer, LabeledDataset train)
    {
        var metric = new MultiTaskMetric(train.Tasks);
        int[] order = Enumerable.Range(0, train.Count).ToArray();
        for (int b = 0; b < 10; b++) trainer.TrainBatch(train, order, b * 100, 100, metric);
        long before = GC.GetTotalAllocatedBytes(precise: true);
        const int Steps = 200;
        for (int b = 10; b < 10 + Steps; b++) trainer.TrainBatch(train, order, b * 100, 100, metric);
        return (GC.GetTotalAllocatedBytes(precise: true) - before) / (double)Steps;
    }

    private static double MedianSeconds(Action action, TimeSpan total)
    {
        for (int i = 0; i < 20; i++) action();
        var samples = new List<double>();
        var overall = Stopwatch.StartNew();
        while (samples.Count < 5 || overall.Elapsed < total)
        {
            int n = 0;
            var clock = Stopwatch.StartNew();
            do { action(); n++; } while (clock.Elapsed.TotalMilliseconds < total.TotalMilliseconds / 10);
            samples.Add(clock.Elapsed.TotalSeconds / n);
        }
        return Median(samples);
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        if (sorted.Length == 0) return 0;
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static float[] Random(Rng rng, int n)
    {
        var values = new float[n];
        for (int i = 0; i < n; i++) values[i] = rng.NextUniform(1f);
        return values;
    }
}
