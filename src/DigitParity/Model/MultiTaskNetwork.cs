using DigitParity.Engine;
using DigitParity.Tasks;

namespace DigitParity.Model;

/// <summary>
/// The shared trunk and the task heads. All heads are one Linear layer whose output columns are
/// split by task ([digit 0-9 | parity 0-1]), so the heads cost one matrix multiply, not one per task.
/// <code>
/// MLP: x (B, 784) -fc1+ReLU-> h1 (B, 128) -fc2+ReLU-> h2 (B, 64) -heads-> logits (B, 10 + 2)
/// CNN: x (B, 28, 28, 1) -conv1+ReLU-> (B, 24, 24, 32) -pool-> (B, 12, 12, 32) -conv2+ReLU-> (B, 8, 8, 64)
///      -pool-> (B, 4, 4, 64) = features (B, 1024) -fc1+ReLU-> (B, 128) -heads-> logits (B, 10 + 2)
/// </code>
/// </summary>
public sealed class MultiTaskNetwork
{
    private readonly int[] _taskOffsets;
    private readonly int[] _taskClasses;
    private readonly float[] _taskWeights;

    /// <summary>Builds the layers and allocates all parameters (zero until <see cref="Initialize"/>).</summary>
    public MultiTaskNetwork(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Tasks.Count == 0) throw new ArgumentException("A network needs at least one task.", nameof(config));
        if (config.Tasks.Select(t => t.Name).Distinct().Count() != config.Tasks.Count)
            throw new ArgumentException("Task names must be distinct.", nameof(config));
        if (config.Problem() is { } problem) throw new ArgumentException($"Invalid model: {problem}.", nameof(config));
        Config = config;
        var layout = new ParameterLayout();
        var stages = config.Stages();
        Convolutions = config.Convolutions.Select((channels, l) =>
            new Conv2d(layout, $"conv{l + 1}", stages[l].Channels, channels, config.Kernel, stages[l].Side, stages[l].Side)).ToArray();
        var trunk = new List<Linear>();
        int width = config.FeatureSize;
        for (int l = 0; l < config.Hidden.Count; l++)
        {
            trunk.Add(new Linear(layout, $"fc{l + 1}", width, config.Hidden[l]));
            width = config.Hidden[l];
        }
        Trunk = trunk;
        Heads = new Linear(layout, "heads", width, config.HeadWidth);
        Parameters = new ParameterStore(layout);
        _taskClasses = config.Tasks.Select(t => t.ClassCount).ToArray();
        _taskWeights = config.Tasks.Select(_ => 1f).ToArray();
        _taskOffsets = new int[config.Tasks.Count];
        for (int t = 1; t < _taskOffsets.Length; t++) _taskOffsets[t] = _taskOffsets[t - 1] + config.Tasks[t - 1].ClassCount;
    }

    /// <summary>The network's shape.</summary>
    public ModelConfig Config { get; }

    /// <summary>The tasks, in head order.</summary>
    public IReadOnlyList<TaskDefinition> Tasks => Config.Tasks;

    /// <summary>The convolution stages (each followed by ReLU and 2 × 2 max pooling); empty for an MLP.</summary>
    public IReadOnlyList<Conv2d> Convolutions { get; }

    /// <summary>Trunk layers, each followed by ReLU.</summary>
    public IReadOnlyList<Linear> Trunk { get; }

    /// <summary>All task heads as one layer; task t owns columns [TaskOffset(t), TaskOffset(t) + classes).</summary>
    public Linear Heads { get; }

    /// <summary>Parameters and gradients, one allocation each.</summary>
    public ParameterStore Parameters { get; }

    /// <summary>Weight of each head's loss in the training objective Σ_t w_t · CE_t (all 1 unless set).</summary>
    public IReadOnlyList<float> TaskWeights => _taskWeights;

    /// <summary>Sets the loss weight of the task called <paramref name="task"/> (finite, zero or positive).</summary>
    public void SetTaskWeight(string task, float weight)
    {
        int index = Tasks.Select(t => t.Name).ToList().IndexOf(task);
        if (index < 0) throw new ArgumentException($"The network has no task {task}.", nameof(task));
        if (!float.IsFinite(weight) || weight < 0) throw new ArgumentOutOfRangeException(nameof(weight), $"A task weight must be finite and not negative (got {weight}).");
        _taskWeights[index] = weight;
    }

    /// <summary>First column of task <paramref name="task"/> in the head output.</summary>
    public int TaskOffset(int task) => _taskOffsets[task];

    /// <summary>Seeds every layer (PyTorch's Linear default, uniform ±1/sqrt(fan_in)) from <paramref name="seed"/>.</summary>
    public void Initialize(ulong seed)
    {
        var rng = new Rng(seed, stream: 1);
        foreach (var conv in Convolutions) conv.Initialize(Parameters, rng);
        foreach (var layer in Trunk) layer.Initialize(Parameters, rng);
        Heads.Initialize(Parameters, rng);
    }

    /// <summary>Buffers for batches of up to <paramref name="maxBatch"/> samples (with the backward pass's unless <paramref name="training"/> is false).</summary>
    public Workspace CreateWorkspace(int maxBatch, bool training = true) => new(this, maxBatch, training);

    /// <summary>A training workspace for <paramref name="workers"/> workers that each gather the whole batch (see Workspace.WorkerPixels).</summary>
    internal Workspace CreateWorkspace(int maxBatch, int workers, bool privateInputs) => new(this, maxBatch, training: true, workers, privateInputs);

    /// <summary>The rows of the input batch a worker fills (whole 5-row tiles), before <see cref="IndexInput"/>.</summary>
    internal static (int Start, int End) InputRows(int batch, int worker, int workers) => Partition.Share(batch, Gemm.TileRows, worker, workers);

    // Rows [r0, r1) of ws.Input (or of this worker's own copy of x) are filled: run the convolutional front on them
    // (each sample is independent, so a worker needs no other's rows), then mask fc1's non-zero inputs, one bit each,
    // and per tile of 5 inputs, so fc1's products skip the rest (most MNIST pixels and many pooled ReLU outputs are 0):
    // its forward product visits, per 5-row tile, the inputs non-zero in one of its rows; its weight gradient, per tile of
    // 5 inputs, the samples where one of them is. Must run for all rows before Forward (the products read every row's
    // masks). An MLP trained on its workers' own copies of x copies both from the dataset's ImageMasks instead.
    internal void IndexInput(Workspace ws, int batch, int r0, int r1, int worker = 0)
    {
        ForwardConvolutions(ws, r0, r1);
        int inputs = Trunk[0].In; // the feature size, without rebuilding the stage list every step
        ActiveDepth.IndexRows(ws.Features, batch, inputs, r0, r1, ws.InputMasksOf(worker), ws.InputTileMasksOf(worker));
    }

    // Samples [b0, b1): x (B, H, W, 1) -> per stage conv+ReLU -> pool -> ... -> ws.Features (B, FeatureSize).
    private void ForwardConvolutions(Workspace ws, int b0, int b1)
    {
        for (int l = 0; l < Convolutions.Count; l++)
        {
            var conv = Convolutions[l];
            if (l == 0 && conv.FusesPooling)
            {
                // Convolution, ReLU and pooling at once: neither im2col rows nor the full-size output exist for this stage.
                conv.ForwardPooled(Parameters, ws.Input, ws.Stages[0].Pooled, ws.Stages[0].Winners, b0, b1, Gemm.BestIsa);
                continue;
            }
            conv.Forward(Parameters, l == 0 ? ws.Input : ws.Stages[l - 1].Pooled, ws.Stages[l].Columns, ws.Stages[l].Output, b0, b1,
                keepColumns: ws.Training && !(l > 0 && conv.SplitsPanels(ws.Workers)));
            MaxPool2d.Forward(ws.Stages[l].Output, ws.Stages[l].Pooled, conv.OutHeight, conv.OutWidth, conv.OutChannels, b0, b1,
                winners: l == 0 ? ws.Stages[0].Winners : default);
        }
    }

    // d features (B, FeatureSize) -> gradients of every convolution, last stage first. Per stage after the first: this
    // worker's samples get the pool+ReLU backward and the input gradient (dx = col2im(dy·Wᵀ)); after a barrier, this
    // worker's rows of dW = colsᵀ·dy over the whole batch, then their update (nobody reads this W any more). The first
    // stage takes its dW and db from the pooling's winners.
    private void BackwardConvolutions(Workspace ws, int batch, WorkerPool pool, int worker, IParameterUpdate? update)
    {
        var (b0, b1) = Linear.RowShare(batch, worker, pool.Count);
        for (int l = Convolutions.Count - 1; l >= 0; l--)
        {
            var conv = Convolutions[l];
            if (l == 0)
            {
                // The first stage passes no gradient on: its dW and db come straight from the pooling's winners (every
                // worker's share of the pooled gradient is written: the barriers of the stage above, or fc1's, saw to it).
                var (w0, w1) = conv.BackwardWeightsFromWinners(Parameters, ws.Input, ws.Stages[0].PooledGradient, ws.Stages[0].Winners, ws.Stages[0].WeightScratch,
                    batch, pool, worker);
                if (update is null) break;
                if (w0 < w1) update.Apply(conv.Weight, w0 * conv.OutChannels, (w1 - w0) * conv.OutChannels);
                var (d0, d1) = conv.BiasShare(worker, pool.Count);
                if (d0 < d1) update.Apply(conv.Bias, d0, d1 - d0);
                break;
            }
            MaxPool2d.Backward(ws.Stages[l].Output, ws.Stages[l].Pooled, ws.Stages[l].PooledGradient, ws.Stages[l].OutputGradient,
                conv.OutHeight, conv.OutWidth, conv.OutChannels, b0, b1);
            IndexOutputGradient(ws, l, batch, b0, b1);
            conv.BackwardInputSparse(ws.Stages[l].TransposedWeight, ws.Stages[l].OutputGradient, ws.Stages[l].GradientMasks, ws.Stages[l].InputLists, ws.Stages[l].InputCounts,
                ws.Stages[l].ColumnGradient, ws.Stages[l - 1].PooledGradient, b0, b1);
            pool.Barrier();
            ListOutputGradientPixels(ws, l, batch, worker, pool.Count);
            pool.Barrier();
            // A panel-split weight gradient reads each pixel's im2col row from the pooled input itself.
            bool fromInput = conv.SplitsPanels(pool.Count);
            if (!fromInput && ws.Stages[l].Columns.Length == 0)
                throw new InvalidOperationException($"This workspace was sized for {ws.Workers} worker(s); conv{l + 1}'s weight gradient needs its im2col rows with {pool.Count}.");
            var (p0, p1) = conv.BackwardWeights(Parameters, ws.Stages[l].Columns, ws.Stages[l].OutputGradient, ws.Stages[l].WeightScratch, batch, pool, worker,
                ws.Stages[l].WeightLists, ws.Stages[l].WeightCounts, fromInput ? ws.Stages[l - 1].Pooled.Span : default, ws.Stages[l].RowOffsets);
            if (update is null) continue;
            if (p0 < p1) update.Apply(conv.Weight, p0 * conv.OutChannels, (p1 - p0) * conv.OutChannels);
            var (c0, c1) = conv.BiasShare(worker, pool.Count);
            if (c0 < c1) update.Apply(conv.Bias, c0, c1 - c0);
        }
    }

    // Samples [b0, b1) of stage l's output gradient dy (B·OH·OW, OC): which channels are non-zero at each pixel (the row
    // masks dx's per-pixel lists and dW's per-channel lists come from) and which 5-channel tiles are (for dW's per-tile
    // lists of narrow layers). After max pooling most of dy is 0.
    internal void IndexOutputGradient(Workspace ws, int l, int batch, int b0, int b1)
    {
        var conv = Convolutions[l];
        ActiveDepth.IndexRows(ws.Stages[l].OutputGradient, batch * conv.OutPixels, conv.OutChannels, b0 * conv.OutPixels, b1 * conv.OutPixels,
            ws.Stages[l].GradientMasks, ws.Stages[l].GradientTileMasks);
    }

    // Once every sample is indexed: for dW = dyᵀ·cols, this worker's share of the pixels of the whole batch where the
    // gradient is non-zero, per channel (layers whose dW splits by panels) or per tile of 5 channels (see BackwardWeights).
    internal void ListOutputGradientPixels(Workspace ws, int l, int batch, int worker, int workers)
    {
        var conv = Convolutions[l];
        int rows = batch * conv.OutPixels;
        if (conv.SplitsPanels(workers))
        {
            var (c0, c1) = Partition.Share(conv.OutChannels, 1, worker, workers);
            SparseRows.ListColumns(ws.Stages[l].GradientMasks, ActiveDepth.MaskWords(conv.OutChannels), rows, c0, c1, ws.Stages[l].WeightLists, rows, ws.Stages[l].WeightCounts);
            return;
        }
        var (t0, t1) = Partition.Share(ActiveDepth.Tiles(conv.OutChannels), 1, worker, workers);
        ActiveDepth.ForColumns(ws.Stages[l].GradientTileMasks, conv.OutChannels, rows, ws.Stages[l].WeightLists, ws.Stages[l].WeightCounts, t0, t1);
    }

    // x (B, In) -> logits (B, HeadWidth). Every worker runs this, after IndexInput. A barrier separates two layers
    // unless both split the batch's rows between workers the same way (then each worker only reads its own rows).
    internal void Forward(Workspace ws, int batch, WorkerPool pool, int worker)
    {
        int workers = pool.Count;
        Trunk[0].Forward(Parameters, ws.Features, ws.Layers[0].Output, batch, relu: true, worker, workers, ws.InputMasksOf(worker),
            ws.PixelsOf(worker), PixelValues(ws));
        Dropout(ws, 0, batch, worker, workers);
        for (int l = 1; l < Trunk.Count; l++)
        {
            if (!(Trunk[l - 1].SplitsRows(workers) && Trunk[l].SplitsRows(workers))) pool.Barrier();
            Trunk[l].Forward(Parameters, ws.Layers[l - 1].Output, ws.Layers[l].Output, batch, relu: true, worker, workers);
            Dropout(ws, l, batch, worker, workers);
        }
        if (!(Trunk[^1].SplitsRows(workers) && Heads.SplitsRows(workers))) pool.Barrier();
        Heads.Forward(Parameters, ws.Layers[Trunk.Count - 1].Output, ws.Logits, batch, relu: false, worker, workers);
    }

    // What each pixel byte stands for when fc1 reads the workers' own byte copies of x.
    private static ReadOnlySpan<float> PixelValues(Workspace ws) => ws.PrivateIndex ? UnitFloats.ByteValues : default;

    // In a training pass with dropout: the part of trunk layer l's output this worker just wrote.
    private void Dropout(Workspace ws, int l, int batch, int worker, int workers)
    {
        if (ws.DropoutKey is not { } key || Config.Dropout <= 0) return;
        var layer = Trunk[l];
        if (layer.SplitsRows(workers))
        {
            var (b0, b1) = Linear.RowShare(batch, worker, workers);
            Activations.Dropout(ws.Layers[l].Output, layer.Out, b0, b1, 0, layer.Out, Config.Dropout, key + (ulong)l);
        }
        else
        {
            var (j0, j1) = layer.OutputShare(worker, workers);
            Activations.Dropout(ws.Layers[l].Output, layer.Out, 0, batch, j0, j1, Config.Dropout, key + (ulong)l);
        }
    }

    // Forward, then this worker's rows of the loss (the same rows as a row-split head, so no barrier then).
    internal void ForwardLoss(Workspace ws, int batch, WorkerPool pool, int worker)
    {
        Forward(ws, batch, pool, worker);
        if (!Heads.SplitsRows(pool.Count)) pool.Barrier();
        Loss(ws, batch, worker, pool.Count);
    }

    // This worker's rows of the batch: per task, each row's cross-entropy, argmax predictions and
    // dlogits = (softmax − onehot) / B. Reads ws.Labels; writes ws.RowLosses, ws.Predictions, ws.LogitGradients.
    internal void Loss(Workspace ws, int batch, int worker, int workers)
    {
        var (b0, b1) = Linear.RowShare(batch, worker, workers);
        Span<float> scales = stackalloc float[_taskWeights.Length];
        for (int t = 0; t < scales.Length; t++) scales[t] = _taskWeights[t] / batch;
        SoftmaxCrossEntropy.Forward(ws.Logits, Heads.Out, _taskOffsets, _taskClasses, ws.Labels, ws.Predictions,
            b0, b1, scales, ws.LogitGradients, ws.RowLosses);
    }

    // Per task, the loss summed over the batch (in row order, whatever the split).
    internal void SumLosses(Workspace ws, int batch, Span<double> taskLosses) => SoftmaxCrossEntropy.SumRows(ws.RowLosses, batch, taskLosses);

    // dlogits (B, HeadWidth) -> gradients of every parameter. Every worker runs this, right after ForwardLoss (it waits
    // for the other workers' rows itself where it needs them). As soon as no worker
    // reads a layer's weights any more (after the barrier behind its backward; at once for fc1, which
    // computes no dx), this worker hands its columns of that layer to `update`.
    // The narrow tail (the heads and the trunk layers above fc1 whose forward splits the batch's rows: fc2 of the
    // tutorial) passes its input gradients row by row instead: each worker takes its own rows of dlogits down to
    // d(fc1's output) with its own copy of each Wᵀ, then one barrier, then each worker's share of those layers' weight
    // gradients over the whole batch. One barrier where a column split needs one per layer, and no worker waits for
    // another's columns of a 64-wide gradient.
    internal void Backward(Workspace ws, int batch, WorkerPool pool, int worker, IParameterUpdate? update)
    {
        int last = Trunk.Count - 1, workers = pool.Count;
        // Wᵀ of the convolutions that pass a gradient on, for dx = dy·Wᵀ; visible to all after the barrier below.
        if (worker == 0)
            for (int l = 1; l < Convolutions.Count; l++)
                Gemm.Transpose(Parameters.Value(Convolutions[l].Weight), Convolutions[l].OutChannels, ws.Stages[l].TransposedWeight, Convolutions[l].Depth,
                    Convolutions[l].Depth, Convolutions[l].OutChannels);
        bool dropout = ws.DropoutKey is not null && Config.Dropout > 0;
        // (A workspace sized for fewer workers has one Wᵀ per layer: its workers split the columns.)
        int tail = ws.Workers >= workers ? NarrowTail(workers) : Trunk.Count + 1;
        if (tail <= Trunk.Count)
        {
            var (b0, b1) = Linear.RowShare(batch, worker, workers);
            BackwardInputRows(Heads, Trunk.Count, ws.Layers[last].Output, ws.LogitGradients, ws.Layers[last].OutputGradient, ws, b0, b1, worker, dropout);
            for (int l = last; l >= tail; l--)
                BackwardInputRows(Trunk[l], l, ws.Layers[l - 1].Output, ws.Layers[l].OutputGradient, ws.Layers[l - 1].OutputGradient, ws, b0, b1, worker, dropout);
            pool.Barrier();
            // After the barrier nobody reads these layers' weights this step (their input gradients are done), so momentum
            // SGD is folded into their weight-gradient products, as for fc1.
            bool fused = Heads.Backward(Parameters, ws.Layers[last].Output, ws.LogitGradients, default, ws.Layers[Trunk.Count].PackedGradient, default, batch,
                worker, workers, fuse: update);
            Update(update, Heads, worker, workers, fused);
            for (int l = last; l >= tail; l--)
            {
                fused = Trunk[l].Backward(Parameters, ws.Layers[l - 1].Output, ws.Layers[l].OutputGradient, default, ws.Layers[l].PackedGradient, default, batch,
                    worker, workers, fuse: update);
                Update(update, Trunk[l], worker, workers, fused);
            }
        }
        else
        {
            pool.Barrier(); // every row's dlogits
            Backward(Heads, ws.Layers[last].Output, ws.LogitGradients, ws.Layers[last].OutputGradient, ws.Layers[Trunk.Count].PackedGradient, ws.Layers[Trunk.Count].TransposedWeights, batch, pool, worker, dropout);
            pool.Barrier();
            Update(update, Heads, worker, workers);
        }
        for (int l = Math.Min(last, tail - 1); l >= 1; l--)
        {
            Backward(Trunk[l], ws.Layers[l - 1].Output, ws.Layers[l].OutputGradient, ws.Layers[l - 1].OutputGradient, ws.Layers[l].PackedGradient, ws.Layers[l].TransposedWeights, batch, pool, worker, dropout);
            pool.Barrier();
            Update(update, Trunk[l], worker, pool.Count);
        }
        if (Convolutions.Count == 0)
        {
            bool fused = Trunk[0].Backward(Parameters, ws.Features, ws.Layers[0].OutputGradient, default, ws.Layers[0].PackedGradient, default, batch, worker, pool.Count,
                ws.InputTileMasksOf(worker), fuse: update, xBytes: ws.PixelsOf(worker), byteValues: PixelValues(ws));
            if (update is not null) Trunk[0].Update(update, worker, pool.Count, weightDone: fused);
            return;
        }
        // With convolutions, fc1 passes its gradient on to the features (so its update waits for the barrier).
        Trunk[0].Backward(Parameters, ws.Features, ws.Layers[0].OutputGradient, ws.Stages[^1].PooledGradient, ws.Layers[0].PackedGradient, ws.Layers[0].TransposedWeights,
            batch, worker, pool.Count, ws.InputTileMasksOf(worker));
        pool.Barrier();
        Update(update, Trunk[0], worker, pool.Count);
        BackwardConvolutions(ws, batch, pool, worker, update);
    }

    // The first trunk layer (≥ 1) of the narrow tail: the heads and every trunk layer above it split the batch's rows
    // between the workers. Trunk.Count when only the heads do; Trunk.Count + 1 when not even they do (one worker).
    private int NarrowTail(int workers)
    {
        if (!Heads.SplitsRows(workers)) return Trunk.Count + 1;
        int tail = Trunk.Count;
        while (tail > 1 && Trunk[tail - 1].SplitsRows(workers)) tail--;
        return tail;
    }

    // Rows [b0, b1) of a narrow-tail layer's input gradient (through the ReLU before it), with this worker's own Wᵀ
    // (ws.Layers[slot].TransposedWeights), then the dropout's scale on those rows.
    private void BackwardInputRows(Linear layer, int slot, FloatBuffer x, FloatBuffer dy, FloatBuffer dx, Workspace ws, int b0, int b1, int worker, bool dropout)
    {
        int size = layer.In * layer.Out;
        layer.BackwardInputRows(Parameters, x, dy, dx, ws.Layers[slot].TransposedWeights.AsSpan(worker * size, size), b0, b1);
        if (dropout && b0 < b1) Activations.DropoutScale(dx, layer.In, b0, b1, 0, layer.In, Config.Dropout);
    }

    // One layer's backward, through the ReLU that precedes it (dx = dy·Wᵀ where x > 0), then the dropout's scale.
    private void Backward(Linear layer, FloatBuffer x, FloatBuffer dy, FloatBuffer dx, FloatBuffer packed, FloatBuffer wT, int batch, WorkerPool pool, int worker,
        bool dropout = false)
    {
        layer.Backward(Parameters, x, dy, dx, packed, wT, batch, worker, pool.Count, reluInput: true);
        var (i0, i1) = layer.InputShare(worker, pool.Count);
        if (dropout && i0 < i1) Activations.DropoutScale(dx, layer.In, 0, batch, i0, i1, Config.Dropout);
    }

    private static void Update(IParameterUpdate? update, Linear layer, int worker, int workers, bool weightDone = false)
    {
        if (update is not null) layer.Update(update, worker, workers, weightDone);
    }
}
