using System.Diagnostics;
using System.Globalization;
using DigitParity.Checkpoints;
using DigitParity.Data;
using DigitParity.Inference;

namespace DigitParity.Benchmarks;

/// <summary>
/// Our <see cref="Predictor"/> against ONNX Runtime on the same exported model, in one process: the tutorial recipe's
/// MLP (3 epochs, seed 1) and the shipped CNN, 1 and 2 threads, batches of 1, 16, 256 and 1000 real MNIST test images. Each cell is the median of
/// 5 timings of at least 0.3 s, ours and ORT's interleaved; ours is timed through the public API, bytes in and either answers, probabilities and
/// rejections written into spans or <see cref="Prediction"/> objects out, ORT as <see cref="OrtPeer"/> runs it
/// (floats in, every output, all bound once). Also the managed bytes the objects cost per image (the spans
/// allocate none). <c>dotnet run -c Release --project benchmarks/DigitParity.Benchmarks -- profile-inference [MLP|CNN]</c>
/// </summary>
public static class InferenceComparison
{
    public static void Run(string? only = null)
    {
        var data = MnistFiles.Load(MnistFiles.EmbeddedDirectory);
        var test = data.Test;
        var models = new[] { ("MLP", OrtPeer.TutorialMlp(data)), ("CNN", Checkpoint.LoadShipped().Network) }.Where(m => only is null || string.Equals(only, m.Item1, StringComparison.OrdinalIgnoreCase)).ToArray();
        Console.WriteLine($"{"model",-5} {"threads",7} {"batch",6} {"spans img/s",12} {"µs/img",8} {"objects img/s",14} {"µs/img",8} {"ORT img/s",12} {"µs/img",8} {"spans/ORT",10} {"bytes/img",10}");
        foreach (var (name, network) in models)
        {
            foreach (int threads in new[] { 1, 2 })
            {
                foreach (int batch in new[] { 1, 16, 256, 1000 })
                {
                    var images = Enumerable.Range(0, batch).Select(i => test.Image(i).ToArray()).ToArray();
                    var pixels = images.SelectMany(image => image).ToArray();
                    var answers = new int[batch * network.Tasks.Count];
                    var probabilities = new float[batch * network.Config.HeadWidth];
                    var rejected = new bool[batch];
                    using var predictor = new Predictor(network, batch, threads);
                    predictor.Predict(images);
                    predictor.Predict(pixels, answers, probabilities, rejected);
                    long before = GC.GetAllocatedBytesForCurrentThread();
                    predictor.Predict(images);
                    double bytesPerImage = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)batch;
                    using var peer = new OrtPeer(network, pixels, threads);
                    peer.Run();
                    // Interleaved, so that the machine's drift falls on all three alike.
                    var (objects, spans, ort) = Medians(() => predictor.Predict(images), () => predictor.Predict(pixels, answers, probabilities, rejected), peer.Run, batch);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{name,-5} {threads,7} {batch,6} {spans,12:N0} {1e6 / spans,8:0.0} {objects,14:N0} {1e6 / objects,8:0.0} {ort,12:N0} {1e6 / ort,8:0.0} {spans / ort,9:0.00}x {bytesPerImage,10:N0}"));
                }
            }
        }
    }

    // Images per second of each call: the median of 5 rounds, each timing the three calls in turn for at least 0.3 s each.
    private static (double, double, double) Medians(Action first, Action second, Action third, int batch)
    {
        var rates = new List<double>[] { [], [], [] };
        Action[] calls = [first, second, third];
        for (int r = 0; r < 5; r++)
            for (int k = 0; k < calls.Length; k++)
            {
                // Both thread pools spin a while after their last run (ours up to 1 ms): let them go to sleep first, so
                // that neither takes a core from the other's timing.
                Thread.Sleep(50);
                rates[k].Add(Rate(calls[k], batch));
            }
        foreach (var list in rates) list.Sort();
        return (rates[0][2], rates[1][2], rates[2][2]);
    }

    // Images per second of one timing that repeats the call for at least 0.3 s.
    private static double Rate(Action call, int batch)
    {
        long calls = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < 0.3) { call(); calls++; }
        return calls * batch / clock.Elapsed.TotalSeconds;
    }

    // Images per second: the median of 5 timings, each repeating the call for at least 0.3 s.
    internal static double Median(Action call, int batch)
    {
        var rates = Enumerable.Range(0, 5).Select(_ => Rate(call, batch)).Order().ToList();
        return rates[2];
    }
}
