using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DigitParity.Checkpoints;
using DigitParity.Inference;
using DigitParity.Model;
using DigitParity.Tasks;

namespace DigitParity.Tests;

/// <summary>Debian's python3-torch, where it is installed; the tests that need it are skipped, saying why, elsewhere.</summary>
internal static class Torch
{
    public const string Python = "/usr/bin/python3";

    public const string Missing = "python3-torch is not installed (apt-get install python3-torch; ./test.sh installs it)";

    public static bool Available { get; } = Run(["-c", "import torch"], TestData.RepositoryRoot).Code == 0;

    public static string Script(string name) => Path.Combine(TestData.RepositoryRoot, "interop", "pytorch", name);

    /// <summary>Runs a program (Python unless given) and returns its exit code and output.</summary>
    public static (int Code, string Output, string Error) Run(IReadOnlyList<string> arguments, string directory, string program = Python,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        if (!File.Exists(program)) return (127, "", $"{program}: not found");
        var start = new ProcessStartInfo(program, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = directory };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output, error.Result);
    }
}

/// <summary>A fact that needs python3-torch.</summary>
public sealed class TorchFactAttribute : FactAttribute
{
    public TorchFactAttribute()
    {
        if (!Torch.Available) Skip = Torch.Missing;
    }
}

/// <summary>A theory that needs python3-torch.</summary>
public sealed class TorchTheoryAttribute : TheoryAttribute
{
    public TorchTheoryAttribute()
    {
        if (!Torch.Available) Skip = Torch.Missing;
    }
}

/// <summary>Our checkpoints in a plain PyTorch module (interop/pytorch): the same logits and accuracy on the MNIST test set.</summary>
public sealed class PyTorchTests
{
    public static TheoryData<string> Models() => new() { "mlp", "mlp-other-tasks", "cnn", "cnn-batch-norm" };

    private static MultiTaskNetwork Model(string name)
    {
        switch (name)
        {
            case "mlp":
                return TestData.Trained.Value;
            case "mlp-other-tasks":
                var other = new MultiTaskNetwork(ModelConfig.Tutorial with
                {
                    Hidden = [48, 32, 16],
                    Tasks = [TaskDefinition.Digit, TaskDefinition.GreaterThanFour, TaskDefinition.Mod3, TaskDefinition.Loop],
                });
                other.Initialize(5);
                return other;
            case "cnn-batch-norm":
                return TestData.TrainedBatchNorm.Value;
            default:
                return Checkpoint.LoadShipped().Network;
        }
    }

    // Largest logit difference, relative to max(|logit|, 1). Float32 sums in another order differ by ~1e-6; conv2's
    // Winograd transforms lose a few more bits (up to ~1e-5 with AVX2's kernels). A wrong layout differs by ~1.
    private const string Tolerance = "5e-5";

    [TorchTheory]
    [MemberData(nameof(Models))]
    public void TheModuleBuiltFromTheFileGivesOurLogitsAndAccuracy(string name)
    {
        var network = Model(name);
        string dir = Directory.CreateTempSubdirectory("digitparity-torch-").FullName;
        string model = Path.Combine(dir, "model.safetensors"), logits = Path.Combine(dir, "logits.f32");
        Checkpoint.Save(model, network);
        var test = TestData.Mnist.Test;
        var images = Enumerable.Range(0, test.Count).Select(i => test.Image(i).ToArray()).ToArray();
        using (var predictor = new Predictor(network, maxBatch: 200)) File.WriteAllBytes(logits, System.Runtime.InteropServices.MemoryMarshal.AsBytes(predictor.Logits(images).AsSpan()).ToArray());
        using var evaluator = new Evaluator(network);
        var ours = evaluator.Evaluate(test);

        var (code, output, error) = Torch.Run([Torch.Script("evaluate.py"), model, "--data", Path.Combine(TestData.RepositoryRoot, "data", "mnist"), "--compare", logits, "--tolerance", Tolerance, "--json"], dir);
        Assert.True(code == 0, error);
        using var result = JsonDocument.Parse(output);
        Assert.Equal(test.Count, result.RootElement.GetProperty("samples").GetInt32());
        Assert.InRange(result.RootElement.GetProperty("max_logit_difference").GetDouble(), 0, double.Parse(Tolerance, CultureInfo.InvariantCulture));
        foreach (var task in network.Tasks)
            Assert.Equal(ours[task.Name].Accuracy, result.RootElement.GetProperty("accuracy").GetProperty(task.Name).GetDouble(), 1e-9);
    }

    [TorchFact]
    public void DistributedDataParallelContinuesOurCheckpointAndWeLoadItsResult()
    {
        // One epoch of DDP with two processes (gloo on loopback) from the trained MLP, with its momentum.
        string dir = Directory.CreateTempSubdirectory("digitparity-ddp-").FullName;
        string start = Path.Combine(dir, "start.safetensors"), result = Path.Combine(dir, "ddp.safetensors");
        var trained = TestData.Trained.Value;
        Checkpoint.Save(start, trained, new Dictionary<string, string> { ["epoch"] = "1" });
        var (code, output, error) = Torch.Run(["--standalone", "--nproc_per_node", "2", "--redirects", "1", "--tee", "1",
            Torch.Script("train_ddp.py"), "--resume", start, "--out", result, "--epochs", "1",
            "--data", Path.Combine(TestData.RepositoryRoot, "data", "mnist")], dir, program: "/usr/bin/torchrun");
        Assert.True(code == 0, output + error);
        Assert.Contains("epoch 2: loss", output);

        var loaded = Checkpoint.Load(result);
        Assert.Equal("2", loaded.Metadata["epoch"]);
        Assert.Contains("DistributedDataParallel, 2 processes, gloo", loaded.Metadata["trained_with"]);
        Assert.Equal(trained.Config.Hidden, loaded.Network.Config.Hidden);
        using var evaluator = new Evaluator(loaded.Network);
        var ours = evaluator.Evaluate(TestData.Mnist.Test);
        string measured = string.Join(",", ours.Tasks.Select(t => $"{t.Name}={t.Accuracy.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}"));
        Assert.Equal(loaded.Metadata[Training.TrainingRun.TestAccuracyKey], measured);
        Assert.NotEqual(trained.Parameters.Values.Span.ToArray(), loaded.Network.Parameters.Values.Span.ToArray());

        // And training goes on here from PyTorch's file, its momentum included.
        var (trainOutput, trainError) = (new StringWriter(), new StringWriter());
        int trainCode = Cli.Program.Run(["train", "--resume", result, "--epochs", "3"], trainOutput, trainError);
        Assert.True(trainCode == 0, trainError.ToString());
        Assert.Contains($"Resuming {result} after epoch 2", trainOutput.ToString());
    }

    // A network trained in PyTorch (100 steps of SGD), saved as a plain state_dict in half and bfloat16 precision.
    private const string TrainInPyTorch = """
        import json, sys, torch, torch.nn.functional as F
        sys.path.insert(0, sys.argv[1])
        import digitparity_torch as dp
        config = {"input_size": 784, "convolutions": [8], "kernel": 5, "hidden": [32], "tasks": [{"name": "digit", "classes": 10}, {"name": "parity", "classes": 2}]}
        torch.manual_seed(0)
        model = dp.DigitParityNet(config)
        x, y = dp.mnist(sys.argv[2], "train")
        labels = dp.task_labels(model, y)
        sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for b in range(100):
            i = slice(b * 100, (b + 1) * 100)
            loss = sum(F.cross_entropy(part, labels[name][i]) for name, part in model.split(model(x[i])).items())
            sgd.zero_grad(); loss.backward(); sgd.step()
        json.dump(config, open("config.json", "w"))
        test_x, test_y = dp.mnist(sys.argv[2], "t10k")
        result = {}
        for name, dtype in (("F16", torch.float16), ("BF16", torch.bfloat16)):
            state = {k: v.to(dtype) for k, v in model.state_dict().items()}
            dp.write_safetensors(f"state_dict.{name}.safetensors", state, {})
            rounded = dp.DigitParityNet(config)
            rounded.load_state_dict({k: v.float() for k, v in state.items()})
            result[name] = dp.accuracy(rounded, test_x, test_y)[0]
        print(json.dumps(result))
        """;

    [TorchFact]
    public void AStateDictPyTorchTrainedAndSavedInHalfPrecisionWorksInEveryCommand()
    {
        string dir = Directory.CreateTempSubdirectory("digitparity-torch-").FullName;
        string data = Path.Combine(TestData.RepositoryRoot, "data", "mnist");
        var (code, output, error) = Torch.Run(["-c", TrainInPyTorch, Path.GetDirectoryName(Torch.Script("x"))!, data], dir);
        Assert.True(code == 0, error);
        using var measured = JsonDocument.Parse(output);
        string config = Path.Combine(dir, "config.json"), image = Path.Combine(dir, "seven.png");
        File.WriteAllBytes(image, TestData.Png(TestData.Mnist.Test.Image(0)));
        foreach (string dtype in new[] { "F16", "BF16" })
        {
            string model = Path.Combine(dir, $"state_dict.{dtype}.safetensors"), json = Path.Combine(dir, $"{dtype}.json");
            Assert.Equal(0, Run(out _, out string evaluateError, "evaluate", "--model", model, "--config", config, "--json", json));
            using var ours = JsonDocument.Parse(File.ReadAllText(json));
            foreach (var task in measured.RootElement.GetProperty(dtype).EnumerateObject())
                Assert.Equal(task.Value.GetDouble(), ours.RootElement.GetProperty("validation").GetProperty("tasks").GetProperty(task.Name).GetProperty("accuracy").GetDouble(), 1e-9);

            Assert.Equal(0, Run(out string predicted, out _, "predict", "--model", model, "--config", config, image));
            Assert.Contains("digit", predicted);
            Assert.Equal(0, Run(out _, out _, "export", "--model", model, "--config", config, "--onnx", Path.Combine(dir, $"{dtype}.onnx")));
            Assert.Equal(0, Run(out string trained, out string trainError, "train", "--resume", model, "--config", config, "--epochs", "1", "--batch-size", "1000", "--save", Path.Combine(dir, $"{dtype}.trained.safetensors")));
            Assert.True(trained.Contains($"Starting from the weights of {model}", StringComparison.Ordinal) && trained.Contains("Epoch[1] Validation", StringComparison.Ordinal), trained + trainError);
        }
        // A configuration given for a file that carries its own is refused in one line.
        Assert.Equal(1, Run(out _, out string refused, "evaluate", "--model", Path.Combine(dir, "F16.trained.safetensors"), "--config", config));
        Assert.Contains("which carries its own configuration; load it without one", refused);
        Assert.Single(refused.Trim().Split('\n'));
    }

    private static int Run(out string output, out string error, params string[] args)
    {
        var (o, e) = (new StringWriter(), new StringWriter());
        int code = Cli.Program.Run(args, o, e);
        (output, error) = (o.ToString(), e.ToString());
        return code;
    }
}
