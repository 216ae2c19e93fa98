using System.Globalization;
using DigitParity.Checkpoints;
using DigitParity.Data;
using DigitParity.Inference;
using DigitParity.Model;

namespace DigitParity.Benchmarks;

/// <summary>
/// What an explanation costs against a prediction of the same image, one thread, batch 1: the tutorial MLP and the
/// shipped CNN, each call through the public API (<see cref="Predictor.Predict(byte[])"/> against
/// <see cref="Predictor.Explain(byte[])"/>), cycling over 100 MNIST test images; medians of 5 timings of at least 0.3 s.
/// <c>dotnet run -c Release --project benchmarks/DigitParity.Benchmarks -- profile-explain</c>
/// </summary>
public static class ExplanationCost
{
    public static void Run()
    {
        var test = MnistFiles.LoadTest(MnistFiles.EmbeddedDirectory);
        var images = Enumerable.Range(0, 100).Select(i => test.Image(i).ToArray()).ToArray();
        var mlp = new MultiTaskNetwork(ModelConfig.Tutorial);
        mlp.Initialize(1);
        Console.WriteLine($"{"model",-5} {"predict µs",11} {"explain µs",11} {"explain/predict",16}");
        foreach (var (name, network) in new[] { ("MLP", mlp), ("CNN", Checkpoint.LoadShipped().Network) })
        {
            using var predictor = new Predictor(network, maxBatch: 1);
            int next = 0;
            foreach (var image in images) { predictor.Predict(image); predictor.Explain(image); }
            double predict = InferenceComparison.Median(() => predictor.Predict(images[next++ % images.Length]), 1);
            double explain = InferenceComparison.Median(() => predictor.Explain(images[next++ % images.Length]), 1);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-5} {1e6 / predict,11:0.0} {1e6 / explain,11:0.0} {predict / explain,15:0.00}x"));
        }
    }
}
