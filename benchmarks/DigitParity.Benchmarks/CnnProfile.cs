using System.Diagnostics;
using DigitParity.Engine;
using DigitParity.Model;

namespace DigitParity.Benchmarks;

/// <summary>
/// Times each phase of one CNN training step on one thread (dotnet run -c Release --project benchmarks/DigitParity.Benchmarks -- profile-cnn):
/// where the time goes, as GFLOP/s per matrix product (for products that skip zeros, the dense product's work per
/// second: what skipping saves shows as more than the machine's peak).
/// </summary>
public static class CnnProfile
{
    public static void Run(int batch = 100, int repeats = 30)
    {
        var network = new MultiTaskNetwork(ModelConfig.Cnn);
        network.Initialize(1);
        var ws = network.CreateWorkspace(batch);
        var rng = new Rng(2);
        // Real MNIST images, so that ReLU and pooling leave the zeros training sees.
        var images = DigitParity.Data.MnistFiles.Load(DigitParity.Data.MnistFiles.EmbeddedDirectory).Train;
        for (int b = 0; b < batch; b++) DigitParity.Engine.UnitFloats.FromBytes(images.Image(b * 97), ws.Input.Span.Slice(b * 784, 784));
        var store = network.Parameters;
        var (c1, c2) = (network.Convolutions[0], network.Convolutions[1]);
        using var pool = new WorkerPool(1);
        // As the network's backward does: masks of dy's rows and, for conv2's dW, per-channel lists of pixels.
        void Index(int l)
        {
            network.IndexOutputGradient(ws, l, batch, 0, batch);
            network.ListOutputGradientPixels(ws, l, batch, 0, 1);
        }
        // The earlier conv1 backward, for comparison: a dense output gradient, its index, per-tile lists.
        int rows1 = batch * c1.OutPixels;
        var dy1 = new float[rows1 * 32];
        var masks1 = new ulong[rows1 * ActiveDepth.MaskWords(32)];
        var tileMasks1 = new ulong[ActiveDepth.TileWords(32) * ActiveDepth.TileStride(rows1)];
        var lists1 = new int[ActiveDepth.Tiles(32) * rows1];
        var counts1 = new int[ActiveDepth.Tiles(32)];
        var tileLists = new int[ActiveDepth.Tiles(batch * 64) * 64];
        var tileCounts = new int[ActiveDepth.Tiles(batch * 64)];
        unsafe void SparseProduct()
        {
            fixed (float* pw = ws.Stages[1].TransposedWeight.Span, pdy = ws.Stages[1].OutputGradient.Span, pcols = ws.Stages[1].ColumnGradient.Span)
            fixed (int* plists = ws.Stages[1].InputLists, pcounts = ws.Stages[1].InputCounts)
                SparseRows.Multiply(pdy, 64, plists, 64, pcounts, batch * 64, pw, c2.Depth, pcols, c2.Depth, c2.Depth, Gemm.BestIsa);
        }
        var winogradWeights = new float[Winograd.WeightLength(c2.InChannels, c2.OutChannels)];
        var winogradScratch = new float[Winograd.WeightScratchLength(c2.InChannels, c2.OutChannels)];
        // conv1's im2col rows and full-size output, for the unfused way (the network's workspace holds neither).
        var cols1 = new float[batch * c1.OutPixels * c1.Depth];
        // The augmentations write here, so that every phase reads real digits (warping the same images in place 70 times
        // blurred them into denormal floats, which once slowed conv1 five-fold in this profile).
        var augmented = new float[batch * 784];
        var cols2 = new float[batch * c2.OutPixels * c2.Depth];
        var out1 = new float[batch * c1.OutSize];
        (string Name, double Flops, Action Work)[] phases =
        {
            ("augment (100 images)", 0, () =>
            {
                for (int b = 0; b < batch; b++)
                    DigitParity.Data.Augmentation.Default.Apply(ws.Input.Span.Slice(b * 784, 784), augmented.AsSpan(b * 784, 784), 28, 1, (ulong)b);
            }),
            ("  with --elastic 1.5", 0, () =>
            {
                var elastic = DigitParity.Data.Augmentation.Default with { Elastic = 1.5f };
                for (int b = 0; b < batch; b++) elastic.Apply(ws.Input.Span.Slice(b * 784, 784), augmented.AsSpan(b * 784, 784), 28, 1, (ulong)b);
            }),
            ("conv1 + ReLU + pool1, fused from the image", 2.0 * batch * c1.OutPixels * c1.Depth * c1.OutChannels, () => c1.ForwardPooled(store, ws.Input, ws.Stages[0].Pooled, ws.Stages[0].Winners, 0, batch, Gemm.BestIsa)),
            ("  as im2col", 0, () => c1.Im2Col(ws.Input, cols1, 0, batch)),
            ("  then conv1 forward (gemm)", 2.0 * batch * c1.OutPixels * c1.Depth * c1.OutChannels, () => Gemm.Multiply(cols1, c1.Depth, store.Value(c1.Weight), c1.OutChannels, store.Value(c1.Bias), out1, c1.OutChannels, batch * c1.OutPixels, c1.OutChannels, c1.Depth, GemmOptions.Relu)),
            ("  into one sample's output, reused", 0, () => { for (int b = 0; b < batch; b++) Gemm.Multiply(cols1.AsSpan(b * c1.OutPixels * c1.Depth), c1.Depth, store.Value(c1.Weight), c1.OutChannels, store.Value(c1.Bias), out1, c1.OutChannels, c1.OutPixels, c1.OutChannels, c1.Depth, GemmOptions.Relu); }),
            ("  then pool1 forward (with the winners)", 0, () => MaxPool2d.Forward(out1, ws.Stages[0].Pooled, 24, 24, 32, 0, batch, winners: ws.Stages[0].Winners)),
            ("  conv2 im2col (weight gradient from rows)", 0, () => c2.Im2Col(ws.Stages[0].Pooled, cols2, 0, batch)),
            ("  as im2col rows times W (gemm)", 2.0 * batch * c2.OutPixels * c2.Depth * c2.OutChannels, () => Gemm.Multiply(cols2, c2.Depth, store.Value(c2.Weight), c2.OutChannels, store.Value(c2.Bias), ws.Stages[1].Output, c2.OutChannels, batch * c2.OutPixels, c2.OutChannels, c2.Depth, GemmOptions.Relu)),
            ("conv2 forward (Winograd F(4x4,5x5))", 2.0 * batch * c2.OutPixels * c2.Depth * c2.OutChannels, () => c2.Forward(store, ws.Stages[0].Pooled, cols2, ws.Stages[1].Output, 0, batch, keepColumns: false)),
            ("  of which the weight transform", 0, () => Winograd.TransformWeights(store.Value(c2.Weight), c2.InChannels, c2.OutChannels, winogradWeights, winogradScratch)),
            ("pool2 forward", 0, () => MaxPool2d.Forward(ws.Stages[1].Output, ws.Stages[1].Pooled, 8, 8, 64, 0, batch)),
            ("pool2 backward", 0, () => MaxPool2d.Backward(ws.Stages[1].Output, ws.Stages[1].Pooled, ws.Stages[1].PooledGradient, ws.Stages[1].OutputGradient, 8, 8, 64, 0, batch)),
            ("conv2 index dy (zeros to skip)", 0, () => Index(1)),
            ("conv2 dx (per-pixel sparse rows + col2im)", 2.0 * batch * c2.OutPixels * c2.Depth * c2.OutChannels, () => c2.BackwardInputSparse(ws.Stages[1].TransposedWeight, ws.Stages[1].OutputGradient, ws.Stages[1].GradientMasks, ws.Stages[1].InputLists, ws.Stages[1].InputCounts, ws.Stages[1].ColumnGradient, ws.Stages[0].PooledGradient, 0, batch)),
            ("  as the tiled product skipping zeros", 2.0 * batch * c2.OutPixels * c2.Depth * c2.OutChannels, () => { Index(1); ActiveDepth.ForRows(ws.Stages[1].GradientMasks, batch * 64, 64, tileLists, tileCounts, 0, ActiveDepth.Tiles(batch * 64)); c2.BackwardInput(ws.Stages[1].TransposedWeight, ws.Stages[1].OutputGradient, ws.Stages[1].ColumnGradient, ws.Stages[0].PooledGradient, 0, batch, tileLists, tileCounts); }),
            ("  of which the row lists", 0, () => SparseRows.List(ws.Stages[1].GradientMasks, ActiveDepth.MaskWords(64), 0, batch * 64, ws.Stages[1].InputLists, 64, ws.Stages[1].InputCounts)),
            ("  of which the sparse product", 0, () => SparseProduct()),
            ("  without skipping zeros", 2.0 * batch * c2.OutPixels * c2.Depth * c2.OutChannels, () => c2.BackwardInput(ws.Stages[1].TransposedWeight, ws.Stages[1].OutputGradient, ws.Stages[1].ColumnGradient, ws.Stages[0].PooledGradient, 0, batch)),
            ("  of which col2im", 0, () => c2.Col2ImAdd(ws.Stages[1].ColumnGradient, ws.Stages[0].PooledGradient, 0, batch)),
            ("conv2 dW (dWᵀ = dyᵀ·x's windows)", 2.0 * batch * c2.OutPixels * c2.Depth * c2.OutChannels, () => c2.WeightGradientPanels(store, default, ws.Stages[1].OutputGradient, ws.Stages[1].WeightScratch, batch, 0, c2.Depth, ws.Stages[1].WeightLists, ws.Stages[1].WeightCounts, ws.Stages[0].Pooled.Span, ws.Stages[1].RowOffsets)),
            ("  from im2col rows (conv2 im2col first)", 2.0 * batch * c2.OutPixels * c2.Depth * c2.OutChannels, () => c2.WeightGradientPanels(store, cols2, ws.Stages[1].OutputGradient, ws.Stages[1].WeightScratch, batch, 0, c2.Depth, ws.Stages[1].WeightLists, ws.Stages[1].WeightCounts)),
            ("  without skipping zeros", 2.0 * batch * c2.OutPixels * c2.Depth * c2.OutChannels, () => c2.BackwardWeights(store, cols2, ws.Stages[1].OutputGradient, ws.Stages[1].WeightScratch, batch)),
            ("conv1 dW and db from the pooling winners", 2.0 * batch * c1.OutPixels * c1.Depth * c1.OutChannels, () => c1.WeightGradientFromWinners(store, ws.Input, ws.Stages[0].PooledGradient, ws.Stages[0].Winners, ws.Stages[0].WeightScratch, batch, 0, c1.OutChannels)),
            ("  dense: pool1 backward, index dy, dW per 5-channel tile", 0, () =>
            {
                MaxPool2d.Backward(out1, ws.Stages[0].Pooled, ws.Stages[0].PooledGradient, dy1, 24, 24, 32, 0, batch);
                ActiveDepth.IndexRows(dy1, rows1, 32, 0, rows1, masks1, tileMasks1);
                ActiveDepth.ForColumns(tileMasks1, 32, rows1, lists1, counts1, 0, ActiveDepth.Tiles(32));
                c1.WeightGradientChannels(cols1, dy1, ws.Stages[0].WeightScratch, batch, 0, c1.OutChannels, lists1, counts1);
            }),
        };
        // The alternative to im2col: a direct convolution as K·K shifted products over the whole batch read as one
        // long image (output row r reads input pixel r + ky·W + kx), into a full-width buffer, then the valid pixels.
        int side = c2.InWidth, fullRows = batch * side * side;
        var full = new float[fullRows * c2.OutChannels];
        var direct = new float[batch * c2.OutSize];
        void Direct()
        {
            Array.Clear(full);
            ReadOnlySpan<float> x = ws.Stages[0].Pooled.Span, w = store.Value(c2.Weight);
            for (int ky = 0; ky < c2.Kernel; ky++)
                for (int kx = 0; kx < c2.Kernel; kx++)
                {
                    int shift = ky * side + kx, block = (ky * c2.Kernel + kx) * c2.InChannels;
                    Gemm.Multiply(x[(shift * c2.InChannels)..], c2.InChannels, w[(block * c2.OutChannels)..], c2.OutChannels, default,
                        full, c2.OutChannels, fullRows - shift, c2.OutChannels, c2.InChannels, GemmOptions.Accumulate);
                }
            for (int b = 0; b < batch; b++)
                for (int oy = 0; oy < c2.OutHeight; oy++)
                    full.AsSpan(((b * side + oy) * side) * c2.OutChannels, c2.OutWidth * c2.OutChannels)
                        .CopyTo(direct.AsSpan(((b * c2.OutHeight + oy) * c2.OutWidth) * c2.OutChannels));
        }
        phases = [.. phases, ("conv2 forward, direct (25 GEMMs)", 2.0 * batch * c2.OutPixels * c2.Depth * c2.OutChannels, Direct)];
        var gradient = ws.Stages[1].PooledGradient.Span;
        for (int i = 0; i < gradient.Length; i++) gradient[i] = rng.NextUniform(1f);
        // Every phase 40 times first, so that tiered compilation has promoted all the code (a phase timed on tier-0
        // code measured up to 2.5x slower than in training).
        for (int round = 0; round < 2; round++)
            foreach (var (_, _, work) in phases)
                for (int r = 0; r < 20; r++) work();
        Thread.Sleep(200);
        double total = 0, last = 0;
        foreach (var (name, flops, work) in phases)
        {
            var clock = Stopwatch.StartNew();
            for (int r = 0; r < repeats; r++) work();
            double us = clock.Elapsed.TotalMicroseconds / repeats;
            if (!name.StartsWith(' ')) total += us;
            last = us;
            Console.WriteLine($"{name,-32} {us,9:0} µs{(flops > 0 ? $"  {flops / us / 1e3,6:0.0} GFLOP/s" : "")}");
        }
        Console.WriteLine($"{"total (one thread)",-32} {total - last,9:0} µs  = {batch / (total - last) * 1e6:0} samples/s");
        var dy2 = ws.Stages[1].OutputGradient.Span[..(batch * c2.OutSize)];
        int nonZero = 0;
        foreach (float v in dy2) if (v != 0) nonZero++;
        Console.WriteLine($"conv2 output gradient: {100.0 * nonZero / dy2.Length:0.0} % non-zero ({(double)nonZero / (batch * c2.OutPixels):0.0} channels a pixel)");
        // The direct result must be the im2col one before ReLU and bias: compare on the pre-activation.
        Gemm.Multiply(cols2, c2.Depth, store.Value(c2.Weight), c2.OutChannels, default, ws.Stages[1].Output, c2.OutChannels,
            batch * c2.OutPixels, c2.OutChannels, c2.Depth, GemmOptions.None);
        double diff = 0;
        for (int i = 0; i < direct.Length; i++) diff = Math.Max(diff, Math.Abs(direct[i] - ws.Stages[1].Output.Span[i]));
        Console.WriteLine($"direct vs im2col, largest difference: {diff:E1}");
    }
}
