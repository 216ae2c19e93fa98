using System.Globalization;
using System.Text.Json;
using DigitParity.IO;
using DigitParity.Model;
using DigitParity.Optimizers;
using DigitParity.Tasks;

namespace DigitParity.Checkpoints;

/// <summary>
/// Saves and loads models as safetensors. Each Linear layer is two tensors in PyTorch's convention,
/// <c>NAME.weight</c> (out, in) and <c>NAME.bias</c> (out); the optimizer's momentum, when given, is
/// <c>optimizer.momentum.NAME.weight</c> etc. The metadata holds <c>format</c> = <see cref="Format"/> and
/// <c>config</c> = <c>{"input_size":784,"hidden":[128,64],"tasks":[{"name":"digit","classes":10},...]}</c>.
/// Every tensor is in the layout and order a plain PyTorch module expects, so <c>load_state_dict</c> takes the file as
/// it is; files of format 1, whose CNN <c>fc1.weight</c> read the pooled map channels-last, still load, converted.
/// </summary>
public static class Checkpoint
{
    /// <summary>Value of the <c>format</c> metadata key.</summary>
    public const string Format = FormatName + "2";

    private const string FormatName = "digitparity/";
    private const int FormatVersion = 2;

    private const string OptimizerPrefix = "optimizer.";

    /// <summary>
    /// Metadata key of the heads' softmax temperatures, <c>digit=1.31,parity=1.12</c>, when they were calibrated
    /// (absent: every temperature is 1).
    /// </summary>
    internal const string TemperaturesKey = "temperatures";

    /// <summary>Metadata key of the rejection threshold of the class head's energy score (absent: nothing is rejected).</summary>
    internal const string RejectionKey = "rejection_energy_threshold";

    /// <summary>
    /// Where the CNN that ships with DigitParity lies, beside the application (<c>models/cnn.safetensors</c>): trained by
    /// the command in its <c>command</c> metadata, with its test-set accuracy in <c>test_accuracy</c>.
    /// </summary>
    public static string ShippedModelPath => Path.Combine(AppContext.BaseDirectory, "models", "cnn.safetensors");

    /// <summary>Loads the CNN that ships with DigitParity (<see cref="ShippedModelPath"/>).</summary>
    /// <exception cref="InvalidDataException">The application was deployed without it.</exception>
    public static LoadedCheckpoint LoadShipped() => Load(ShippedModelPath);

    /// <summary>
    /// Writes <paramref name="network"/>'s configuration and weights to <paramref name="path"/> as safetensors, with
    /// PyTorch's tensor names and layouts, and <paramref name="metadata"/> beside them. The file is written to a
    /// temporary name and renamed, so an interrupted save never leaves a partial model.
    /// </summary>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static void Save(string path, MultiTaskNetwork network, IReadOnlyDictionary<string, string>? metadata = null) =>
        Save(path, network, metadata, optimizer: null);

    /// <summary>The network's parameters as the file holds them: names, PyTorch's shapes and layouts.</summary>
    internal static IReadOnlyList<NamedTensor> Tensors(MultiTaskNetwork network)
    {
        ArgumentNullException.ThrowIfNull(network);
        var tensors = new List<NamedTensor>();
        foreach (var conv in network.Convolutions) tensors.AddRange(Tensors(network.Parameters.Values, conv, ""));
        tensors.AddRange(NormTensors(network, network.Parameters.Values, ""));
        foreach (var layer in network.Trunk.Append(network.Heads)) tensors.AddRange(Tensors(network, network.Parameters.Values, layer, ""));
        return tensors;
    }

    /// <summary>As the public Save, with <paramref name="optimizer"/>'s state (SGD's momentum, Adam's moments), so that a run can resume.</summary>
    internal static void Save(string path, MultiTaskNetwork network, IReadOnlyDictionary<string, string>? metadata, IOptimizer? optimizer)
    {
        ArgumentNullException.ThrowIfNull(network);
        var tensors = new List<NamedTensor>(Tensors(network));
        var layers = network.Trunk.Append(network.Heads).ToArray();
        foreach (var (name, buffer) in optimizer?.State ?? [])
        {
            foreach (var conv in network.Convolutions) tensors.AddRange(Tensors(buffer, conv, OptimizerPrefix + name + "."));
            tensors.AddRange(NormTensors(network, buffer, OptimizerPrefix + name + "."));
            foreach (var layer in layers) tensors.AddRange(Tensors(network, buffer, layer, OptimizerPrefix + name + "."));
        }
        var all = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>());
        all.Remove(TemperaturesKey);
        all.Remove(RejectionKey);
        if (network.RejectionThreshold is { } threshold) all[RejectionKey] = threshold.ToString("R", CultureInfo.InvariantCulture);
        if (network.Temperatures.Any(t => t != 1))
            all[TemperaturesKey] = string.Join(",", network.Tasks.Select((task, t) => string.Create(CultureInfo.InvariantCulture, $"{task.Name}={network.Temperatures[t]:R}")));
        if (optimizer is not null) all["optimizer_steps"] = optimizer.Steps.ToString(CultureInfo.InvariantCulture);
        foreach (var (key, value) in new Dictionary<string, string>
        {
            ["format"] = Format,
            ["config"] = ConfigJson(network.Config),
            ["input_normalization"] = "pixel / 255",
        }) all[key] = value;
        SafeTensors.Write(path, tensors, all);
    }

    /// <summary>Reads a checkpoint written by <see cref="Save(string, MultiTaskNetwork, IReadOnlyDictionary{string, string}?)"/> or by training.</summary>
    /// <exception cref="InvalidDataException">
    /// There is no such file, or it is not a DigitParity checkpoint, is damaged, or was written by a newer format
    /// version; the message is one line that names the file and what was expected.
    /// </exception>
    public static LoadedCheckpoint Load(string path) => FromFile(SafeTensors.Read(path), path, config: null);

    /// <summary>As <see cref="Load(string)"/>, from a seekable stream; <paramref name="name"/> is used in error messages.</summary>
    public static LoadedCheckpoint Load(Stream stream, string name) => FromFile(SafeTensors.Read(stream, name), name, config: null);

    /// <summary>
    /// Reads a plain PyTorch <c>state_dict</c> saved with safetensors (<c>safetensors.torch.save_file</c>): DigitParity's
    /// tensor names and PyTorch's layouts (those of the module in <c>interop/pytorch</c>), F32, F16 or BF16, without
    /// DigitParity's metadata. <paramref name="configJson"/> describes the network, as the <c>config</c> metadata does:
    /// <c>{"input_size":784,"convolutions":[32,64],"kernel":5,"hidden":[128],"tasks":[{"name":"digit","classes":10},...]}</c>.
    /// </summary>
    /// <exception cref="InvalidDataException">
    /// The file is damaged, carries DigitParity's own configuration already, or does not hold exactly the tensors the
    /// configuration implies with their shapes; the message is one line that names the file and the tensor.
    /// </exception>
    public static LoadedCheckpoint LoadStateDict(string path, string configJson)
    {
        ArgumentNullException.ThrowIfNull(configJson);
        return FromFile(SafeTensors.Read(path), path, configJson);
    }

    /// <summary>As <see cref="LoadStateDict(string, string)"/>, from a seekable stream; <paramref name="name"/> is used in error messages.</summary>
    public static LoadedCheckpoint LoadStateDict(Stream stream, string name, string configJson)
    {
        ArgumentNullException.ThrowIfNull(configJson);
        return FromFile(SafeTensors.Read(stream, name), name, configJson);
    }

    // config: the configuration of a plain state_dict; null for a DigitParity checkpoint, which carries its own.
    private static LoadedCheckpoint FromFile(SafeTensorsFile file, string path, string? config)
    {
        file.Metadata.TryGetValue("format", out string? format);
        if (config is not null)
        {
            if (format is not null)
                throw new InvalidDataException($"{path}: a model of format {Untrusted.Quote(format)}, which carries its own configuration; load it without one");
            format = Format;
        }
        if (format is not null && format.StartsWith(FormatName, StringComparison.Ordinal)
            && int.TryParse(format.AsSpan(FormatName.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int version) && version > FormatVersion)
            throw new InvalidDataException($"{path}: written by a newer DigitParity (format {Untrusted.Quote(format)}); this version reads {Format}, upgrade DigitParity to load it");
        if (format != Format && format != FormatName + "1")
            throw new InvalidDataException($"{path}: format {Untrusted.Quote(format)}, expected a DigitParity model ({Format})");
        bool channelsLast = format != Format; // format 1: the CNN's fc1 read the pooled map as (h, w, c)
        var configuration = ParseConfig(path, config ?? file.Metadata.GetValueOrDefault("config"));
        // The configuration decides what is allocated: every tensor it implies must be in the file with its shape, and
        // every tensor of the file must have a place (a parameter, or an optimizer's state of one), before allocating.
        var names = file.Tensors.Select(t => t.Name).ToHashSet();
        var parameters = new HashSet<string>();
        foreach (var (name, shape) in configuration.TensorShapes())
        {
            string expected = string.Join(", ", shape);
            if (!names.Contains(name)) throw new InvalidDataException($"{path}: no tensor {name}, expected one of shape [{expected}]");
            if (!file[name].Shape.Select(d => (long)d).SequenceEqual(shape))
                throw new InvalidDataException($"{path}: tensor {name} of shape [{string.Join(", ", file[name].Shape)}], expected [{expected}] as the configuration says");
            parameters.Add(name);
        }
        foreach (var tensor in file.Tensors)
        {
            string name = tensor.Name;
            int dot = name.StartsWith(OptimizerPrefix, StringComparison.Ordinal) ? name.IndexOf('.', OptimizerPrefix.Length) : -1;
            if (!parameters.Contains(name) && !(dot > 0 && parameters.Contains(name[(dot + 1)..])))
                throw new InvalidDataException($"{path}: tensor {Untrusted.Quote(name)}, which the configuration has no place for; expected {string.Join(", ", parameters)} (and optimizer.STATE. before any of them)");
        }
        var network = new MultiTaskNetwork(configuration);
        // Optimizer state: tensors "optimizer.<state>.<parameter>", checked against the parameter's shape.
        var states = names.Where(n => n.StartsWith(OptimizerPrefix, StringComparison.Ordinal) && n.IndexOf('.', OptimizerPrefix.Length) > 0)
            .Select(n => n[OptimizerPrefix.Length..n.IndexOf('.', OptimizerPrefix.Length)]).Distinct().ToList();
        var optimizerState = states.ToDictionary(s => s, _ => new Dictionary<string, float[]>());
        foreach (var conv in network.Convolutions)
        {
            int[] shape = [conv.OutChannels, conv.InChannels, conv.Kernel, conv.Kernel];
            FromTorch(conv, Expect(path, file, conv.Weight.Name, shape)).CopyTo(network.Parameters.Value(conv.Weight));
            Expect(path, file, conv.Bias.Name, [conv.OutChannels]).CopyTo(network.Parameters.Value(conv.Bias));
            foreach (string state in states)
            {
                string prefix = OptimizerPrefix + state + ".";
                if (names.Contains(prefix + conv.Weight.Name)) optimizerState[state][conv.Weight.Name] = FromTorch(conv, Expect(path, file, prefix + conv.Weight.Name, shape));
                if (names.Contains(prefix + conv.Bias.Name)) optimizerState[state][conv.Bias.Name] = Expect(path, file, prefix + conv.Bias.Name, [conv.OutChannels]);
            }
        }
        foreach (var norm in network.NormTensors)
        {
            var values = Expect(path, file, norm.Name, norm.Shape);
            // A negative variance would make every answer NaN (its square root).
            if (norm.Name.EndsWith(".running_var", StringComparison.Ordinal) && Array.FindIndex(values, v => v < 0) is var negative and >= 0)
                throw new InvalidDataException($"{path}: tensor {norm.Name} holds {values[negative]} at index {negative}, expected variances of 0 or more");
            values.CopyTo(network.Parameters.Value(norm));
            foreach (string state in states)
                if (names.Contains(OptimizerPrefix + state + "." + norm.Name))
                    optimizerState[state][norm.Name] = Expect(path, file, OptimizerPrefix + state + "." + norm.Name, norm.Shape);
        }
        foreach (var layer in network.Trunk.Append(network.Heads))
        {
            foreach (var (tensor, parameter) in new[] { (layer.Weight.Name, layer.Weight), (layer.Bias.Name, layer.Bias) })
            {
                int[] shape = parameter == layer.Weight ? [layer.Out, layer.In] : [layer.Out];
                bool reorder = parameter == layer.Weight && !channelsLast && ReadsPooledMap(network, layer);
                var values = Expect(path, file, tensor, shape);
                if (reorder) values = FlattenOrder(network.Config, values, layer.Out, toTorch: false);
                if (parameter == layer.Weight) layer.WriteWeight(network.Parameters, Transpose(values, layer.Out, layer.In));
                else values.CopyTo(network.Parameters.Value(parameter));
                foreach (string state in states)
                {
                    if (!names.Contains(OptimizerPrefix + state + "." + tensor)) continue;
                    var moment = Expect(path, file, OptimizerPrefix + state + "." + tensor, shape);
                    optimizerState[state][tensor] = reorder ? FlattenOrder(network.Config, moment, layer.Out, toTorch: false) : moment;
                }
            }
        }
        if (file.Metadata.GetValueOrDefault(TemperaturesKey) is { } temperatures) network.SetTemperatures(ParseTemperatures(path, temperatures, network));
        if (file.Metadata.GetValueOrDefault(RejectionKey) is { } rejection)
        {
            if (!double.TryParse(rejection, NumberStyles.Float, CultureInfo.InvariantCulture, out double threshold) || !double.IsFinite(threshold))
                throw new InvalidDataException($"{path}: {RejectionKey} {Untrusted.Quote(rejection, 60)}, expected a finite number");
            network.RejectionThreshold = threshold;
        }
        return new LoadedCheckpoint(network, file.Metadata,
            optimizerState.ToDictionary(p => p.Key, p => (IReadOnlyDictionary<string, float[]>)p.Value));
    }

    // "digit=1.31,parity=1.12": one finite positive temperature per head, in head order.
    private static double[] ParseTemperatures(string path, string text, MultiTaskNetwork network)
    {
        string[] items = text.Split(',');
        var result = new double[network.Tasks.Count];
        bool valid = items.Length == result.Length;
        for (int t = 0; valid && t < result.Length; t++)
        {
            string[] pair = items[t].Split('=');
            valid = pair.Length == 2 && pair[0] == network.Tasks[t].Name
                && double.TryParse(pair[1], NumberStyles.Float, CultureInfo.InvariantCulture, out result[t]) && double.IsFinite(result[t]) && result[t] > 0;
        }
        if (!valid)
            throw new InvalidDataException($"{path}: temperatures {Untrusted.Quote(text, 160)}, expected {string.Join(",", network.Tasks.Select(t => t.Name + "=T"))} with every T finite and positive");
        return result;
    }

    /// <summary>The configuration as the <c>config</c> metadata JSON.</summary>
    internal static string ConfigJson(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return JsonSerializer.Serialize(new
        {
            input_size = config.InputSize,
            convolutions = config.Convolutions,
            kernel = config.Kernel,
            hidden = config.Hidden,
            dropout = config.Dropout,
            batch_norm = config.BatchNorm,
            tasks = config.Tasks.Select(t => t.Name == TaskDefinition.ClassTaskName
                ? (object)new { name = t.Name, classes = t.ClassCount, names = Enumerable.Range(0, t.ClassCount).Select(t.ClassName).ToArray() }
                : new { name = t.Name, classes = t.ClassCount }),
        });
    }

    private static ModelConfig ParseConfig(string path, string? json)
    {
        if (json is null) throw new InvalidDataException($"{path}: no config metadata, expected the model's configuration");
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            int inputs = root.GetProperty("input_size").GetInt32();
            int[] hidden = root.GetProperty("hidden").EnumerateArray().Select(h => h.GetInt32()).ToArray();
            // Written since the CNN; a model without them is an MLP.
            int[] convolutions = root.TryGetProperty("convolutions", out var c) ? c.EnumerateArray().Select(h => h.GetInt32()).ToArray() : [];
            int kernel = root.TryGetProperty("kernel", out var k) ? k.GetInt32() : 5;
            float dropout = root.TryGetProperty("dropout", out var d) ? d.GetSingle() : 0f;
            bool batchNorm = root.TryGetProperty("batch_norm", out var n) && n.GetBoolean();
            if (convolutions.Length > 8 || convolutions.Any(ch => ch < 1 || ch > 4096) || kernel is < 1 or > 32)
                throw new InvalidDataException($"{path}: configuration {Untrusted.Quote(json, 160)}, expected at most 8 convolutions of 1-4096 channels and a kernel of 1-32");
            var tasks = new List<TaskDefinition>();
            foreach (var task in root.GetProperty("tasks").EnumerateArray())
            {
                string name = task.GetProperty("name").GetString() ?? "";
                int classes = task.GetProperty("classes").GetInt32();
                if (name == TaskDefinition.ClassTaskName)
                {
                    string[] names = task.GetProperty("names").EnumerateArray().Select(n => n.GetString() ?? "").ToArray();
                    if (names.Length != classes || classes < 2 || classes > 100_000)
                        throw new InvalidDataException($"{path}: class head with {classes} classes and {names.Length} names, expected 2-100000 of each, equal");
                    tasks.Add(TaskDefinition.Classes(names));
                    continue;
                }
                var known = TaskDefinition.Find(name)
                    ?? throw new InvalidDataException($"{path}: task {Untrusted.Quote(name)}, expected one of {string.Join(", ", TaskDefinition.BuiltIn.Select(t => t.Name))}");
                if (known.ClassCount != classes) throw new InvalidDataException($"{path}: task {Untrusted.Quote(name)} with {classes} classes, expected {known.ClassCount}");
                tasks.Add(known);
            }
            if (inputs < 1 || inputs > 1 << 24 || hidden.Length == 0 || hidden.Any(h => h < 1 || h > 1 << 16) || tasks.Count == 0)
                throw new InvalidDataException($"{path}: configuration {Untrusted.Quote(json, 160)}, expected positive sizes within limits and at least one task");
            var config = new ModelConfig(inputs, hidden, tasks) { Convolutions = convolutions, Kernel = kernel, Dropout = dropout, BatchNorm = batchNorm };
            if (config.Problem() is { } problem) throw new InvalidDataException($"{path}: configuration {Untrusted.Quote(json, 160)}: {problem}");
            // A model must be usable: predicting a batch of 256 images (Predictor's default) must fit the working-memory limit.
            if (config.BatchProblem(256, 1) is { } memory) throw new InvalidDataException($"{path}: configuration {Untrusted.Quote(json, 160)}: {memory}");
            return config;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: configuration {Untrusted.Quote(json, 160)}, expected {{\"input_size\":...,\"hidden\":[...],\"tasks\":[...]}} ({Untrusted.Quote(e.Message.TrimEnd('.'), 160)})");
        }
    }

    private static IEnumerable<NamedTensor> Tensors(MultiTaskNetwork network, ReadOnlySpan<float> values, Linear layer, string prefix)
    {
        float[] weight = Transpose(layer.ReadWeight(values), layer.In, layer.Out);
        if (ReadsPooledMap(network, layer)) weight = FlattenOrder(network.Config, weight, layer.Out, toTorch: true);
        float[] bias = values.Slice(layer.Bias.Offset, layer.Bias.Length).ToArray();
        return
        [
            new NamedTensor(prefix + layer.Weight.Name, [layer.Out, layer.In], weight),
            new NamedTensor(prefix + layer.Bias.Name, [layer.Out], bias),
        ];
    }

    // The first fully connected layer of a CNN, which reads the last pooled map.
    private static bool ReadsPooledMap(MultiTaskNetwork network, Linear layer) => network.Convolutions.Count > 0 && layer == network.Trunk[0];

    /// <summary>
    /// Reorders the columns of a CNN's first fully connected weight, (out, side·side·channels) row-major, between our
    /// flatten order of the pooled map, channels-last (h, w, c), and PyTorch's <c>flatten(1)</c> of an (N, C, H, W)
    /// map, (c, h, w): to PyTorch's when <paramref name="toTorch"/>, back otherwise.
    /// </summary>
    internal static float[] FlattenOrder(ModelConfig config, float[] weight, int rows, bool toTorch)
    {
        var (side, channels) = config.Stages()[^1];
        int pixels = side * side, cols = pixels * channels;
        var result = new float[weight.Length];
        for (int r = 0; r < rows; r++)
            for (int p = 0; p < pixels; p++)
                for (int c = 0; c < channels; c++)
                {
                    int ours = r * cols + p * channels + c, torch = r * cols + c * pixels + p;
                    if (toTorch) result[torch] = weight[ours];
                    else result[ours] = weight[torch];
                }
        return result;
    }

    // Batch norms' tensors are plain (C) vectors, as BatchNorm2d holds them (without its num_batches_tracked).
    private static IEnumerable<NamedTensor> NormTensors(MultiTaskNetwork network, ReadOnlySpan<float> values, string prefix)
    {
        var tensors = new List<NamedTensor>();
        foreach (var tensor in network.NormTensors) tensors.Add(new NamedTensor(prefix + tensor.Name, tensor.Shape, values.Slice(tensor.Offset, tensor.Length).ToArray()));
        return tensors;
    }

    // Convolution weights are stored as PyTorch's Conv2d weight, (OC, C, K, K).
    private static IEnumerable<NamedTensor> Tensors(ReadOnlySpan<float> values, Conv2d conv, string prefix) =>
    [
        new NamedTensor(prefix + conv.Weight.Name, [conv.OutChannels, conv.InChannels, conv.Kernel, conv.Kernel], conv.ReadTorchWeight(values)),
        new NamedTensor(prefix + conv.Bias.Name, [conv.OutChannels], values.Slice(conv.Bias.Offset, conv.Bias.Length).ToArray()),
    ];

    private static float[] FromTorch(Conv2d conv, float[] torch)
    {
        var w = new float[torch.Length];
        conv.WriteTorchWeight(torch, w);
        return w;
    }

    // A tensor known to be in the file (parameters were checked against the configuration; optimizer states are looked
    // up first): its shape, then its values.
    private static float[] Expect(string path, SafeTensorsFile file, string tensor, int[] shape)
    {
        var found = file[tensor];
        if (!found.Shape.SequenceEqual(shape))
            throw new InvalidDataException($"{path}: tensor {tensor} of shape [{string.Join(", ", found.Shape)}], expected [{string.Join(", ", shape)}] as the configuration says");
        // A NaN or infinite weight would make every answer NaN: refuse the file, naming the tensor.
        if (!AllFinite(found.Data, out int bad)) throw new InvalidDataException($"{path}: tensor {tensor} holds {found.Data[bad]} at index {bad}, expected finite values");
        return found.Data;
    }

    private static bool AllFinite(float[] values, out int index)
    {
        for (index = 0; index < values.Length; index++)
            if (!float.IsFinite(values[index])) return false;
        index = -1;
        return true;
    }

    // (rows, cols) row-major -> (cols, rows) row-major.
    internal static float[] Transpose(float[] values, int rows, int cols)
    {
        var result = new float[values.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) result[c * rows + r] = values[r * cols + c];
        return result;
    }
}
