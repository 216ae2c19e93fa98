using DigitParity.Engine;

namespace DigitParity.Model;

/// <summary>Every buffer a forward/backward pass needs, sized once for a maximum batch.</summary>
internal sealed class Workspace
{
    internal Workspace(MultiTaskNetwork network, int maxBatch, bool training = true, int workers = 1, bool privateInputs = false,
        bool? listRows = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        var config = network.Config;
        if (config.BatchProblem(maxBatch, workers) is { } problem) throw new ArgumentException(problem, nameof(maxBatch));
        MaxBatch = maxBatch;
        Training = training;
        Workers = workers;
        Input = new FloatBuffer(checked(maxBatch * config.InputSize));
        Stages = network.Convolutions.Select((conv, l) => conv.CreateBuffers(maxBatch, training, workers, l, config.BatchNorm)).ToArray();
        // fc1 passes an input gradient on only behind convolutions; the layers above it compute theirs row by row,
        // each worker from its own Wᵀ (see MultiTaskNetwork.Backward).
        var layers = network.Trunk.Append(network.Heads).ToArray();
        Layers = layers.Select((layer, l) => layer.CreateBuffers(maxBatch, l > 0 ? workers : Stages.Length > 0 ? 1 : 0)).ToArray();
        Features = Stages.Length > 0 ? Stages[^1].Normalized : Input;
        // Workers with their own copy of x also index all of it themselves (see InputMasksOf).
        bool privateIndex = Stages.Length == 0 && privateInputs;
        int indexCopies = privateIndex ? workers : 1;
        int features = config.FeatureSize;
        _maskLength = maxBatch * ActiveDepth.MaskWords(features);
        _tileMaskLength = ActiveDepth.TileWords(features) * ActiveDepth.TileStride(maxBatch);
        InputMasks = new ulong[_maskLength * indexCopies];
        InputTileMasks = new ulong[_tileMaskLength * indexCopies];
        WorkerPixels = privateIndex ? Enumerable.Range(0, workers).Select(_ => new byte[maxBatch * config.InputSize]).ToArray() : [];
        bool listsRows = !training && Stages.Length == 0 && (listRows ?? SparseRowsPay(maxBatch));
        // A row's list has room for the widest trunk input: the features, or a hidden layer wider than them.
        InputLists = listsRows ? new int[maxBatch * Math.Max(features, config.Hidden.Max())] : [];
        InputCounts = listsRows ? new int[maxBatch] : [];
        RowLosses = new double[maxBatch * config.Tasks.Count];
        Labels = config.Tasks.Select(_ => new int[maxBatch]).ToArray();
        Predictions = config.Tasks.Select(_ => new int[maxBatch]).ToArray();
    }

    /// <summary>Set by the trainer for each training step when the model has dropout: the key of that step's drops; null: no dropout.</summary>
    internal ulong? DropoutKey { get; set; }

    // Whether the backward pass's buffers exist (and the forward must keep what it reads).
    internal bool Training { get; }

    /// <summary>Largest batch these buffers hold.</summary>
    public int MaxBatch { get; }

    /// <summary>
    /// One copy of the batch's pixel bytes per worker when every worker gathers the whole batch itself (an MLP trained
    /// without augmentation): each worker's fc1 then reads an x in its own core's cache,
    /// instead of the half of x another core just wrote (measured: fc1's forward product 84 instead of
    /// 112 µs a step), and as bytes, whose value fc1's products look up (UnitFloats.ByteValues): a quarter of the
    /// memory of floats to write and read. Empty otherwise: the workers share <see cref="Input"/>.
    /// </summary>
    internal byte[][] WorkerPixels { get; }

    /// <summary>Worker <paramref name="worker"/>'s copy of the batch's pixels (see <see cref="WorkerPixels"/>); empty without one.</summary>
    internal Span<byte> PixelsOf(int worker) => PrivateIndex ? WorkerPixels[worker] : default;

    /// <summary>x: (B, InputSize).</summary>
    public FloatBuffer Input { get; }

    /// <summary>The trunk's input: <see cref="Input"/> for an MLP, the last stage's (normalized) pooled output (B, FeatureSize) after convolutions.</summary>
    public FloatBuffer Features { get; }

    // The worker count the buffers were sized for (which weight gradients split by panels, StepSchedule.SplitsPanels).
    internal int Workers { get; }

    /// <summary>Per convolution stage, its buffers.</summary>
    internal Conv2dBuffers[] Stages { get; }

    /// <summary>Per fully connected layer (the trunk's, then the heads), its buffers.</summary>
    internal LinearBuffers[] Layers { get; }

    /// <summary>All heads' logits: (B, HeadWidth).</summary>
    public FloatBuffer Logits => Layers[^1].Output;

    /// <summary>Gradient of the loss with respect to <see cref="Logits"/>.</summary>
    internal FloatBuffer LogitGradients => Layers[^1].OutputGradient;


    private readonly int _maskLength, _tileMaskLength;

    /// <summary>Per input row, a bit per non-zero input (see ActiveDepth.NonZeroMasks); one table per worker with private inputs.</summary>
    internal ulong[] InputMasks { get; }

    /// <summary>
    /// Whether each worker indexes the whole batch into tables of its own (it gathered all of x itself, and copies the
    /// masks from the dataset's ImageMasks): then no worker waits for another's rows before fc1, and fc1's products read
    /// no mask written by the other core.
    /// </summary>
    internal bool PrivateIndex => WorkerPixels.Length > 0;

    /// <summary>The row masks worker <paramref name="worker"/> reads and writes (everyone's shared table unless <see cref="PrivateIndex"/>).</summary>
    internal Span<ulong> InputMasksOf(int worker) => InputMasks.AsSpan(PrivateIndex ? worker * _maskLength : 0, _maskLength);

    /// <summary>The tile masks worker <paramref name="worker"/> reads and writes (as <see cref="InputMasksOf"/>).</summary>
    internal Span<ulong> InputTileMasksOf(int worker) => InputTileMasks.AsSpan(PrivateIndex ? worker * _tileMaskLength : 0, _tileMaskLength);

    /// <summary>
    /// Whether a prediction's fc1 over pixels visits each row's own non-zero inputs (<see cref="Linear.ForwardSparseRows"/>)
    /// rather than those of its 5-row tile: an MNIST digit has 142 non-zero pixels on average, a tile of five 317. The
    /// rows' product is bound by reading W from L2 (one load per fused multiply-add), which a tile's five rows share. On
    /// AVX2 the rows win at every batch (fc1 of 1000 test images, one thread, Zen 3: 1.35 against 1.74 µs an image). On
    /// AVX-512 the rows go in pairs over the union of their lists (220 pixels), sharing each weight row between two, and
    /// win below batches of 512 (the tutorial MLP, one thread, Zen 4, whole predictions: 1.40 against 2.1 µs an image
    /// at batch 1, 1.01-1.05 against 1.19-1.21 at 256); at 1000 the rows' floats no longer stay in L2, and the tiles,
    /// which read the pixels' bytes, are as fast or faster.
    /// </summary>
    internal static bool SparseRowsPay(int maxBatch) => Gemm.BestIsa != GemmIsa.Avx512 || maxBatch < 512;

    /// <summary>The ε of the loss's smoothed targets (0, plain cross-entropy, unless a training run sets it).</summary>
    internal float LabelSmoothing { get; set; }

    /// <summary>Per input row of a prediction's MLP, the non-zero inputs of the trunk layer being run, ascending (see <see cref="ListsRows"/>).</summary>
    internal int[] InputLists { get; }

    /// <summary>Entries of <see cref="InputLists"/> a row (the widest trunk input): every trunk layer's lists of row b start at b · ListStride.</summary>
    internal int ListStride => InputCounts.Length > 0 ? InputLists.Length / InputCounts.Length : 0;

    /// <summary>Lists row <paramref name="b"/>'s non-zero inputs, <paramref name="row"/>, into its <see cref="InputLists"/> and <see cref="InputCounts"/>.</summary>
    internal void ListRow(int b, ReadOnlySpan<float> row) => InputCounts[b] = SparseRows.ListNonZero(row, InputLists.AsSpan(b * ListStride, ListStride));

    /// <summary>As <see cref="ListRow(int, ReadOnlySpan{float})"/>, from the row's pixel bytes.</summary>
    internal void ListRow(int b, ReadOnlySpan<byte> pixels) => InputCounts[b] = SparseRows.ListNonZero(pixels, InputLists.AsSpan(b * ListStride, ListStride));

    /// <summary>Per input row, how many entries of <see cref="InputLists"/> it has.</summary>
    internal int[] InputCounts { get; }

    /// <summary>Whether the trunk runs row by row over <see cref="InputLists"/>: each worker then reads only its own rows.</summary>
    internal bool ListsRows => InputCounts.Length > 0;

    /// <summary>Per input row, a bit per tile of 5 inputs with a non-zero (see ActiveDepth.TileMasks).</summary>
    internal ulong[] InputTileMasks { get; }

    /// <summary>Per sample and task, the cross-entropy after <c>Loss</c>: (B, tasks).</summary>
    internal double[] RowLosses { get; }

    /// <summary>Per task: the batch's labels.</summary>
    public int[][] Labels { get; }

    /// <summary>Per task: the argmax of each sample's logits after a forward pass.</summary>
    public int[][] Predictions { get; }
}
