using System.Runtime.Intrinsics.X86;
using System.Runtime.Intrinsics;
using DigitParity.Engine;
using DigitParity.Tasks;

namespace DigitParity.Data;

/// <summary>A dataset with every task's label derived once, up front (not per sample in the batch loop).</summary>
internal sealed class LabeledDataset
{
    /// <summary>Derives the labels of <paramref name="tasks"/> for every sample of <paramref name="data"/>.</summary>
    public LabeledDataset(Dataset data, IReadOnlyList<TaskDefinition> tasks)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(tasks);
        Data = data;
        Tasks = tasks;
        Labels = new int[tasks.Count][];
        for (int t = 0; t < tasks.Count; t++)
        {
            var task = tasks[t];
            // Derive through a per-class table: one call of LabelOf per class, not per sample.
            int classes = data.Labels.Length == 0 ? 0 : data.Labels.Max() + 1;
            var table = new int[classes];
            for (int c = 0; c < classes; c++)
            {
                table[c] = task.LabelOf(c);
                if ((uint)table[c] >= (uint)task.ClassCount)
                    throw new ArgumentException($"Task {task.Name} maps class {c} to {table[c]}, expected a label in 0-{task.ClassCount - 1}.", nameof(tasks));
            }
            var labels = new int[data.Count];
            for (int i = 0; i < labels.Length; i++) labels[i] = table[data.Labels[i]];
            Labels[t] = labels;
        }
    }

    /// <summary>The images and class labels.</summary>
    public Dataset Data { get; }

    /// <summary>The tasks whose labels were derived.</summary>
    public IReadOnlyList<TaskDefinition> Tasks { get; }

    /// <summary>Per task, the label of every sample.</summary>
    public int[][] Labels { get; }

    /// <summary>Number of samples.</summary>
    public int Count => Data.Count;

    /// <summary>
    /// Copies samples <paramref name="indices"/> into a batch: x (B, features) = pixel / 255, and each task's labels.
    /// </summary>
    public void Gather(ReadOnlySpan<int> indices, Span<float> x, int[][] labels)
    {
        GatherPixels(indices, x);
        GatherLabels(indices, labels);
    }

    /// <summary>x (B, features) = pixel / 255 for samples <paramref name="indices"/>.</summary>
    public void GatherPixels(ReadOnlySpan<int> indices, Span<float> x)
    {
        int features = Data.FeatureCount;
        if (x.Length < indices.Length * features) throw new ArgumentException("x is too small for the batch.", nameof(x));
        for (int b = 0; b < indices.Length; b++) UnitFloats.FromBytes(Data.Image(indices[b]), x.Slice(b * features, features));
    }

    /// <summary>
    /// Pixel bytes of samples <paramref name="indices"/> as they are, (B, features), and unless <paramref name="masks"/> is
    /// empty each row's non-zero mask at <c>masks[b · maskWords ..]</c>: a batch for products that read each byte's value
    /// from <see cref="UnitFloats.ByteValues"/> (a quarter of the memory a float batch writes and reads).
    /// </summary>
    public void GatherPixelBytes(ReadOnlySpan<int> indices, Span<byte> pixels, Span<ulong> masks, int maskWords)
    {
        int features = Data.FeatureCount;
        if (pixels.Length < indices.Length * features) throw new ArgumentException("pixels is too small for the batch.", nameof(pixels));
        if (!masks.IsEmpty && (maskWords < (features + 63) / 64 || masks.Length < (long)indices.Length * maskWords))
            throw new ArgumentException("masks is too small for the batch.", nameof(masks));
        for (int b = 0; b < indices.Length; b++)
        {
            ReadOnlySpan<byte> image = Data.Image(indices[b]);
            image.CopyTo(pixels.Slice(b * features, features));
            if (!masks.IsEmpty) ActiveDepth.ByteRowMask(image, masks.Slice(b * maskWords, maskWords));
        }
    }

    /// <summary>
    /// Asks the processor to start loading the pixels of samples <paramref name="indices"/> into its cache, so that
    /// gathering a shuffled batch next step finds them there instead of waiting on memory for each image.
    /// </summary>
    public unsafe void Prefetch(ReadOnlySpan<int> indices)
    {
        if (!Sse.IsSupported) return;
        int features = Data.FeatureCount;
        fixed (byte* pixels = Data.Pixels)
        {
            foreach (int index in indices)
            {
                byte* image = pixels + (long)index * features;
                for (int offset = 0; offset < features; offset += 64) Sse.Prefetch1(image + offset);
            }
        }
    }

    /// <summary>Each task's labels of samples <paramref name="indices"/>.</summary>
    public void GatherLabels(ReadOnlySpan<int> indices, int[][] labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        for (int t = 0; t < Labels.Length; t++)
        {
            int[] source = Labels[t], target = labels[t];
            for (int b = 0; b < indices.Length; b++) target[b] = source[indices[b]];
        }
    }
}
