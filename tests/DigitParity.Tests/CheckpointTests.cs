using System.Buffers.Binary;
using System.Text.Json;
using System.Text;
using DigitParity.Checkpoints;
using DigitParity.Data;
using DigitParity.IO;
using DigitParity.Metrics;
using DigitParity.Model;
using DigitParity.Optimizers;
using DigitParity.Training;

namespace DigitParity.Tests;

public sealed class CheckpointTests
{
    private static (MultiTaskNetwork Network, Trainer Trainer, LabeledDataset Data) Trained()
    {
        var config = ModelConfig.Tutorial;
        var data = new LabeledDataset(TestData.Mnist.Train.Take(1000), config.Tasks);
        var network = new MultiTaskNetwork(config);
        network.Initialize(4);
        var trainer = new Trainer(network, new TrainingOptions { Epochs = 1 });
        trainer.Fit(data, data);
        return (network, trainer, data);
    }

    [Fact]
    public void SavedModelLoadsBackBitForBitWithItsMomentum()
    {
        var (network, trainer, data) = Trained();
        using var _ = trainer;
        string path = Path.Combine(Directory.CreateTempSubdirectory("digitparity-ckpt-").FullName, "model.safetensors");
        Checkpoint.Save(path, network, new Dictionary<string, string> { ["epoch"] = "1" }, (Sgd)trainer.Optimizer);

        var loaded = Checkpoint.Load(path);
        foreach (var layer in network.Trunk.Append(network.Heads))
        {
            var twin = loaded.Network.Trunk.Append(loaded.Network.Heads).Single(l => l.Weight.Name == layer.Weight.Name);
            Assert.Equal(layer.ReadWeight(network.Parameters), twin.ReadWeight(loaded.Network.Parameters));
            Assert.Equal(network.Parameters.Value(layer.Bias).ToArray(), loaded.Network.Parameters.Value(twin.Bias).ToArray());
            // Momentum is saved in the (out, in) convention too.
            float[] momentum = layer.ReadWeight(((Sgd)trainer.Optimizer).Velocity);
            Assert.Equal(momentum[5 * layer.Out + 3], loaded.Momentum[layer.Weight.Name][3 * layer.In + 5]);
        }
        Assert.Equal("1", loaded.Metadata["epoch"]);
        using var again = new Trainer(loaded.Network, new TrainingOptions());
        Assert.Equal(trainer.Evaluate(data).Loss, again.Evaluate(data).Loss);
    }

    [Fact]
    public void FileFollowsTheSafetensorsSpecification()
    {
        // Parsed by hand, as the specification describes it, independently of SafeTensors.Read.
        var (network, trainer, _) = Trained();
        using var __ = trainer;
        string path = Path.Combine(Directory.CreateTempSubdirectory("digitparity-ckpt-").FullName, "model.safetensors");
        Checkpoint.Save(path, network);
        byte[] bytes = File.ReadAllBytes(path);
        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, (8 + headerLength) % 8);
        using var header = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, (int)headerLength));
        var fc1 = header.RootElement.GetProperty("fc1.weight");
        Assert.Equal("F32", fc1.GetProperty("dtype").GetString());
        Assert.Equal([128, 784], fc1.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()));
        long begin = fc1.GetProperty("data_offsets")[0].GetInt64();
        int o = 7, i = 300;
        float stored = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan((int)(8 + headerLength + begin + 4L * (o * 784 + i))));
        Assert.Equal(network.Trunk[0].ReadWeight(network.Parameters)[i * 128 + o], stored);
        Assert.Equal(Checkpoint.Format, header.RootElement.GetProperty("__metadata__").GetProperty("format").GetString());
    }

    [Fact]
    public void TheCnnFileHoldsPyTorchsFlattenOrderAndFormatOneFilesConvert()
    {
        // 28 × 28 → conv 5×5 (4) → pool → 12 × 12 → conv 5×5 (8) → pool → 4 × 4 × 8 = 128 inputs of fc1.
        var config = ModelConfig.Tutorial with { Convolutions = [4, 8], Kernel = 5, Hidden = [16] };
        var network = new MultiTaskNetwork(config);
        network.Initialize(3);
        string dir = Directory.CreateTempSubdirectory("digitparity-ckpt-").FullName;
        string current = Path.Combine(dir, "current.safetensors"), old = Path.Combine(dir, "format1.safetensors");
        Checkpoint.Save(current, network);

        // PyTorch's flatten(1) of (N, C, H, W): column c·16 + (h·4 + w); ours is channels-last, (h·4 + w)·8 + c.
        const int Channels = 8, Pixels = 16, Out = 16;
        float[] ours = network.Trunk[0].ReadWeight(network.Parameters); // (in, out)
        var file = SafeTensors.Read(current);
        float[] torch = file["fc1.weight"].Data; // (out, in)
        for (int r = 0; r < Out; r++)
            for (int c = 0; c < Channels; c++)
                for (int p = 0; p < Pixels; p++)
                    Assert.Equal(ours[(p * Channels + c) * Out + r], torch[r * Channels * Pixels + c * Pixels + p]);

        // The same network as format 1 wrote it: fc1's columns channels-last.
        var channelsLast = new float[torch.Length];
        for (int r = 0; r < Out; r++)
            for (int c = 0; c < Channels; c++)
                for (int p = 0; p < Pixels; p++)
                    channelsLast[r * Channels * Pixels + p * Channels + c] = torch[r * Channels * Pixels + c * Pixels + p];
        var tensors = file.Tensors.Select(t => t.Name == "fc1.weight" ? t with { Data = channelsLast } : t).ToList();
        var metadata = file.Metadata.ToDictionary(m => m.Key, m => m.Value);
        metadata["format"] = "digitparity/1";
        SafeTensors.Write(old, tensors, metadata);

        foreach (string path in new[] { current, old })
        {
            var loaded = Checkpoint.Load(path).Network;
            Assert.Equal(network.Parameters.Values.Span.ToArray(), loaded.Parameters.Values.Span.ToArray());
        }
    }

    // A plain state_dict as PyTorch writes it: our tensor names, no DigitParity metadata, in dtype (2-byte elements).
    private static string WriteStateDict(string dir, MultiTaskNetwork network, string dtype, Func<float, ushort> convert,
        Func<NamedTensor, bool>? keep = null, NamedTensor? extra = null)
    {
        string saved = Path.Combine(dir, "saved.safetensors"), path = Path.Combine(dir, $"state_dict.{dtype}.{Guid.NewGuid():N}.safetensors");
        Checkpoint.Save(saved, network);
        var tensors = SafeTensors.Read(saved).Tensors.Where(keep ?? (_ => true)).Concat(extra is null ? [] : [extra]).ToList();
        var header = new Dictionary<string, object>();
        var data = new MemoryStream();
        foreach (var t in tensors)
        {
            header[t.Name] = new { dtype, shape = t.Shape, data_offsets = new[] { data.Length, data.Length + 2L * t.Data.Length } };
            foreach (float v in t.Data) { var b = new byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, convert(v)); data.Write(b); }
        }
        byte[] json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        using var file = File.Create(path);
        var length = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)json.Length);
        file.Write(length);
        file.Write(json);
        data.WriteTo(file);
        return path;
    }

    private static ushort Half(float v) => BitConverter.HalfToUInt16Bits((Half)v);

    private static ushort BFloat(float v) => (ushort)(BitConverter.SingleToInt32Bits(v) >>> 16); // truncated: exact in BF16

    [Theory]
    [InlineData("F16")]
    [InlineData("BF16")]
    public void PlainStateDictsInHalfPrecisionLoadWithAConfiguration(string dtype)
    {
        var network = new MultiTaskNetwork(ModelConfig.Tutorial with { Convolutions = [4], Kernel = 5, Hidden = [16] });
        network.Initialize(2);
        string dir = Directory.CreateTempSubdirectory("digitparity-ckpt-").FullName;
        Func<float, ushort> convert = dtype == "F16" ? Half : BFloat;
        string path = WriteStateDict(dir, network, dtype, convert);
        string config = Checkpoint.ConfigJson(network.Config);

        var loaded = Checkpoint.LoadStateDict(path, config).Network;
        var original = SafeTensors.Read(Path.Combine(dir, "saved.safetensors"));
        var roundTrip = Path.Combine(dir, "again.safetensors");
        Checkpoint.Save(roundTrip, loaded);
        foreach (var tensor in SafeTensors.Read(roundTrip).Tensors)
        {
            float[] expected = original[tensor.Name].Data.Select(v => dtype == "F16" ? (float)BitConverter.UInt16BitsToHalf(Half(v)) : BitConverter.Int32BitsToSingle(BFloat(v) << 16)).ToArray();
            Assert.Equal(expected, tensor.Data);
        }

        // The same file without a configuration, and with a tensor missing or one too many, is one clear line.
        Assert.Contains("format (none), expected a DigitParity model", Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path)).Message);
        string missing = WriteStateDict(dir, network, dtype, convert, t => t.Name != "fc1.bias");
        Assert.Contains("no tensor fc1.bias, expected one of shape [16]", Assert.Throws<InvalidDataException>(() => Checkpoint.LoadStateDict(missing, config)).Message);
        string extra = WriteStateDict(dir, network, dtype, convert, extra: new NamedTensor("fc2.weight", [2, 2], [1, 2, 3, 4]));
        Assert.Contains("tensor fc2.weight, which the configuration has no place for",
            Assert.Throws<InvalidDataException>(() => Checkpoint.LoadStateDict(extra, config)).Message);
        Assert.Contains("a model of format digitparity/2, which carries its own configuration",
            Assert.Throws<InvalidDataException>(() => Checkpoint.LoadStateDict(roundTrip, config)).Message);
    }

    [Fact]
    public void AConfigurationIsForAResumedStateDictOnly()
    {
        var error = new StringWriter();
        Assert.Equal(2, DigitParity.Cli.Program.Run(["train", "--config", "config.json"], new StringWriter(), error));
        Assert.Contains("--config needs --resume", error.ToString());
    }

    public static TheoryData<string, Func<byte[], byte[]>, string> Damage() => new()
    {
        { "header longer than the file", b => { var c = b.ToArray(); BinaryPrimitives.WriteUInt64LittleEndian(c, (ulong)c.Length); return c; }, "expected 1-" },
        { "truncated data", b => b[..^100], "expected a range inside" },
        { "not a safetensors file", _ => Encoding.UTF8.GetBytes("hello, world, not a model"), "a header of" },
        { "wrong dtype", b => Replace(b, "\"F32\"", "\"I64\""), "of dtype I64, expected F32, F16 or BF16" },
        { "a half-precision dtype without the bytes for it", b => Replace(b, "\"F32\"", "\"F16\""), "in 401408 bytes, expected 200704 (F16)" },
        { "shape against the configuration", b => Replace(b, "hidden\\u0022:[128,64]", "hidden\\u0022:[127,64]"), "expected [127, 784]" },
        { "another format", b => Replace(b, Checkpoint.Format, "otherformat/1"), "expected a DigitParity model" },
        { "a newer format version", b => Replace(b, Checkpoint.Format, "digitparity/9"), "written by a newer DigitParity (format digitparity/9); this version reads digitparity/2" },
        { "a configuration far larger than the file", b => Replace(b, "hidden\\u0022:[128,64]", "hidden\\u0022:[9999,6]"), "tensor fc1.weight of shape [128, 784], expected [9999, 784]" },
    };

    [Theory]
    [MemberData(nameof(Damage))]
    public void DamagedFilesAreOneClearError(string _, Func<byte[], byte[]> damage, string expected)
    {
        var network = new MultiTaskNetwork(ModelConfig.Tutorial);
        network.Initialize(1);
        string dir = Directory.CreateTempSubdirectory("digitparity-ckpt-").FullName;
        string good = Path.Combine(dir, "good.safetensors"), bad = Path.Combine(dir, "bad.safetensors");
        Checkpoint.Save(good, network);
        File.WriteAllBytes(bad, damage(File.ReadAllBytes(good)));
        var error = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(bad));
        Assert.StartsWith(bad + ":", error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void TrainSaveAndCheckpointDirWriteLoadableModels()
    {
        string dir = TestData.WriteMnistSubset(1000, 200, gzip: false);
        string model = Path.Combine(dir, "model.safetensors"), checkpoints = Path.Combine(dir, "checkpoints");
        var output = new StringWriter();
        int code = DigitParity.Cli.Program.Run(["train", "--data", dir, "--epochs", "2", "--save", model, "--checkpoint-dir", checkpoints], output, new StringWriter());
        Assert.Equal(0, code);
        Assert.Contains($"Model written to {model}", output.ToString());
        var saved = Checkpoint.Load(model);
        Assert.Equal("2", saved.Metadata["epoch"]);
        Assert.Equal("pixel / 255", saved.Metadata["input_normalization"]);
        using (var metrics = JsonDocument.Parse(saved.Metadata["metrics"]))
            Assert.Equal(2, metrics.RootElement.GetProperty("epochs").GetArrayLength());
        Assert.Equal("2", Checkpoint.Load(Path.Combine(checkpoints, "last.safetensors")).Metadata["epoch"]);
        Assert.True(File.Exists(Path.Combine(checkpoints, "best.safetensors")));
    }

    // Same-length replacement inside the header keeps every offset valid.
    private static byte[] Replace(byte[] file, string from, string to)
    {
        long length = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
        string header = Encoding.UTF8.GetString(file, 8, (int)length);
        Assert.Contains(from, header);
        byte[] replaced = Encoding.UTF8.GetBytes(header.Replace(from, to, StringComparison.Ordinal));
        Assert.Equal(length, replaced.Length);
        var result = file.ToArray();
        replaced.CopyTo(result, 8);
        return result;
    }
}

public sealed class ResumeTests
{
    [Theory]
    [InlineData(OptimizerKind.Sgd, false, 0f)]
    [InlineData(OptimizerKind.AdamW, false, 0f)]
    [InlineData(OptimizerKind.Sgd, true, 0f)]
    [InlineData(OptimizerKind.Sgd, false, 0.99f)]
    [InlineData(OptimizerKind.Sgd, true, 0.99f, true)]
    public void OneEpochSavedThenTwoResumedEqualsThreeStraightBitForBit(OptimizerKind optimizer, bool cnn, float averageDecay, bool batchNorm = false)
    {
        var config = cnn ? ModelConfig.Cnn with { BatchNorm = batchNorm } : ModelConfig.Tutorial;
        var train = new LabeledDataset(TestData.Mnist.Train.Take(cnn ? 1000 : 3000), config.Tasks);
        var validation = new LabeledDataset(TestData.Mnist.Test.Take(500), config.Tasks);
        var options = new TrainingOptions { Epochs = 3, Seed = 9, Optimizer = optimizer, LearningRate = optimizer == OptimizerKind.Sgd ? 0.1f : 0.001f, AverageDecay = averageDecay };

        var straight = new MultiTaskNetwork(config);
        straight.Initialize(options.Seed);
        IReadOnlyList<EpochResult> straightRun;
        using (var trainer = new Trainer(straight, options)) straightRun = trainer.Fit(train, validation);

        var first = new MultiTaskNetwork(config);
        first.Initialize(options.Seed);
        string path = Path.Combine(Directory.CreateTempSubdirectory("digitparity-resume-").FullName, "epoch1.safetensors");
        using (var trainer = new Trainer(first, options with { Epochs = 1 }))
        {
            trainer.Fit(train, validation);
            Checkpoint.Save(path, first, new Dictionary<string, string> { ["epoch"] = "1" }, trainer.Optimizer);
        }
        var loaded = Checkpoint.Load(path);
        IReadOnlyList<EpochResult> resumedRun;
        using (var trainer = new Trainer(loaded.Network, options))
        {
            trainer.RestoreOptimizer(loaded);
            resumedRun = trainer.Fit(train, validation, firstEpoch: 2);
        }

        Assert.True(straight.Parameters.Values.Span.SequenceEqual(loaded.Network.Parameters.Values.Span));
        Assert.Equal([2, 3], resumedRun.Select(e => e.Epoch));
        for (int e = 0; e < 2; e++)
        {
            Assert.Equal(straightRun[e + 1].Train.Loss, resumedRun[e].Train.Loss);
            Assert.Equal(straightRun[e + 1].Validation.Loss, resumedRun[e].Validation.Loss);
            Assert.Equal(straightRun[e + 1].Validation["digit"].Confusion, resumedRun[e].Validation["digit"].Confusion);
        }
    }

    // With --ema the saved weights are the average and the training weights travel as optimizer state.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TrainResumeContinuesARunFromTheCommandLine(bool average)
    {
        string dir = TestData.WriteMnistSubset(2000, 300, gzip: false);
        string one = Path.Combine(dir, "one.safetensors"), resumed = Path.Combine(dir, "resumed.safetensors"), three = Path.Combine(dir, "three.safetensors");
        int Run(params string[] args) => DigitParity.Cli.Program.Run(["train", "--data", dir, .. args, .. average ? new[] { "--ema", "0.95" } : []],
            new StringWriter(), new StringWriter());
        Assert.Equal(0, Run("--epochs", "1", "--save", one));
        Assert.Equal(0, Run("--epochs", "3", "--resume", one, "--save", resumed));
        Assert.Equal(0, Run("--epochs", "3", "--save", three));
        var a = SafeTensors.Read(resumed);
        var b = SafeTensors.Read(three);
        foreach (var tensor in b.Tensors) Assert.Equal(tensor.Data, a[tensor.Name].Data);
        Assert.Equal("3", a.Metadata["epoch"]);
        Assert.Equal(average, b.Tensors.Any(t => t.Name.StartsWith("optimizer.training_weights.", StringComparison.Ordinal)));
        if (average) Assert.NotEqual(b["optimizer.training_weights.fc1.weight"].Data, b["fc1.weight"].Data);
    }
}
