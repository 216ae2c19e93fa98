using DigitParity.Engine;

namespace DigitParity.Model;

// The forward pass: im2col rows times W, or Winograd's F(4×4, 5×5).
internal sealed partial class Conv2d
{
    /// <summary>Whether the forward pass runs as Winograd's F(4×4, 5×5) (a 5 × 5 kernel, output sides in multiples of 4, channels in multiples of 8).</summary>
    public bool UsesWinograd => Winograd.Supports(Kernel, OutHeight, OutWidth, InChannels, OutChannels);

    // Per thread: the transformed weights, the transform's scratch and one chunk's tiles (sized on first use, then reused).
    [ThreadStatic] private static float[]? t_winograd;

    // Per thread: the stage and the weights (their bits) that t_winograd's transformed weights were computed from, and
    // the parameters' FloatBuffer.Writes when the output channels [t_checkedFrom, t_checkedTo) last matched those bits.
    [ThreadStatic] private static Conv2d? t_transformedFor;
    [ThreadStatic] private static int[]? t_transformedFrom;
    [ThreadStatic] private static long t_checkedWrites;
    [ThreadStatic] private static int t_checkedFrom, t_checkedTo;

    // x: (B, H, W, C) -> y: (B, OH, OW, OC) = ReLU(cols·W + b) for samples [b0, b1); cols is scratch of the same rows.
    // (Interleaving im2col and the product 1 MB at a time, as BackwardInput does, measured no faster here.)
    // A stage that UsesWinograd computes y with F(4×4, 5×5) instead (6.25× fewer multiplications), and writes cols only
    // if keepColumns (the weight gradient of a stage that does not split it by panels reads them). Its weights are
    // transformed again whenever they differ from those the thread last transformed for this stage: every training
    // step, but once for a run of predictions, where the transform would cost as much as a batch of one.
    // Output channels [o0, o1) only (Winograd's path; multiples of 8), to split one image between workers.
    internal void Forward(ParameterStore store, ReadOnlySpan<float> x, Span<float> cols, Span<float> y, int b0, int b1, bool relu = true,
        bool keepColumns = true, int o0 = 0, int o1 = -1)
    {
        if (b0 >= b1) return;
        if ((o0 != 0 || o1 >= 0 && o1 != OutChannels) && !UsesWinograd) throw new ArgumentException("Only a Winograd stage computes a range of its channels.");
        if (UsesWinograd)
        {
            if (keepColumns) Im2Col(x, cols, b0, b1);
            int weights = Winograd.WeightLength(InChannels, OutChannels), transform = Winograd.WeightScratchLength(InChannels, OutChannels);
            int tiles = Math.Min(b1 - b0, Winograd.ChunkSamples(InHeight, InWidth, InChannels, OutChannels))
                * Winograd.ScratchPerSample(InHeight, InWidth, InChannels, OutChannels);
            if (t_winograd is null || t_winograd.Length < weights + transform + tiles) (t_winograd, t_transformedFor) = (new float[weights + transform + tiles], null);
            Span<float> scratch = t_winograd, u = scratch[..weights];
            var w = System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(store.Read(Weight));
            if (o1 < 0) o1 = OutChannels;
            // Nothing can have written the parameters since these channels last matched: no need to read them again.
            long writes = store.Values.Writes;
            bool unwritten = ReferenceEquals(t_transformedFor, this) && t_checkedWrites == writes && t_checkedFrom <= o0 && o1 <= t_checkedTo;
            if (!unwritten)
            {
                if (!ReferenceEquals(t_transformedFor, this) || !SameColumns(w, t_transformedFrom, o0, o1))
                {
                    t_transformedFor = null; // until u holds this stage's transform
                    Winograd.TransformWeights(store.Read(Weight), InChannels, OutChannels, u, scratch.Slice(weights, transform));
                    if (t_transformedFrom?.Length != w.Length) t_transformedFrom = new int[w.Length];
                    w.CopyTo(t_transformedFrom);
                    t_transformedFor = this;
                    (t_checkedFrom, t_checkedTo) = (0, OutChannels); // the whole transform matches every channel
                }
                else (t_checkedFrom, t_checkedTo) = (o0, o1);
                t_checkedWrites = writes;
            }
            Winograd.Forward(x, InHeight, InWidth, InChannels, u, store.Read(Bias), OutChannels, y, b0, b1, relu, scratch[(weights + transform)..], o0, o1);
            return;
        }
        Im2Col(x, cols, b0, b1);
        int r0 = b0 * OutPixels, rows = (b1 - b0) * OutPixels;
        Gemm.Multiply(cols[(r0 * Depth)..], Depth, store.Read(Weight), OutChannels, store.Read(Bias), y[(r0 * OutChannels)..], OutChannels,
            rows, OutChannels, Depth, relu ? GemmOptions.Relu : GemmOptions.None);
    }

    // Whether output channels [o0, o1) of W (K·K·C, OC) hold the bits of `from`: the transformed weights of those
    // channels depend on their own columns only, so a worker that computes a range of channels checks only those (half
    // the reading at batch 1 on two workers, where the check costs as much as the transforms).
    private bool SameColumns(ReadOnlySpan<int> w, int[]? from, int o0, int o1)
    {
        if (from is null || from.Length != w.Length) return false;
        if (o0 == 0 && o1 == OutChannels) return w.SequenceEqual(from);
        for (int row = 0; row < Depth; row++)
            if (!w.Slice(row * OutChannels + o0, o1 - o0).SequenceEqual(from.AsSpan(row * OutChannels + o0, o1 - o0))) return false;
        return true;
    }
}
