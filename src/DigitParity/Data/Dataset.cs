namespace DigitParity.Data;

/// <summary>
/// Images as bytes plus their class labels. Pixels stay as bytes (a quarter of the memory of floats)
/// and become <c>pixel / 255</c> floats only when a batch is gathered.
/// </summary>
public sealed class Dataset
{
    /// <summary>Creates a dataset; <paramref name="pixels"/> holds <c>count × featureCount</c> bytes.</summary>
    public Dataset(byte[] pixels, byte[] labels, int rows, int columns)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        if ((long)labels.Length * rows * columns != pixels.Length)
            throw new ArgumentException($"{pixels.Length} pixels do not hold {labels.Length} images of {rows}x{columns}.", nameof(pixels));
        Pixels = pixels;
        Labels = labels;
        Rows = rows;
        Columns = columns;
    }

    /// <summary>Pixels of all images, (Count, Rows, Columns).</summary>
    internal byte[] Pixels { get; }

    /// <summary>Class (digit) label of each image.</summary>
    internal byte[] Labels { get; }

    /// <summary>Image height.</summary>
    public int Rows { get; }

    /// <summary>Image width.</summary>
    public int Columns { get; }

    /// <summary>Number of images.</summary>
    public int Count => Labels.Length;

    /// <summary>Inputs per image (Rows × Columns; 784 for MNIST).</summary>
    public int FeatureCount => Rows * Columns;

    /// <summary>Pixels of image <paramref name="index"/>.</summary>
    public ReadOnlySpan<byte> Image(int index) => Pixels.AsSpan(index * FeatureCount, FeatureCount);

    /// <summary>The first <paramref name="count"/> images (shares no storage with this dataset).</summary>
    public Dataset Take(int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, Count);
        return new Dataset(Pixels.AsSpan(0, count * FeatureCount).ToArray(), Labels.AsSpan(0, count).ToArray(), Rows, Columns);
    }

    /// <summary>The samples <paramref name="indices"/>, in that order (shares no storage with this dataset).</summary>
    internal Dataset Select(ReadOnlySpan<int> indices)
    {
        var pixels = new byte[indices.Length * FeatureCount];
        var labels = new byte[indices.Length];
        for (int i = 0; i < indices.Length; i++)
        {
            Image(indices[i]).CopyTo(pixels.AsSpan(i * FeatureCount));
            labels[i] = Labels[indices[i]];
        }
        return new Dataset(pixels, labels, Rows, Columns);
    }

    /// <summary>
    /// Every image moved <paramref name="dx"/> pixels right and <paramref name="dy"/> down (either may be negative),
    /// the pixels moved in black (0) and those moved out dropped; the same labels (shares no storage with this dataset).
    /// </summary>
    internal Dataset Shifted(int dx, int dy)
    {
        var pixels = new byte[Pixels.Length];
        for (int i = 0; i < Count; i++)
        {
            var image = Image(i);
            var shifted = pixels.AsSpan(i * FeatureCount, FeatureCount);
            for (int y = Math.Max(0, dy); y < Math.Min(Rows, Rows + dy); y++)
            {
                int x0 = Math.Max(0, dx), x1 = Math.Min(Columns, Columns + dx);
                if (x1 > x0) image.Slice((y - dy) * Columns + x0 - dx, x1 - x0).CopyTo(shifted.Slice(y * Columns + x0, x1 - x0));
            }
        }
        return new Dataset(pixels, Labels.ToArray(), Rows, Columns);
    }

    /// <summary>
    /// Holds out a seeded random <paramref name="fraction"/> of the samples: (the rest, the held-out part), each in
    /// the original order. The same seed always holds out the same samples.
    /// </summary>
    internal (Dataset Kept, Dataset HeldOut) Split(double fraction, ulong seed)
    {
        if (!(fraction > 0 && fraction < 1)) throw new ArgumentOutOfRangeException(nameof(fraction), $"A hold-out fraction must be in (0, 1) (got {fraction}).");
        int heldOut = (int)Math.Round(Count * fraction);
        if (heldOut < 1 || heldOut >= Count) throw new ArgumentOutOfRangeException(nameof(fraction), $"{fraction} of {Count} samples leaves an empty part.");
        int[] order = Enumerable.Range(0, Count).ToArray();
        new Engine.Rng(seed, stream: 3).Shuffle(order);
        int[] hold = order[..heldOut], rest = order[heldOut..];
        Array.Sort(hold);
        Array.Sort(rest);
        return (Select(rest), Select(hold));
    }

    /// <summary>Reads an image file and its label file (gzip through <see cref="DecodedCache"/>) and checks that they belong together.</summary>
    public static Dataset Load(string imagesPath, string labelsPath, int classCount = 10)
    {
        var images = DecodedCache.Read(imagesPath, IdxReader.ReadImages);
        var labels = DecodedCache.Read(labelsPath, (stream, name) => IdxReader.ReadLabels(stream, name, classCount));
        if (labels.Length != images.Count)
            throw new InvalidDataException($"{labelsPath}: {labels.Length} labels, expected {images.Count} to match the images in {imagesPath}");
        return new Dataset(images.Pixels, labels, images.Rows, images.Columns);
    }
}
