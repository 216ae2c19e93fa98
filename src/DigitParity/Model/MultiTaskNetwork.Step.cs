using DigitParity.Engine;

namespace DigitParity.Model;

// One parallel step: every worker runs IndexInput on its rows, then Forward (or ForwardLoss) and Backward. The shares
// come from StepSchedule; the barriers, and when a fused update may run, are here: this file is the step's schedule.
public sealed partial class MultiTaskNetwork
{
    // Rows [r0, r1) of ws.Input (or of this worker's own copy of x) are filled: run the convolutional front on them
    // (each sample is independent, so a worker needs no other's rows), then mask fc1's non-zero inputs, one bit each,
    // and per tile of 5 inputs, so fc1's products skip the rest (most MNIST pixels and many pooled ReLU outputs are 0):
    // its forward product visits, per 5-row tile, the inputs non-zero in one of its rows; its weight gradient, per tile of
    // 5 inputs, the samples where one of them is. Must run for all rows before Forward (the products read every row's
    // masks). An MLP trained on its workers' own copies of x copies both from the dataset's ImageMasks instead. A
    // prediction's MLP that goes row by row (ws.ListsRows) lists each row's own non-zero inputs instead, and its
    // workers then read only their own rows. With batch norm, `step` is the pool of a training step, whose workers all
    // run this and normalize by the whole batch's statistics (two barriers a stage); null: by the running statistics.
    internal void IndexInput(Workspace ws, int batch, int r0, int r1, int worker = 0, WorkerPool? step = null)
    {
        ForwardConvolutions(ws, batch, r0, r1, worker, step);
        IndexFeatures(ws, batch, r0, r1, worker);
    }

    // Whether a prediction of `batch` images on `workers` workers splits each image between them: a batch too small to
    // give every worker whole 5-row tiles of images, on a CNN whose first stage fuses its pooling (split by pooled rows)
    // and whose later stages run Winograd (split by output channels, 8 at a time), without batch norm. Each worker
    // then reads its own part of the weights, from its own core's cache.
    internal bool SplitsImages(int batch, int workers)
    {
        if (workers < 2 || batch > Gemm.TileRows * (workers - 1) || Convolutions.Count == 0 || Norms.Count > 0 || !Convolutions[0].FusesPooling) return false;
        for (int l = 1; l < Convolutions.Count; l++) // (a loop: a prediction allocates nothing)
            if (!Convolutions[l].UsesWinograd || Convolutions[l].OutChannels % (8 * workers) != 0) return false;
        return true;
    }

    // IndexInput for a batch whose images are split between the workers (SplitsImages), once rows [0, batch) of x are
    // filled and visible to all: every worker computes its part of each stage for every image, with a barrier after
    // each stage, then indexes its own rows of the features. Every element is the chain the whole stage computes, so
    // the bits are those of one worker.
    internal void IndexSplitImages(Workspace ws, int batch, int worker, WorkerPool pool)
    {
        int workers = pool.Count;
        for (int l = 0; l < Convolutions.Count; l++)
        {
            var conv = Convolutions[l];
            var stage = ws.Stages[l];
            if (l == 0)
            {
                var (p0, p1) = Partition.Share(conv.OutHeight / 2, 1, worker, workers);
                conv.ForwardPooled(Parameters, ws.Input, stage.Pooled, stage.Winners, 0, batch, Gemm.BestIsa, p0, p1);
            }
            else
            {
                var (o0, o1) = Partition.Share(conv.OutChannels, 8, worker, workers);
                conv.Forward(Parameters, ws.Stages[l - 1].Pooled, stage.Columns, stage.Output, 0, batch, keepColumns: false, o0: o0, o1: o1);
                MaxPool2d.Forward(stage.Output, stage.Pooled, conv.OutHeight, conv.OutWidth, conv.OutChannels, 0, batch, c0: o0, c1: o1);
            }
            pool.Barrier();
        }
        var (r0, r1) = StepSchedule.Rows(batch, worker, workers);
        IndexFeatures(ws, batch, r0, r1, worker);
    }

    // Rows [r0, r1) of fc1's masks of its non-zero inputs (or of each row's list of them), from the features.
    private void IndexFeatures(Workspace ws, int batch, int r0, int r1, int worker)
    {
        if (Norms.Count > 0) return; // normalized features have no zeros to skip: fc1 runs dense
        int inputs = Trunk[0].In; // the feature size, without rebuilding the stage list every step
        if (ws.ListsRows)
            for (int b = r0; b < r1; b++) ws.ListRow(b, ws.Features.AsSpan(b * inputs, inputs));
        // The tile masks serve fc1's weight gradient only: a forward pass needs the row masks alone.
        else if (ws.Training) ActiveDepth.IndexRows(ws.Features, batch, inputs, r0, r1, ws.InputMasksOf(worker), ws.InputTileMasksOf(worker));
        else ActiveDepth.NonZeroMasks(ws.Features, inputs, inputs, r0, r1, ws.InputMasksOf(worker));
    }

    // Samples [b0, b1): x (B, H, W, 1) -> per stage conv+ReLU -> pool (-> batch norm) -> ... -> ws.Features (B, FeatureSize).
    private void ForwardConvolutions(Workspace ws, int batch, int b0, int b1, int worker, WorkerPool? step)
    {
        for (int l = 0; l < Convolutions.Count; l++)
        {
            var conv = Convolutions[l];
            if (l == 0 && conv.FusesPooling)
            {
                // Convolution, ReLU and pooling at once: neither im2col rows nor the full-size output exist for this stage.
                conv.ForwardPooled(Parameters, ws.Input, ws.Stages[0].Pooled, ws.Stages[0].Winners, b0, b1, Gemm.BestIsa);
            }
            else
            {
                conv.Forward(Parameters, l == 0 ? ws.Input : ws.Stages[l - 1].Normalized, ws.Stages[l].Columns, ws.Stages[l].Output, b0, b1,
                    keepColumns: ws.Training && !(l > 0 && StepSchedule.SplitsPanels(conv, ws.Workers)));
                MaxPool2d.Forward(ws.Stages[l].Output, ws.Stages[l].Pooled, conv.OutHeight, conv.OutWidth, conv.OutChannels, b0, b1,
                    winners: l == 0 ? ws.Stages[0].Winners : default);
            }
            if (Norms.Count > 0) Normalize(ws, l, batch, b0, b1, worker, step);
        }
    }

    // Samples [b0, b1) of stage l's pooled output -> its normalized output. In a training step, once every worker has
    // pooled its samples: this worker's channels of the batch's statistics (and of the running ones), then, once all
    // channels are done, its samples. Otherwise by the running statistics, each worker on its own copy of them.
    private void Normalize(Workspace ws, int l, int batch, int b0, int b1, int worker, WorkerPool? step)
    {
        var norm = Norms[l];
        var stage = ws.Stages[l];
        int pixels = Convolutions[l].PooledPixels;
        if (step is null)
        {
            Span<float> mean = stackalloc float[norm.Channels], inverseStd = stackalloc float[norm.Channels];
            norm.RunningStatistics(Parameters, mean, inverseStd);
            norm.Forward(Parameters, stage.Pooled, mean, inverseStd, stage.Normalized, b0 * pixels, b1 * pixels);
            return;
        }
        step.Barrier();
        var (c0, c1) = Partition.Share(norm.Channels, 8, worker, step.Count);
        norm.BatchStatistics(Parameters, stage.Pooled, batch * pixels, stage.Mean, stage.InverseStd, c0, c1);
        step.Barrier();
        norm.Forward(Parameters, stage.Pooled, stage.Mean, stage.InverseStd, stage.Normalized, b0 * pixels, b1 * pixels);
    }

    // Stage l's batch norm backward in a training step, once every row of its normalized output's gradient is written:
    // this worker's channels of dγ and dβ, then (after a barrier) its samples' gradient at the pooled output. Returns
    // the channels whose dγ and dβ this worker computed, to update once nobody reads γ any more.
    private (int Start, int End) BackwardNorm(Workspace ws, int l, int batch, int b0, int b1, WorkerPool pool, int worker)
    {
        var norm = Norms[l];
        var stage = ws.Stages[l];
        int pixels = Convolutions[l].PooledPixels, rows = batch * pixels;
        var (c0, c1) = Partition.Share(norm.Channels, 8, worker, pool.Count);
        norm.BackwardSums(Parameters, stage.Pooled, stage.Mean, stage.InverseStd, stage.NormalizedGradient, rows, c0, c1);
        pool.Barrier();
        norm.BackwardInput(Parameters, stage.Pooled, stage.Mean, stage.InverseStd, stage.NormalizedGradient, stage.PooledGradient, rows, b0 * pixels, b1 * pixels);
        return (c0, c1);
    }

    // Hands this worker's channels of stage l's γ and β to the update (see BackwardNorm).
    private void UpdateNorm(int l, (int Start, int End) channels, IParameterUpdate? update)
    {
        if (update is null || Norms.Count == 0 || channels.Start >= channels.End) return;
        update.Apply(Norms[l].Weight, channels.Start, channels.End - channels.Start);
        update.Apply(Norms[l].Bias, channels.Start, channels.End - channels.Start);
    }

    // fc1's input: the features, or this worker's own byte copy of the pixels, with the masks IndexInput built (none
    // behind batch norm).
    private LayerInput Features(Workspace ws, int worker) => Norms.Count > 0 ? new(ws.Features) : new(ws.Features)
    {
        Bytes = ws.PixelsOf(worker), ByteValues = ws.PrivateIndex ? UnitFloats.ByteValues : default,
        RowMasks = ws.InputMasksOf(worker), TileMasks = ws.InputTileMasksOf(worker),
    };

    // x (B, In) -> logits (B, HeadWidth). Every worker runs this, after IndexInput. A barrier separates two layers
    // unless both split the batch's rows between workers the same way (then each worker only reads its own rows). Over
    // listed rows (Workspace.ListsRows) every trunk layer goes row by row, each over its input row's own non-zeros.
    internal void Forward(Workspace ws, int batch, WorkerPool pool, int worker)
    {
        int workers = pool.Count;
        bool listed = ws.ListsRows;
        if (listed)
        {
            var (b0, b1) = StepSchedule.Rows(batch, worker, workers);
            Trunk[0].ForwardSparseRows(Parameters, ws.Features, ws.InputLists, ws.ListStride, ws.InputCounts, ws.Layers[0].Output, b0, b1);
            for (int l = 1; l < Trunk.Count; l++)
            {
                // The ReLU's zeros of the layer below (four in five of fc1's outputs in the trained tutorial MLP); fc1's lists are done with.
                int width = Trunk[l].In;
                var below = ws.Layers[l - 1].Output;
                for (int b = b0; b < b1; b++) ws.ListRow(b, below.AsSpan(b * width, width));
                Trunk[l].ForwardSparseRows(Parameters, below, ws.InputLists, ws.ListStride, ws.InputCounts, ws.Layers[l].Output, b0, b1);
            }
        }
        else
        {
            var first = StepSchedule.Share(Trunk[0], batch, worker, workers);
            Trunk[0].Forward(Parameters, Features(ws, worker), ws.Layers[0].Output, batch, relu: true, first);
            Dropout(ws, 0, batch, first);
            for (int l = 1; l < Trunk.Count; l++)
            {
                if (StepSchedule.BarrierBetween(Trunk[l - 1], Trunk[l], workers)) pool.Barrier();
                var share = StepSchedule.Share(Trunk[l], batch, worker, workers);
                Trunk[l].Forward(Parameters, ws.Layers[l - 1].Output, ws.Layers[l].Output, batch, relu: true, share);
                Dropout(ws, l, batch, share);
            }
        }
        bool trunkSplitsRows = listed || StepSchedule.SplitsRows(Trunk[^1], workers);
        if (!(trunkSplitsRows && StepSchedule.SplitsRows(Heads, workers))) pool.Barrier();
        Heads.Forward(Parameters, ws.Layers[Trunk.Count - 1].Output, ws.Logits, batch, relu: false, StepSchedule.Share(Heads, batch, worker, workers));
    }

    // In a training pass with dropout: the part of trunk layer l's output this worker just wrote.
    private void Dropout(Workspace ws, int l, int batch, LinearShare share)
    {
        if (ws.DropoutKey is not { } key || Config.Dropout <= 0) return;
        int width = Trunk[l].Out;
        if (share.ByRows) Activations.Dropout(ws.Layers[l].Output, width, share.Start, share.End, 0, width, Config.Dropout, key + (ulong)l);
        else Activations.Dropout(ws.Layers[l].Output, width, 0, batch, share.Start, share.End, Config.Dropout, key + (ulong)l);
    }

    // Forward, then a barrier unless the heads split the batch's rows: on return this worker's rows of the logits
    // (StepSchedule.Rows) are final.
    internal void ForwardOwnRows(Workspace ws, int batch, WorkerPool pool, int worker)
    {
        Forward(ws, batch, pool, worker);
        if (!StepSchedule.SplitsRows(Heads, pool.Count)) pool.Barrier();
    }

    // Forward, then this worker's rows of the loss.
    internal void ForwardLoss(Workspace ws, int batch, WorkerPool pool, int worker)
    {
        ForwardOwnRows(ws, batch, pool, worker);
        Loss(ws, batch, worker, pool.Count);
    }

    // This worker's rows of the batch: per task, each row's cross-entropy, argmax predictions and
    // dlogits = (softmax − target) / B, the target smoothed by ws.LabelSmoothing. Reads ws.Labels; writes ws.RowLosses,
    // ws.Predictions, ws.LogitGradients.
    internal void Loss(Workspace ws, int batch, int worker, int workers)
    {
        var (b0, b1) = StepSchedule.Rows(batch, worker, workers);
        Span<float> scales = stackalloc float[_taskWeights.Length];
        for (int t = 0; t < scales.Length; t++) scales[t] = _taskWeights[t] / batch;
        SoftmaxCrossEntropy.Forward(ws.Logits, Heads.Out, _taskOffsets, _taskClasses, ws.Labels, ws.Predictions,
            b0, b1, scales, ws.LabelSmoothing, ws.LogitGradients, ws.RowLosses);
    }

    // Per task, the loss summed over the batch (in row order, whatever the split).
    internal void SumLosses(Workspace ws, int batch, Span<double> taskLosses) => SoftmaxCrossEntropy.SumRows(ws.RowLosses, batch, taskLosses);

    // dlogits (B, HeadWidth) -> gradients of every parameter. Every worker runs this, right after ForwardLoss (it waits
    // for the other workers' rows itself where it needs them). As soon as no worker reads a layer's weights any more
    // (after the barrier behind its backward; at once for fc1, which computes no dx), this worker hands its share of
    // that layer to `update`.
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
                Gemm.Transpose(Parameters.Read(Convolutions[l].Weight), Convolutions[l].OutChannels, ws.Stages[l].TransposedWeight, Convolutions[l].Depth,
                    Convolutions[l].Depth, Convolutions[l].OutChannels);
        bool dropout = ws.DropoutKey is not null && Config.Dropout > 0;
        // (A workspace sized for fewer workers has one Wᵀ per layer: its workers split the columns.)
        int tail = ws.Workers >= workers ? StepSchedule.NarrowTail(Trunk, Heads, workers) : Trunk.Count + 1;
        if (tail <= Trunk.Count)
        {
            var (b0, b1) = StepSchedule.Rows(batch, worker, workers);
            BackwardInputRows(Heads, Trunk.Count, ws.Layers[last].Output, ws.LogitGradients, ws.Layers[last].OutputGradient, ws, b0, b1, worker, dropout);
            for (int l = last; l >= tail; l--)
                BackwardInputRows(Trunk[l], l, ws.Layers[l - 1].Output, ws.Layers[l].OutputGradient, ws.Layers[l - 1].OutputGradient, ws, b0, b1, worker, dropout);
            pool.Barrier();
            // After the barrier nobody reads these layers' weights this step (their input gradients are done), so momentum
            // SGD is folded into their weight-gradient products, as for fc1.
            WeightGradient(Heads, ws.Layers[last].Output, ws.LogitGradients, ws.Layers[Trunk.Count], batch, worker, workers, update);
            for (int l = last; l >= tail; l--)
                WeightGradient(Trunk[l], ws.Layers[l - 1].Output, ws.Layers[l].OutputGradient, ws.Layers[l], batch, worker, workers, update);
        }
        else
        {
            pool.Barrier(); // every row's dlogits
            Backward(Heads, ws.Layers[last].Output, ws.LogitGradients, ws.Layers[last].OutputGradient, ws.Layers[Trunk.Count], batch, pool, worker, dropout, update);
        }
        for (int l = Math.Min(last, tail - 1); l >= 1; l--)
            Backward(Trunk[l], ws.Layers[l - 1].Output, ws.Layers[l].OutputGradient, ws.Layers[l - 1].OutputGradient, ws.Layers[l], batch, pool, worker, dropout, update);
        var share = StepSchedule.Share(Trunk[0], batch, worker, workers);
        if (Convolutions.Count == 0)
        {
            // fc1 passes no gradient on and nobody reads its weights after the forward pass: update them in the product.
            bool fused = Trunk[0].Backward(Parameters, Features(ws, worker), ws.Layers[0].OutputGradient, default, ws.Layers[0].PackedGradient, default, batch,
                share, fuse: update);
            if (update is not null) Trunk[0].Update(update, share, weightDone: fused);
            return;
        }
        // With convolutions, fc1 passes its gradient on to the features (so its update waits for the barrier).
        Trunk[0].Backward(Parameters, Features(ws, worker), ws.Layers[0].OutputGradient, ws.Stages[^1].NormalizedGradient, ws.Layers[0].PackedGradient,
            ws.Layers[0].TransposedWeights, batch, share);
        pool.Barrier();
        if (update is not null) Trunk[0].Update(update, share);
        BackwardConvolutions(ws, batch, pool, worker, update);
    }

    // Rows [b0, b1) of a narrow-tail layer's input gradient (through the ReLU before it), with this worker's own Wᵀ
    // (ws.Layers[slot].TransposedWeights), then the dropout's scale on those rows.
    private void BackwardInputRows(Linear layer, int slot, FloatBuffer x, FloatBuffer dy, FloatBuffer dx, Workspace ws, int b0, int b1, int worker, bool dropout)
    {
        int size = layer.In * layer.Out;
        layer.BackwardInputRows(Parameters, x, dy, dx, ws.Layers[slot].TransposedWeights.AsSpan(worker * size, size), b0, b1);
        if (dropout && b0 < b1) Activations.DropoutScale(dx, layer.In, b0, b1, 0, layer.In, Config.Dropout);
    }

    // A narrow-tail layer's share of dW and db once its input gradient is done, with momentum SGD folded in.
    private void WeightGradient(Linear layer, FloatBuffer x, FloatBuffer dy, LinearBuffers buffers, int batch, int worker, int workers, IParameterUpdate? update)
    {
        var share = StepSchedule.Share(layer, batch, worker, workers);
        bool fused = layer.Backward(Parameters, x, dy, default, buffers.PackedGradient, default, batch, share, fuse: update);
        if (update is not null) layer.Update(update, share, fused);
    }

    // One layer's backward, through the ReLU that precedes it (dx = dy·Wᵀ where x > 0), then the dropout's scale; after
    // the barrier (every worker's columns of dx done, so nobody reads W any more), this worker's share of the update.
    private void Backward(Linear layer, FloatBuffer x, FloatBuffer dy, FloatBuffer dx, LinearBuffers buffers, int batch, WorkerPool pool, int worker,
        bool dropout, IParameterUpdate? update)
    {
        var share = StepSchedule.Share(layer, batch, worker, pool.Count);
        layer.Backward(Parameters, x, dy, dx, buffers.PackedGradient, buffers.TransposedWeights, batch, share, reluInput: true);
        if (dropout && share.InputStart < share.InputEnd) Activations.DropoutScale(dx, layer.In, 0, batch, share.InputStart, share.InputEnd, Config.Dropout);
        pool.Barrier();
        if (update is not null) layer.Update(update, share);
    }

    // d features (B, FeatureSize) -> gradients of every convolution, last stage first. Per stage after the first: this
    // worker's samples get the pool+ReLU backward and the input gradient (dx = col2im(dy·Wᵀ)); after a barrier, this
    // worker's rows of dW = colsᵀ·dy over the whole batch, then their update (nobody reads this W any more). The first
    // stage takes its dW and db from the pooling's winners.
    private void BackwardConvolutions(Workspace ws, int batch, WorkerPool pool, int worker, IParameterUpdate? update)
    {
        int workers = pool.Count;
        var (b0, b1) = StepSchedule.Rows(batch, worker, workers);
        for (int l = Convolutions.Count - 1; l >= 0; l--)
        {
            var conv = Convolutions[l];
            var stage = ws.Stages[l];
            var (c0, c1) = StepSchedule.BiasChannels(conv, worker, workers);
            var normed = Norms.Count > 0 ? BackwardNorm(ws, l, batch, b0, b1, pool, worker) : default;
            if (l == 0)
            {
                if (Norms.Count > 0) pool.Barrier(); // the winners' dW reads every sample's pooled gradient
                // The first stage passes no gradient on: its dW and db come straight from the pooling's winners (every
                // worker's share of the pooled gradient is written: the barriers of the stage above, or fc1's, saw to it).
                conv.WeightGradientFromWinners(Parameters, ws.Input, stage.PooledGradient, stage.Winners, stage.WeightScratch, batch, c0, c1);
                pool.Barrier();
                if (worker == 0) conv.TransposeWeightGradient(Parameters, stage.WeightScratch);
                UpdateNorm(l, normed, update);
                if (update is null) break;
                if (worker == 0) update.Apply(conv.Weight, 0, conv.Depth * conv.OutChannels);
                if (c0 < c1) update.Apply(conv.Bias, c0, c1 - c0);
                break;
            }
            MaxPool2d.Backward(stage.Output, stage.Pooled, stage.PooledGradient, stage.OutputGradient, conv.OutHeight, conv.OutWidth, conv.OutChannels, b0, b1);
            IndexOutputGradient(ws, l, batch, b0, b1);
            conv.BackwardInputSparse(stage.TransposedWeight, stage.OutputGradient, stage.GradientMasks, stage.InputLists, stage.InputCounts,
                stage.ColumnGradient, ws.Stages[l - 1].NormalizedGradient, b0, b1);
            pool.Barrier();
            ListOutputGradientPixels(ws, l, batch, worker, workers);
            pool.Barrier();
            UpdateNorm(l, normed, update);
            conv.BiasGradient(Parameters, stage.OutputGradient, batch, c0, c1);
            int w0 = 0, w1 = 0; // the dW rows this worker hands to the update
            if (StepSchedule.SplitsPanels(conv, workers))
            {
                // A panel-split weight gradient reads each pixel's im2col row from the pooled input itself.
                (w0, w1) = StepSchedule.WeightPanels(conv, worker, workers);
                conv.WeightGradientPanels(Parameters, default, stage.OutputGradient, stage.WeightScratch, batch, w0, w1,
                    stage.WeightLists, stage.WeightCounts, ws.Stages[l - 1].Normalized, stage.RowOffsets);
            }
            else
            {
                if (stage.Columns.Length == 0)
                    throw new InvalidOperationException($"This workspace was sized for {ws.Workers} worker(s); conv{l + 1}'s weight gradient needs its im2col rows with {workers}.");
                var (o0, o1) = StepSchedule.WeightChannels(conv, worker, workers);
                conv.WeightGradientChannels(stage.Columns, stage.OutputGradient, stage.WeightScratch, batch, o0, o1, stage.WeightLists, stage.WeightCounts);
                pool.Barrier();
                if (worker == 0) (w0, w1) = (0, conv.Depth);
                if (worker == 0) conv.TransposeWeightGradient(Parameters, stage.WeightScratch);
            }
            if (update is null) continue;
            if (w0 < w1) update.Apply(conv.Weight, w0 * conv.OutChannels, (w1 - w0) * conv.OutChannels);
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
        var (c0, c1) = StepSchedule.ListedChannels(conv, worker, workers);
        if (StepSchedule.SplitsPanels(conv, workers))
            SparseRows.ListColumns(ws.Stages[l].GradientMasks, ActiveDepth.MaskWords(conv.OutChannels), rows, c0, c1, ws.Stages[l].WeightLists, rows, ws.Stages[l].WeightCounts);
        else
            ActiveDepth.ForColumns(ws.Stages[l].GradientTileMasks, conv.OutChannels, rows, ws.Stages[l].WeightLists, ws.Stages[l].WeightCounts, c0, c1);
    }
}
