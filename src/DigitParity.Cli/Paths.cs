namespace DigitParity.Cli;

/// <summary>Checks on output paths, made before any long work starts.</summary>
internal static class Paths
{
    /// <summary>Fails now, not after the work, when <paramref name="path"/> cannot receive <paramref name="what"/>.</summary>
    public static void CheckWritable(string path, string what)
    {
        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is null || !Directory.Exists(directory))
            throw new DirectoryNotFoundException($"{path}: directory {directory} does not exist, expected a writable location for {what}");
        if (Directory.Exists(path))
            throw new IOException($"{path}: is a directory, expected a file name for {what}");
    }

    /// <summary>Fails now when <paramref name="path"/> cannot become a directory for <paramref name="what"/>; creates it.</summary>
    public static void CheckDirectory(string path, string what)
    {
        if (File.Exists(path))
            throw new IOException($"{path}: is a file, expected a directory for {what}");
        Directory.CreateDirectory(path);
    }

    /// <summary>The required <c>--model PATH</c> option of the commands that use a saved model.</summary>
    public static System.CommandLine.Option<string> ModelOption(string purpose) => new("--model")
    {
        Description = $"The model to {purpose} (a .safetensors file written by train)",
        HelpName = "PATH",
        Required = true,
    };

    /// <summary>The test images (t10k) of <paramref name="dataDirectory"/> (default: the embedded MNIST), checked to fit the model from <paramref name="modelPath"/>.</summary>
    public static DigitParity.Data.Dataset TestSet(string? dataDirectory, DigitParity.Model.MultiTaskNetwork network, string modelPath)
    {
        string directory = dataDirectory ?? DigitParity.Data.MnistFiles.EmbeddedDirectory;
        var test = DigitParity.Data.MnistFiles.Load(directory, network.Tasks[0].ClassCount).Validation;
        if (test.FeatureCount != network.Config.InputSize)
            throw new InvalidDataException($"{directory}: images of {test.FeatureCount} pixels, expected {network.Config.InputSize} as {modelPath} was trained on");
        return test;
    }

    /// <summary><c>--data DIR</c> of the commands that use a dataset's test files.</summary>
    public static System.CommandLine.Option<string?> TestDataOption() => new("--data")
    {
        Description = "Directory with the four MNIST IDX files; the t10k files are used [default: the embedded MNIST]",
        HelpName = "DIR",
    };

    /// <summary><c>--threads N</c> (1-256, default: every core) of the commands that evaluate a saved model.</summary>
    public static System.CommandLine.Option<int> ThreadsOption()
    {
        var threads = new System.CommandLine.Option<int>("--threads") { Description = "Worker threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        threads.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() is < 1 or > 256) result.AddError($"--threads must be in 1-256 (got {result.GetValueOrDefault<int>()})");
        });
        return threads;
    }
}
