using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace DigitParity.Data;

/// <summary>A dataset with every task's label derived once, up front (not per sample in the batch loop).</summary>
public sealed class LabeledDataset
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
        for (int b = 0; b < indices.Length; b++) ToUnitFloats(Data.Image(indices[b]), x.Slice(b * features, features));
    }

    /// <summary>
    /// destination[i] = source[i] / 255, bit for bit the correctly rounded division, in one vectorised pass.
    /// A vector division costs ~10 cycles, so the quotient is q = x·(1/255) refined once with the exact residual
    /// x − 255q (one fma); a test checks all 256 byte values against <c>b / 255f</c>.
    /// </summary>
    public static void ToUnitFloats(ReadOnlySpan<byte> source, Span<float> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("destination is shorter than source.", nameof(destination));
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var divisor = Vector512.Create(255f);
            var reciprocal = Vector512.Create(1f / 255f);
            for (; i + 16 <= source.Length; i += 16)
            {
                var bytes = Vector128.Create(source.Slice(i, 16));
                var x = Vector512.ConvertToSingle(Vector512.WidenLower(Vector256.WidenLower(bytes.ToVector256()).ToVector512()).AsInt32());
                var q = x * reciprocal;
                var residual = Vector512.FusedMultiplyAdd(-q, divisor, x);
                Vector512.FusedMultiplyAdd(residual, reciprocal, q).CopyTo(destination[i..]);
            }
        }
        for (; i < source.Length; i++) destination[i] = source[i] / 255f;
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
