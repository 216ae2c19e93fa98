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
/// Then the shipped CNN's prediction with its temperatures against the same network with every temperature 1, in
/// alternation: what calibration adds to a prediction.
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

        var calibrated = Checkpoint.LoadShipped().Network;
        var raw = Checkpoint.LoadShipped().Network;
        raw.SetTemperatures(raw.Tasks.Select(_ => 1.0).ToArray());
        using var withT = new Predictor(calibrated, maxBatch: 1);
        using var withoutT = new Predictor(raw, maxBatch: 1);
        int at = 0;
        var (tPer, onePer) = (new List<double>(), new List<double>());
        for (int round = 0; round < 5; round++)
        {
            // Which goes first alternates too, so that a drift of the machine's speed favours neither.
            if (round % 2 == 1) onePer.Add(1e6 / InferenceComparison.Median(() => withoutT.Predict(images[at++ % images.Length]), 1));
            tPer.Add(1e6 / InferenceComparison.Median(() => withT.Predict(images[at++ % images.Length]), 1));
            if (round % 2 == 0) onePer.Add(1e6 / InferenceComparison.Median(() => withoutT.Predict(images[at++ % images.Length]), 1));
        }
        tPer.Sort();
        onePer.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"CNN predict, calibrated {tPer[2]:0.0} µs, every T = 1 {onePer[2]:0.0} µs (medians of 5 alternating rounds; calibrated/raw {tPer[2] / onePer[2]:0.000})"));
    }
}
