using DigitParity.Engine;

namespace DigitParity.Model;

/// <summary>
/// The part of a fully connected layer's work one worker does in a step. A layer of one panel (<see cref="ByRows"/>)
/// splits the batch: the worker computes rows [Start, End) of y, then dW rows [InputStart, InputEnd) over the whole
/// batch (and db when <see cref="SumsBias"/>). A wider layer splits its output columns in whole panels: the worker
/// computes columns [Start, End) of y, dW and db for every row. Either way it computes dx columns [InputStart, InputEnd).
/// </summary>
internal readonly record struct LinearShare(bool ByRows, int Start, int End, int InputStart, int InputEnd, bool SumsBias)
{
    /// <summary>The whole layer, on one worker.</summary>
    public static LinearShare All(Linear layer, int batch) => StepSchedule.Share(layer, batch, 0, 1);
}

/// <summary>
/// Who computes what in a parallel step: each worker's rows, panels and channels of every layer, and where two layers
/// need a barrier between them. The layers' Forward and Backward compute the share they are given and know nothing of
/// workers; MultiTaskNetwork's step runs them in this order, with these barriers. Every share is a whole number of
/// granules (5-row tiles, 64-column panels, 16 inputs, 8 channels), so the kernels stay vector-aligned, and every element
/// is summed by one worker in a fixed order, so the bits do not depend on the split.
/// </summary>
internal static class StepSchedule
{
    /// <summary>The rows of a batch a worker fills or computes (whole 5-row tiles).</summary>
    public static (int Start, int End) Rows(int batch, int worker, int workers) => Partition.Share(batch, Gemm.TileRows, worker, workers);

    /// <summary>A one-panel layer is split between workers by rows, not panels, so that every worker has a share.</summary>
    public static bool SplitsRows(Linear layer, int workers) => workers > 1 && layer.Out <= Linear.PanelWidth;

    /// <summary>This worker's part of <paramref name="layer"/> for a batch of <paramref name="batch"/>.</summary>
    public static LinearShare Share(Linear layer, int batch, int worker, int workers)
    {
        var (i0, i1) = Partition.Share(layer.In, 16, worker, workers);
        if (SplitsRows(layer, workers))
        {
            var (b0, b1) = Rows(batch, worker, workers);
            return new LinearShare(ByRows: true, b0, b1, i0, i1, SumsBias: worker == 0);
        }
        var (j0, j1) = Partition.Share(layer.Out, Linear.PanelWidth, worker, workers);
        return new LinearShare(ByRows: false, j0, j1, i0, i1, SumsBias: j0 < j1);
    }

    /// <summary>Whether a barrier must separate two consecutive layers' forward passes: unless both split the rows the same way, each reads others' output.</summary>
    public static bool BarrierBetween(Linear below, Linear above, int workers) => !(SplitsRows(below, workers) && SplitsRows(above, workers));

    /// <summary>
    /// The first trunk layer (≥ 1) of the narrow tail: the heads and every trunk layer above it split the batch's rows
    /// between the workers. trunk.Count when only the heads do; trunk.Count + 1 when not even they do (one worker).
    /// </summary>
    public static int NarrowTail(IReadOnlyList<Linear> trunk, Linear heads, int workers)
    {
        if (!SplitsRows(heads, workers)) return trunk.Count + 1;
        int tail = trunk.Count;
        while (tail > 1 && SplitsRows(trunk[tail - 1], workers)) tail--;
        return tail;
    }

    /// <summary>A convolution whose weight gradient splits its K·K·C rows in panels (wide layers) instead of its output channels.</summary>
    public static bool SplitsPanels(Conv2d conv, int workers) => conv.Depth >= Linear.PanelWidth * workers;

    /// <summary>The rows of dW (K·K·C) a worker computes for a panel-split convolution (whole panels).</summary>
    public static (int Start, int End) WeightPanels(Conv2d conv, int worker, int workers) => Partition.Share(conv.Depth, Linear.PanelWidth, worker, workers);

    /// <summary>The output channels of dWᵀ a worker computes for a channel-split convolution (whole 5-channel tiles).</summary>
    public static (int Start, int End) WeightChannels(Conv2d conv, int worker, int workers) => Partition.Share(conv.OutChannels, Gemm.TileRows, worker, workers);

    /// <summary>The bias channels a worker sums and updates (whole groups of 8); the first stage's winners' gradient splits its channels the same way.</summary>
    public static (int Start, int End) BiasChannels(Conv2d conv, int worker, int workers) => Partition.Share(conv.OutChannels, 8, worker, workers);

    /// <summary>The channels (panel-split) or 5-channel tiles (channel-split) whose non-zero pixels a worker lists for dW.</summary>
    public static (int Start, int End) ListedChannels(Conv2d conv, int worker, int workers) =>
        SplitsPanels(conv, workers)
            ? Partition.Share(conv.OutChannels, 1, worker, workers)
            : Partition.Share(ActiveDepth.Tiles(conv.OutChannels), 1, worker, workers);
}
