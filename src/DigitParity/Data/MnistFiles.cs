namespace DigitParity.Data;

/// <summary>Finds and loads the four standard MNIST IDX files, raw or gzip.</summary>
public static class MnistFiles
{
    /// <summary>Standard base names of the four files.</summary>
    internal static readonly string[] BaseNames =
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

    /// <summary>Loads the training and test sets from <paramref name="directory"/>.</summary>
    public static DataSplits Load(string directory, int classCount = 10)
    {
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"{directory}: directory not found, expected a directory holding the four MNIST IDX files");
        string[] paths = BaseNames.Select(name => Find(directory, name)).ToArray();
        var train = Dataset.Load(paths[0], paths[1], classCount);
        var test = Dataset.Load(paths[2], paths[3], classCount);
        if (train.Rows != test.Rows || train.Columns != test.Columns)
            throw new InvalidDataException($"{paths[2]}: images of {test.Rows}x{test.Columns}, expected {train.Rows}x{train.Columns} like the training images");
        return new DataSplits(train, test);
    }

    /// <summary>Loads only the test set (the t10k files) from <paramref name="directory"/>: what evaluating a model needs.</summary>
    public static Dataset LoadTest(string directory, int classCount = 10)
    {
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"{directory}: directory not found, expected a directory holding the MNIST t10k IDX files");
        return Dataset.Load(Find(directory, BaseNames[2]), Find(directory, BaseNames[3]), classCount);
    }

    /// <summary>The directory of the MNIST copy that ships beside the program.</summary>
    public static string EmbeddedDirectory => Path.Combine(AppContext.BaseDirectory, "data", "mnist");

    private static string Find(string directory, string baseName)
    {
        string raw = Path.Combine(directory, baseName);
        if (File.Exists(raw)) return raw;
        if (File.Exists(raw + ".gz")) return raw + ".gz";
        throw new FileNotFoundException($"{directory}: no {baseName} or {baseName}.gz, expected the four MNIST IDX files ({string.Join(", ", BaseNames)})");
    }
}

/// <summary>The training set and the test set of one directory.</summary>
/// <param name="Train">The training images (a validation set, when one is wanted, is held out of these).</param>
/// <param name="Test">The test images (t10k).</param>
public sealed record DataSplits(Dataset Train, Dataset Test);
