using System.CommandLine;
using System.Globalization;
using DigitParity.Checkpoints;
using DigitParity.Data;
using DigitParity.Model;

namespace DigitParity.Cli;

/// <summary>Options several commands share, and the checks of their values.</summary>
internal static class CommandOptions
{
    /// <summary>The <c>--model PATH</c> option of the commands that use a saved model (default: the shipped CNN).</summary>
    public static Option<string?> ModelOption(string purpose) => new("--model")
    {
        Description = $"The model to {purpose} (a .safetensors file written by train) [default: the shipped CNN, models/cnn.safetensors]",
        HelpName = "PATH",
    };

    /// <summary>The path of <c>--model</c>, or of the shipped CNN when none is given, which <paramref name="notice"/> is told in one line.</summary>
    public static string ModelPath(ParseResult parse, Option<string?> model, TextWriter notice)
    {
        if (parse.GetValue(model) is { } path) return path;
        notice.WriteLine($"No --model given: using the shipped CNN ({Checkpoint.ShippedModelPath})");
        return Checkpoint.ShippedModelPath;
    }

    /// <summary><c>--config FILE</c>: the configuration of a model file that is a plain PyTorch state_dict.</summary>
    public static Option<string?> ConfigOption() => new("--config")
    {
        Description = "For a model that is a plain PyTorch state_dict (safetensors without DigitParity's metadata): the network's configuration as JSON, e.g. {\"input_size\":784,\"hidden\":[128,64],\"tasks\":[{\"name\":\"digit\",\"classes\":10},{\"name\":\"parity\",\"classes\":2}]}",
        HelpName = "FILE",
    };

    /// <summary>Most bytes of a <c>--config</c> file: 1 MiB.</summary>
    public const int MaxConfigBytes = 1 << 20;

    /// <summary>The text of a <c>--config</c> file, or null when none is given.</summary>
    public static string? ConfigText(string? path) =>
        path is null ? null : System.Text.Encoding.UTF8.GetString(IO.InputFile.ReadAll(path, MaxConfigBytes, "a configuration JSON file"));

    /// <summary>The model at <paramref name="path"/>: a DigitParity checkpoint, or with <c>--config</c> a plain state_dict.</summary>
    public static LoadedCheckpoint Load(ParseResult parse, Option<string?> config, string path) =>
        ConfigText(parse.GetValue(config)) is { } json ? Checkpoint.LoadStateDict(path, json) : Checkpoint.Load(path);

    /// <summary>The test images (t10k) of <paramref name="dataDirectory"/> (default: the embedded MNIST), checked to fit the model from <paramref name="modelPath"/>.</summary>
    public static Dataset TestSet(string? dataDirectory, MultiTaskNetwork network, string modelPath)
    {
        string directory = dataDirectory ?? MnistFiles.EmbeddedDirectory;
        var test = MnistFiles.LoadTest(directory, network.Tasks[0].ClassCount);
        if (test.FeatureCount != network.Config.InputSize)
            throw new InvalidDataException($"{directory}: images of {test.FeatureCount} pixels, expected {network.Config.InputSize} as {modelPath} was trained on");
        return test;
    }

    /// <summary><c>--data DIR</c> of the commands that use a dataset's test files.</summary>
    public static Option<string?> TestDataOption() => new("--data")
    {
        Description = "Directory with the four MNIST IDX files; the t10k files are used [default: the embedded MNIST]",
        HelpName = "DIR",
    };

    /// <summary><c>--threads N</c> (1-256, default: every core) of the commands that evaluate a saved model.</summary>
    public static Option<int> ThreadsOption()
    {
        var threads = new Option<int>("--threads") { Description = "Worker threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        threads.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() is < 1 or > 256) result.AddError($"--threads must be in 1-256 (got {result.GetValueOrDefault<int>()})");
        });
        return threads;
    }
}

/// <summary>Validators and parsers of option values: each problem becomes one parse error naming the option.</summary>
internal static class OptionRules
{
    public static void AtLeast(Option<int> option, int minimum) => Require(option, v => v >= minimum, $"at least {minimum}");

    public static void Require<T>(Option<T> option, Func<T, bool> valid, string expected)
        => option.Validators.Add(result =>
        {
            T value;
            try
            {
                value = result.GetValueOrDefault<T>();
            }
            catch (InvalidOperationException)
            {
                return; // not a T at all: the parser reports that itself
            }
            if (!valid(value)) result.AddError(string.Create(CultureInfo.InvariantCulture, $"{option.Name} must be {expected} (got {value})"));
        });

    /// <summary>Accepts only "N,N,..." with every N in 1-<paramref name="max"/>.</summary>
    public static void Sizes(Option<string?> option, int max)
        => option.Validators.Add(result =>
        {
            string? text = result.GetValueOrDefault<string?>();
            if (text is null) return;
            foreach (string item in text.Split(',', StringSplitOptions.TrimEntries))
                if (!int.TryParse(item, NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v < 1 || v > max)
                {
                    result.AddError($"{option.Name} {text} is not a comma-separated list of sizes in 1-{max}");
                    return;
                }
        });

    /// <summary>"N,N,..." as numbers (validated by <see cref="Sizes"/>).</summary>
    public static int[] ParseSizes(string text) => text.Split(',', StringSplitOptions.TrimEntries).Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray();

    /// <summary>"NAME=W" with W a finite number at least 0, or null.</summary>
    public static (string Name, float Weight)? ParseWeight(string item)
    {
        int at = item.IndexOf('=');
        if (at <= 0 || !float.TryParse(item[(at + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out float weight)
            || !float.IsFinite(weight) || weight < 0) return null;
        return (item[..at], weight);
    }
}
