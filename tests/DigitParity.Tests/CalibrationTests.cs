using DigitParity.Checkpoints;
using DigitParity.Export;
using DigitParity.Inference;
using DigitParity.Metrics;
using DigitParity.Tasks;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace DigitParity.Tests;

/// <summary>Calibration figures against hand-worked cases, the temperature fit against a grid, and calibrated models end to end.</summary>
public sealed class CalibrationTests
{
    private static readonly TaskDefinition[] ParityOnly = [TaskDefinition.Parity];

    [Fact]
    public void FiguresOfAHandWorkedCase()
    {
        // Four samples of a two-class head. Logits (ln 9, 0) give p = (0.9, 0.1); (0, ln 3) give (0.25, 0.75).
        float l9 = MathF.Log(9), l3 = MathF.Log(3);
        var calibration = new Calibration(ParityOnly, 2);
        calibration.Update(4, [l9, 0, l9, 0, 0, l3, 0, l3], [[0, 1, 1, 0]]);
        var f = calibration.Compute([1.0])[0];
        // Bin 13 ([0.867, 0.933)): confidences 0.9, 0.9, one right: accuracy 0.5, gap 0.4.
        // Bin 11 ([0.733, 0.8)): confidences 0.75, 0.75, one right (label 1): accuracy 0.5, gap 0.25.
        Assert.Equal((2 * 0.4 + 2 * 0.25) / 4, f.ExpectedError, 6);
        Assert.Equal(0.4, f.MaximumError, 6);
        Assert.Equal(-(Math.Log(0.9) + Math.Log(0.1) + Math.Log(0.75) + Math.Log(0.25)) / 4, f.NegativeLogLikelihood, 6);
        // Brier per sample: 2·0.1², 2·0.9², 2·0.25², 2·0.75².
        Assert.Equal((0.02 + 1.62 + 0.125 + 1.125) / 4, f.Brier, 6);
        Assert.Equal(2, f.Bins[13].Count);
        Assert.Equal(2, f.Bins[11].Count);
        Assert.Equal(4, f.Bins.Sum(b => b.Count));
    }

    [Fact]
    public void TheFittedTemperatureIsTheMinimumOfTheLikelihoodAndFindsAKnownOne()
    {
        // Labels drawn from softmax(z / 2.5): the best temperature for these logits is near 2.5.
        var random = new Random(7);
        const int N = 20_000, Classes = 10;
        var logits = new float[N * (Classes + 2)];
        var labels = new int[2][];
        labels[0] = new int[N];
        labels[1] = new int[N];
        for (int i = 0; i < N; i++)
        {
            var p = new double[Classes];
            for (int c = 0; c < Classes; c++) p[c] = Math.Exp((logits[i * 12 + c] = (float)(random.NextDouble() * 12 - 6)) / 2.5);
            double u = random.NextDouble() * p.Sum();
            int label = 0;
            while (label < Classes - 1 && (u -= p[label]) > 0) label++;
            labels[0][i] = label;
            labels[1][i] = label % 2;
            logits[i * 12 + 10] = (float)(random.NextDouble() - 0.5);
            logits[i * 12 + 11] = (float)(random.NextDouble() - 0.5);
        }
        var calibration = new Calibration(TaskDefinition.DigitAndParity, 12);
        calibration.Update(N, logits, labels);
        double[] fitted = calibration.FitTemperatures();
        Assert.InRange(fitted[0], 2.35, 2.65);
        for (int t = 0; t < 2; t++)
        {
            // Oracle: a grid of 2,000 temperatures over the search range, logarithmically spaced.
            double best = Enumerable.Range(0, 2000).Select(k => Calibration.MinTemperature * Math.Pow(Calibration.MaxTemperature / Calibration.MinTemperature, k / 1999.0))
                .Min(temperature => calibration.NegativeLogLikelihood(t, temperature));
            Assert.True(calibration.NegativeLogLikelihood(t, fitted[t]) <= best + 1e-9, $"head {t}: the fit is above the grid's minimum");
        }
    }

    [Fact]
    public void TrainingWithAValidationSplitCalibratesAndEveryConsumerAppliesIt()
    {
        string dir = TestData.WriteMnistSubset(2000, 300, gzip: false);
        string model = Path.Combine(dir, "model.safetensors"), onnx = Path.Combine(dir, "model.onnx");
        var output = new StringWriter();
        Assert.Equal(0, Cli.Program.Run(["train", "--data", dir, "--epochs", "2", "--val-split", "0.2", "--save", model], output, new StringWriter()));
        var loaded = Checkpoint.Load(model);
        Assert.Matches(@"^digit=[0-9.E-]+,parity=[0-9.E-]+$", loaded.Metadata[Checkpoint.TemperaturesKey]);
        var network = loaded.Network;
        Assert.All(network.Temperatures, t => Assert.NotEqual(1.0, t));

        // The same weights at temperature 1: every answer is the same, the probabilities are not.
        var raw = Checkpoint.Load(model).Network;
        raw.SetTemperatures([1.0, 1.0]);
        var images = Enumerable.Range(0, 300).Select(i => TestData.Mnist.Test.Image(i).ToArray()).ToArray();
        using var calibrated = new Predictor(network);
        using var uncalibrated = new Predictor(raw);
        var answers = calibrated.Predict(images);
        var rawAnswers = uncalibrated.Predict(images);
        for (int i = 0; i < images.Length; i++)
            foreach (var task in network.Tasks)
            {
                Assert.Equal(rawAnswers[i][task.Name].Label, answers[i][task.Name].Label);
                // softmax(z / T) = softmax(z)^(1/T), renormalised.
                var p = rawAnswers[i][task.Name].Probabilities.Select(v => Math.Pow(v, 1 / network.Temperatures[network.Tasks.ToList().IndexOf(task)])).ToArray();
                for (int c = 0; c < p.Length; c++) Assert.Equal(p[c] / p.Sum(), answers[i][task.Name].Probabilities[c], 1e-9);
            }

        // The ONNX export divides by the temperatures before its softmax.
        OnnxExport.Write(onnx, network);
        using var session = new InferenceSession(onnx);
        var input = new DenseTensor<float>(images.SelectMany(image => image.Select(v => v / 255f)).ToArray(), [images.Length, 784]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("pixels", input)]);
        var outputs = results.ToDictionary(r => r.Name, r => r.AsTensor<float>().ToArray());
        foreach (var task in network.Tasks)
            for (int i = 0; i < images.Length; i++)
                for (int c = 0; c < task.ClassCount; c++)
                    Assert.Equal(answers[i][task.Name].Probabilities[c], outputs[$"{task.Name}_probabilities"][i * task.ClassCount + c], 1e-5);

        // evaluate shows the figures at the fitted temperatures and at 1.
        var evaluation = new StringWriter();
        Assert.Equal(0, Cli.Program.Run(["evaluate", "--model", model, "--data", dir], evaluation, new StringWriter()));
        Assert.Contains("Calibration (15 bins)", evaluation.ToString());
        Assert.Contains("at T=1", evaluation.ToString());
    }

    [Fact]
    public void TemperaturesThatAreNotPositiveNumbersAreRefused()
    {
        var network = new Model.MultiTaskNetwork(Model.ModelConfig.Tutorial);
        network.SetTemperatures([1.5, 0.5]);
        string path = Path.Combine(Directory.CreateTempSubdirectory("digitparity-calibration-").FullName, "model.safetensors");
        Checkpoint.Save(path, network);
        Assert.Equal([1.5, 0.5], Checkpoint.Load(path).Network.Temperatures);
        byte[] bytes = File.ReadAllBytes(path);
        string text = System.Text.Encoding.Latin1.GetString(bytes).Replace("parity=0.5", "parity=-.5", StringComparison.Ordinal);
        File.WriteAllBytes(path, System.Text.Encoding.Latin1.GetBytes(text));
        var error = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path));
        Assert.Contains("temperatures digit=1.5,parity=-.5, expected digit=T,parity=T with every T finite and positive", error.Message);
    }

    [Fact]
    public void TheJointDecisionWeighsTheHeadsAgainstEachOther()
    {
        // Digit head: 3 (0.5) over 8 (0.4); parity head: even (0.9). Jointly 8 wins: 0.4 · 0.9 > 0.5 · 0.1.
        var tasks = TaskDefinition.DigitAndParity;
        var digit = new double[10];
        digit[3] = 0.5; digit[8] = 0.4; digit[1] = 0.1;
        Assert.Equal(8, JointDecision.Decide(tasks, [digit, [0.9, 0.1]]));
        Assert.Equal(3, JointDecision.Decide(tasks, [digit, [0.3, 0.7]]));

        // Two samples as logits (ln p): the first as above, label 8; the second agrees (3, odd), label 3.
        float L(double p) => (float)Math.Log(Math.Max(p, 1e-12));
        float[] Row(double[] d, double even) => [.. d.Select(L), L(even), L(1 - even)];
        var calibration = new Calibration(tasks, 12);
        calibration.Update(2, [.. Row(digit, 0.9), .. Row(digit, 0.2)], [[8, 3], [0, 1]]);
        var figures = JointDecision.Measure(tasks, calibration, [1.0, 1.0]);
        Assert.Equal(0.5, figures[0].HeadAccuracy, 9);  // the digit head says 3 twice
        Assert.Equal(1.0, figures[0].JointAccuracy, 9); // jointly 8, then 3
        Assert.Equal(1.0, figures[1].HeadAccuracy, 9);
        Assert.Equal(1.0, figures[1].JointAccuracy, 9);
        Assert.Equal(1, figures[1].Contradictions);
        Assert.Equal(1, figures[1].ResolvedCorrectly);
    }

    [Fact]
    public void AnEnsembleVotesByTheMeanOfItsMembersProbabilities()
    {
        // One sample, label 8 (even). Member A: digit 3 (0.6) over 8 (0.3), parity odd (0.6); member B: 8 (0.7) over 3
        // (0.2), even (0.9). Means: 3 0.4, 8 0.5 -> 8; even 0.65 -> even. Member A alone is wrong on both heads. At
        // temperature 2, A's logits are ln p · 2, so the same probabilities come out.
        var tasks = TaskDefinition.DigitAndParity;
        float L(double p) => (float)Math.Log(p);
        float[] Row(int top, double pTop, int second, double pSecond, double even, double scale)
        {
            var d = Enumerable.Repeat((1 - pTop - pSecond) / 8, 10).ToArray();
            d[top] = pTop; d[second] = pSecond;
            return [.. d.Select(p => (float)(L(p) * scale)), (float)(L(even) * scale), (float)(L(1 - even) * scale)];
        }
        var a = new Calibration(tasks, 12);
        a.Update(1, Row(3, 0.6, 8, 0.3, 0.4, 2), [[8], [0]]);
        var b = new Calibration(tasks, 12);
        b.Update(1, Row(8, 0.7, 3, 0.2, 0.9, 1), [[8], [0]]);
        var alone = JointDecision.Measure(tasks, a, [2.0, 2.0]);
        Assert.Equal([0.0, 0.0], alone.Select(f => f.HeadAccuracy));
        var votes = JointDecision.Measure(tasks, [(a, [2.0, 2.0]), (b, [1.0, 1.0])]);
        Assert.Equal([1.0, 1.0], votes.Select(f => f.HeadAccuracy));
        Assert.Equal([1.0, 1.0], votes.Select(f => f.JointAccuracy));
        // With A at temperature 1 its probabilities sharpen (3: 0.6² / Σ), and A's 3 wins the mean.
        var sharp = JointDecision.Measure(tasks, [(a, [1.0, 1.0]), (b, [1.0, 1.0])]);
        Assert.Equal(0.0, sharp[0].HeadAccuracy);
    }

    [Fact]
    public void PredictionsAnswerDerivedHeadsWithTheJointClassWhereTheHeadsContradict()
    {
        var network = Checkpoint.LoadShipped().Network;
        var test = TestData.Mnist.Test;
        using var predictor = new Predictor(network);
        var predictions = predictor.Predict(Enumerable.Range(0, test.Count).Select(i => test.Image(i).ToArray()).ToArray());
        int changed = 0;
        foreach (var prediction in predictions)
        {
            var digit = prediction["digit"];
            var parity = prediction["parity"];
            Assert.Equal(digit.Label, digit.Answer);
            int joint = JointDecision.Decide(network.Tasks, [digit.Probabilities, parity.Probabilities]);
            Assert.Equal(prediction.HeadsAgree ? parity.Label : joint % 2, parity.Answer);
            Assert.Equal(parity.Answer == 0 ? "even" : "odd", parity.AnswerName);
            if (parity.Answer != parity.Label) changed++;
        }
        Assert.InRange(changed, 1, 20); // the shipped CNN's heads contradict each other on 13 test images
        string line = Cli.PredictCommand.Text("x.png", predictions.First(p => p["parity"].Answer != p["parity"].Label));
        Assert.Contains("(joint; head alone ", line);
    }
}
