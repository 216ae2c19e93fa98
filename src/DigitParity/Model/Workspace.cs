using DigitParity.Engine;

namespace DigitParity.Model;

/// <summary>Every buffer a forward/backward pass needs, sized once for a maximum batch.</summary>
public sealed class Workspace
{
    internal Workspace(MultiTaskNetwork network, int maxBatch, bool training = true, int workers = 1, bool privateInputs = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        var config = network.Config;
        MaxBatch = maxBatch;
        Training = training;
        Input = new FloatBuffer(maxBatch * config.InputSize);
        Activations = config.Hidden.Select(h => new FloatBuffer(maxBatch * h)).ToArray();
        ActivationGradients = config.Hidden.Select(h => new FloatBuffer(maxBatch * h)).ToArray();
        Logits = new FloatBuffer(maxBatch * config.HeadWidth);
        LogitGradients = new FloatBuffer(maxBatch * config.HeadWidth);
        // Transposed weights for dx = dy·Wᵀ: trunk layers 1.. and the heads (slot Trunk.Count); fc1 needs no dx.
        TransposedWeights = new FloatBuffer[config.Hidden.Count + 1];
        // fc1 computes dx only behind convolutions.
        TransposedWeights[0] = new FloatBuffer(network.Convolutions.Count > 0 ? network.Trunk[0].In * network.Trunk[0].Out : 0);
        // Layers above fc1 hold one Wᵀ per worker: a layer whose input gradient is computed row by row (see
        // MultiTaskNetwork.Backward) has every worker transpose all of W for itself.
        for (int l = 1; l < config.Hidden.Count; l++) TransposedWeights[l] = new FloatBuffer(network.Trunk[l].In * network.Trunk[l].Out * workers);
        TransposedWeights[config.Hidden.Count] = new FloatBuffer(network.Heads.In * network.Heads.Out * workers);
        // Contiguous copies of dy's panels for the weight gradient, per layer (heads last).
        PackedGradients = network.Trunk.Append(network.Heads).Select(l => new FloatBuffer(maxBatch * l.Out)).ToArray();
        int features = config.FeatureSize;
        // Workers with their own copy of x also index all of it themselves (see InputMasksOf).
        bool privateIndex = network.Convolutions.Count == 0 && privateInputs;
        int indexCopies = privateIndex ? workers : 1;
        _maskLength = maxBatch * ActiveDepth.MaskWords(features);
        _tileMaskLength = ActiveDepth.TileWords(features) * ActiveDepth.TileStride(maxBatch);
        InputMasks = new ulong[_maskLength * indexCopies];
        InputTileMasks = new ulong[_tileMaskLength * indexCopies];
        RowLosses = new double[maxBatch * config.Tasks.Count];

        // The convolutional front: per stage, im2col rows, conv outputs (post-ReLU), pooled outputs; for training,
        // their gradients and Wᵀ. Without convolutions, the features are the input itself.
        var convs = network.Convolutions;
        FloatBuffer Buffer(long floats) => new(checked((int)floats));
        FloatBuffer Empty() => new(0);
        // A Winograd stage needs its im2col rows only for the weight gradient.
        // A first stage that fuses its pooling needs neither im2col rows nor a full-size output.
        // A Winograd stage whose weight gradient splits by panels reads its im2col rows from its input (RowOffsets).
        bool Fused(Conv2d c, int l) => l == 0 && c.FusesPooling;
        bool NeedsColumns(Conv2d c, int l) => !Fused(c, l) && (!c.UsesWinograd || training && !c.SplitsPanels(workers));
        ConvColumns = convs.Select((c, l) => NeedsColumns(c, l) ? Buffer((long)maxBatch * c.OutPixels * c.Depth) : Empty()).ToArray();
        ConvRowOffsets = convs.Select((c, l) => training && l > 0 ? new int[maxBatch * c.OutPixels] : []).ToArray();
        for (int l = 1; l < convs.Count; l++)
            if (training) convs[l].RowOffsets(ConvRowOffsets[l], maxBatch);
        Workers = workers;
        ConvOutputs = convs.Select((c, l) => Fused(c, l) ? Empty() : Buffer((long)maxBatch * c.OutSize)).ToArray();
        Pooled = convs.Select(c => Buffer((long)maxBatch * (c.OutHeight / 2) * (c.OutWidth / 2) * c.OutChannels)).ToArray();
        // The first stage's weight gradient comes from the pooling's winners: no dense output gradient, no sparsity index.
        ConvOutputGradients = convs.Select((c, l) => training && l > 0 ? Buffer((long)maxBatch * c.OutSize) : Empty()).ToArray();
        PooledGradients = convs.Select(c => training ? Buffer((long)maxBatch * (c.OutHeight / 2) * (c.OutWidth / 2) * c.OutChannels) : Empty()).ToArray();
        // The first stage's pooling winners, so that its weight gradient needs no dense output gradient (training only).
        PoolWinners = training && convs.Count > 0 ? new int[(long)maxBatch * (convs[0].OutHeight / 2) * (convs[0].OutWidth / 2) * convs[0].OutChannels] : [];
        ConvColumnGradients = convs.Select((c, l) => training && l > 0 ? Buffer((long)maxBatch * c.OutPixels * c.Depth) : Empty()).ToArray();
        ConvTransposed = convs.Select((c, l) => training && l > 0 ? Buffer((long)c.Depth * c.OutChannels) : Empty()).ToArray();
        ConvWeightScratch = convs.Select(c => training ? Buffer((long)c.Depth * c.OutChannels) : Empty()).ToArray();
        // Sparsity of the output gradient of each stage after the first (max pooling passes a gradient to one pixel of
        // four): masks of its rows, per-row masks of 5-channel tiles, per-row lists for dx = dy·Wᵀ, and for dW = dyᵀ·cols
        // per-channel (or per-5-channel-tile) lists of pixels.
        int[] convRows = convs.Select(c => maxBatch * c.OutPixels).ToArray();
        ConvGradientMasks = convs.Select((c, l) => training && l > 0 ? new ulong[convRows[l] * ActiveDepth.MaskWords(c.OutChannels)] : []).ToArray();
        ConvGradientTileMasks = convs.Select((c, l) => training && l > 0 ? new ulong[ActiveDepth.TileWords(c.OutChannels) * ActiveDepth.TileStride(convRows[l])] : []).ToArray();
        ConvInputLists = convs.Select((c, l) => training && l > 0 ? new int[convRows[l] * c.OutChannels] : []).ToArray();
        ConvInputCounts = convs.Select((c, l) => training && l > 0 ? new int[convRows[l]] : []).ToArray();
        // Per channel (wide layers) or per tile of 5 channels (narrow ones): room for the larger.
        ConvWeightLists = convs.Select((c, l) => training && l > 0 ? new int[c.OutChannels * convRows[l]] : []).ToArray();
        ConvWeightCounts = convs.Select((c, l) => training && l > 0 ? new int[c.OutChannels] : []).ToArray();
        Features = convs.Count > 0 ? Pooled[^1] : Input;
        WorkerPixels = privateIndex ? Enumerable.Range(0, workers).Select(_ => new byte[maxBatch * config.InputSize]).ToArray() : [];
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
    /// instead of the half of x another core just wrote (measured in session 3: fc1's forward product 84 instead of
    /// 112 µs a step), and as bytes, whose value fc1's products look up (UnitFloats.ByteValues): a quarter of the
    /// memory of floats to write and read. Empty otherwise: the workers share <see cref="Input"/>.
    /// </summary>
    internal byte[][] WorkerPixels { get; }

    /// <summary>Worker <paramref name="worker"/>'s copy of the batch's pixels (see <see cref="WorkerPixels"/>); empty without one.</summary>
    internal Span<byte> PixelsOf(int worker) => PrivateIndex ? WorkerPixels[worker] : default;

    /// <summary>x: (B, InputSize).</summary>
    public FloatBuffer Input { get; }

    /// <summary>The trunk's input: <see cref="Input"/> for an MLP, the last pooled stage (B, FeatureSize) after convolutions.</summary>
    public FloatBuffer Features { get; }

    /// <summary>Per convolution stage, the im2col rows: (B·OH·OW, K·K·C).</summary>
    internal FloatBuffer[] ConvColumns { get; }

    // Per stage after the first (training): where each output pixel's inputs start in the stage's input (Conv2d.RowOffsets).
    internal int[][] ConvRowOffsets { get; }

    // The worker count the buffers were sized for (which weight gradients split by panels, Conv2d.SplitsPanels).
    internal int Workers { get; }

    /// <summary>Per convolution stage, ReLU(conv): (B, OH, OW, OC).</summary>
    internal FloatBuffer[] ConvOutputs { get; }

    /// <summary>Per convolution stage, the pooled output: (B, OH/2, OW/2, OC).</summary>
    internal FloatBuffer[] Pooled { get; }

    // Per element of the first stage's pooled output (B, H/2, W/2, C): which of its window's four inputs passed the
    // gradient (row-major window order), or MaxPool2d.NoWinner where the maximum is not above 0.
    internal int[] PoolWinners { get; }

    internal FloatBuffer[] ConvOutputGradients { get; }

    internal FloatBuffer[] PooledGradients { get; }

    internal FloatBuffer[] ConvColumnGradients { get; }

    internal FloatBuffer[] ConvTransposed { get; }

    /// <summary>Per convolution stage, dWᵀ (OC, K·K·C) before it is transposed into the gradient.</summary>
    internal FloatBuffer[] ConvWeightScratch { get; }

    internal ulong[][] ConvGradientMasks { get; }

    internal ulong[][] ConvGradientTileMasks { get; }

    // Per stage after the first, for dx: each output-gradient row's non-zero channels (OC ints a row) and their count.
    internal int[][] ConvInputLists { get; }

    internal int[][] ConvInputCounts { get; }

    // Per stage, for dW: the non-zero pixels of each channel (wide layers) or of each tile of 5 channels (narrow ones).
    internal int[][] ConvWeightLists { get; }

    internal int[][] ConvWeightCounts { get; }

    /// <summary>Post-ReLU output of each trunk layer: (B, Hidden[l]).</summary>
    public FloatBuffer[] Activations { get; }

    /// <summary>Gradients of the loss with respect to <see cref="Activations"/>.</summary>
    public FloatBuffer[] ActivationGradients { get; }

    /// <summary>All heads' logits: (B, HeadWidth).</summary>
    public FloatBuffer Logits { get; }

    /// <summary>Gradient of the loss with respect to <see cref="Logits"/>.</summary>
    public FloatBuffer LogitGradients { get; }

    internal FloatBuffer[] TransposedWeights { get; }

    internal FloatBuffer[] PackedGradients { get; }

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

    /// <summary>Per input row, a bit per tile of 5 inputs with a non-zero (see ActiveDepth.TileMasks).</summary>
    internal ulong[] InputTileMasks { get; }

    /// <summary>Per sample and task, the cross-entropy after <c>Loss</c>: (B, tasks).</summary>
    internal double[] RowLosses { get; }

    /// <summary>Per task: the batch's labels.</summary>
    public int[][] Labels { get; }

    /// <summary>Per task: the argmax of each sample's logits after a forward pass.</summary>
    public int[][] Predictions { get; }
}
