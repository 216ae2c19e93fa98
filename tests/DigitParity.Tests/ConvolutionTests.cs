using DigitParity.Data;
using DigitParity.Engine;
using DigitParity.Model;
using DigitParity.Tasks;

namespace DigitParity.Tests;

/// <summary>The convolutional layers against naive double-precision references and finite differences.</summary>
public sealed class ConvolutionTests
{
    // Naive valid convolution, channels last, W in (ky, kx, c, oc) order; then ReLU (unless relu is false).
    internal static double[] Conv(double[] x, int side, int c, double[] w, double[] b, int k, int oc, bool relu = true, int? width = null)
    {
        int o = side - k + 1, cols = (width ?? side) - k + 1, stride = width ?? side;
        var y = new double[o * cols * oc];
        for (int oy = 0; oy < o; oy++)
            for (int ox = 0; ox < cols; ox++)
                for (int j = 0; j < oc; j++)
                {
                    double s = b[j];
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++)
                            for (int i = 0; i < c; i++) s += x[((oy + ky) * stride + ox + kx) * c + i] * w[((ky * k + kx) * c + i) * oc + j];
                    y[(oy * cols + ox) * oc + j] = relu ? Math.Max(0, s) : s;
                }
        return y;
    }

    internal static double[] Pool(double[] x, int side, int c)
    {
        int o = side / 2;
        var y = new double[o * o * c];
        for (int py = 0; py < o; py++)
            for (int px = 0; px < o; px++)
                for (int i = 0; i < c; i++)
                {
                    double m = double.NegativeInfinity;
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++) m = Math.Max(m, x[((2 * py + dy) * side + 2 * px + dx) * c + i]);
                    y[(py * o + px) * c + i] = m;
                }
        return y;
    }

    // im2col copies each kernel row's run of K·C floats (5 for conv1 on MNIST) into the sample's rows only.
    [Theory]
    [InlineData(1, 5, 28, 28)]
    [InlineData(1, 4, 9, 8)]
    [InlineData(1, 4, 9, 7)]
    [InlineData(2, 3, 6, 6)]
    [InlineData(3, 5, 11, 9)]
    public void Im2ColHoldsEveryWindowInKernelRowOrder(int channels, int kernel, int height, int width)
    {
        var conv = new Conv2d(new ParameterLayout(), "c", channels, 8, kernel, height, width);
        const int batch = 3;
        float[] x = GemmTests.Random(new Rng(8), batch * conv.InSize);
        var cols = new float[batch * conv.OutPixels * conv.Depth];
        conv.Im2Col(x, cols, 1, batch); // samples 1-2: sample 0's rows stay 0
        Assert.All(cols.Take(conv.OutPixels * conv.Depth), v => Assert.Equal(0f, v));
        // Nothing is written past a range's end either (another worker's rows lie there).
        var first = new float[cols.Length];
        conv.Im2Col(x, first, 0, 1);
        Assert.All(first.Skip(conv.OutPixels * conv.Depth), v => Assert.Equal(0f, v));
        var all = new float[cols.Length];
        conv.Im2Col(x, all, 0, batch);
        Assert.Equal(all.Take(conv.OutPixels * conv.Depth), first.Take(conv.OutPixels * conv.Depth));
        Assert.Equal(all.Skip(conv.OutPixels * conv.Depth), cols.Skip(conv.OutPixels * conv.Depth));
        for (int b = 1; b < batch; b++)
            for (int oy = 0; oy < conv.OutHeight; oy++)
                for (int ox = 0; ox < conv.OutWidth; ox++)
                    for (int ky = 0; ky < kernel; ky++)
                        for (int kx = 0; kx < kernel; kx++)
                            for (int c = 0; c < channels; c++)
                            {
                                int row = (b * conv.OutHeight + oy) * conv.OutWidth + ox;
                                Assert.Equal(x[b * conv.InSize + ((oy + ky) * width + ox + kx) * channels + c], cols[row * conv.Depth + (ky * kernel + kx) * channels + c]);
                            }
    }

    // F(4x4, 5x5) Winograd against the naive double-precision convolution: every output pixel of the samples asked
    // for (others untouched), with and without ReLU, chunks of several samples and a last partial chunk.
    [Theory]
    [InlineData(8, 8, 8, 8, 3, false)]
    [InlineData(8, 16, 12, 8, 2, true)]
    [InlineData(32, 64, 12, 12, 13, true)]
    public void WinogradMatchesTheNaiveConvolution(int channels, int outChannels, int height, int width, int batch, bool relu)
    {
        var rng = new Rng(21);
        int outHeight = height - 4, outWidth = width - 4, inSize = height * width * channels, outSize = outHeight * outWidth * outChannels;
        Assert.True(Winograd.Supports(5, outHeight, outWidth, channels, outChannels));
        float[] x = GemmTests.Random(rng, batch * inSize), w = GemmTests.Random(rng, 25 * channels * outChannels), bias = GemmTests.Random(rng, outChannels);
        var u = new float[Winograd.WeightLength(channels, outChannels)];
        Winograd.TransformWeights(w, channels, outChannels, u, new float[Winograd.WeightScratchLength(channels, outChannels)]);
        var y = new float[batch * outSize];
        Array.Fill(y, float.NaN);
        int chunk = Winograd.ChunkSamples(height, width, channels, outChannels);
        var scratch = new float[Math.Min(batch, chunk) * Winograd.ScratchPerSample(height, width, channels, outChannels)];
        Winograd.Forward(x, height, width, channels, u, bias, outChannels, y, 1, batch, relu, scratch);
        Assert.All(y.Take(outSize), v => Assert.True(float.IsNaN(v)));
        double worst = 0, scale = 0;
        double[] wd = w.Select(v => (double)v).ToArray(), bd = bias.Select(v => (double)v).ToArray();
        for (int b = 1; b < batch; b++)
        {
            double[] reference = Conv(x.Skip(b * inSize).Take(inSize).Select(v => (double)v).ToArray(), height, channels, wd, bd, 5, outChannels, relu, width);
            for (int i = 0; i < outSize; i++)
            {
                worst = Math.Max(worst, Math.Abs(reference[i] - y[b * outSize + i]));
                scale = Math.Max(scale, Math.Abs(reference[i]));
            }
        }
        // float32 through the transforms: a few ulps of the largest output, far below what training notices.
        Assert.True(worst < 1e-5 * Math.Max(1, scale), $"largest difference {worst:E2} (outputs up to {scale:F2})");
    }

    // Conv2d.Forward against the naive reference: through im2col (3 -> 70 channels: two kernel panels, a masked edge) and
    // through Winograd (the CNN's second stage), which in training still writes the im2col rows when asked to.
    [Theory]
    [InlineData(3, 70, 11, 9, false, true)]
    [InlineData(32, 64, 12, 12, true, true)]
    [InlineData(32, 64, 12, 12, true, false)]
    public void ConvolutionForwardMatchesTheNaiveReference(int channels, int outChannels, int height, int width, bool relu, bool keepColumns)
    {
        var layout = new ParameterLayout();
        var conv = new Conv2d(layout, "c", channels, outChannels, 5, height, width);
        Assert.Equal(channels == 32, conv.UsesWinograd);
        var store = new ParameterStore(layout);
        var rng = new Rng(5);
        conv.Initialize(store, rng);
        const int batch = 7;
        float[] x = GemmTests.Random(rng, batch * conv.InSize);
        var cols = new float[batch * conv.OutPixels * conv.Depth];
        var y = new float[batch * conv.OutSize];
        conv.Forward(store, x, cols, y, 0, batch, relu, keepColumns);
        var expected = new float[cols.Length];
        if (keepColumns || !conv.UsesWinograd) conv.Im2Col(x, expected, 0, batch);
        Assert.Equal(expected, cols);
        double[] w = store.Value(conv.Weight).ToArray().Select(v => (double)v).ToArray(), bias = store.Value(conv.Bias).ToArray().Select(v => (double)v).ToArray();
        for (int b = 0; b < batch; b++)
        {
            double[] reference = Conv(x.Skip(b * conv.InSize).Take(conv.InSize).Select(v => (double)v).ToArray(), height, channels, w, bias, 5, outChannels, relu, width);
            for (int i = 0; i < reference.Length; i++)
                Assert.True(Math.Abs(reference[i] - y[b * conv.OutSize + i]) < 1e-5, $"y[{b}, {i}]: {y[b * conv.OutSize + i]} vs {reference[i]}");
        }
    }

    // Two workers each compute half of one image's channels: the halves are the whole forward's bits, and a worker
    // whose channels' weights changed since its last transform transforms them again (a change elsewhere does not
    // concern it), as the naive reference of the new weights shows.
    [Fact]
    public void WinogradChannelRangesGiveTheWholeBitsAndFollowTheirWeights()
    {
        var layout = new ParameterLayout();
        var conv = new Conv2d(layout, "c", 32, 64, 5, 12, 12);
        Assert.True(conv.UsesWinograd);
        var store = new ParameterStore(layout);
        var rng = new Rng(6);
        conv.Initialize(store, rng);
        float[] x = GemmTests.Random(rng, 2 * conv.InSize);
        var whole = new float[2 * conv.OutSize];
        var halves = new float[whole.Length];
        conv.Forward(store, x, default, whole, 0, 2, keepColumns: false);
        conv.Forward(store, x, default, halves, 0, 2, keepColumns: false, o0: 0, o1: 32);
        conv.Forward(store, x, default, halves, 0, 2, keepColumns: false, o0: 32, o1: 64);
        Assert.Equal(whole, halves);

        // A weight of channel 40 changes: the first half still answers for the old weights it does not read, the second
        // half transforms again.
        store.Value(conv.Weight)[3 * 64 + 40] += 0.5f;
        conv.Forward(store, x, default, halves, 0, 2, keepColumns: false, o0: 0, o1: 32);
        conv.Forward(store, x, default, halves, 0, 2, keepColumns: false, o0: 32, o1: 64);
        double[] w = store.Value(conv.Weight).ToArray().Select(v => (double)v).ToArray(), bias = store.Value(conv.Bias).ToArray().Select(v => (double)v).ToArray();
        for (int b = 0; b < 2; b++)
        {
            double[] reference = Conv(x.Skip(b * conv.InSize).Take(conv.InSize).Select(v => (double)v).ToArray(), 12, 32, w, bias, 5, 64);
            for (int i = 0; i < reference.Length; i++)
                Assert.True(Math.Abs(reference[i] - halves[b * conv.OutSize + i]) < 1e-5, $"y[{b}, {i}]: {halves[b * conv.OutSize + i]} vs {reference[i]}");
        }
        Assert.NotEqual(whole, halves);

        // A change in channel 50, then the first half (which finds its channels as they were), then every channel: the
        // whole forward must not take the first half's check for its own.
        store.Value(conv.Weight)[7 * 64 + 50] -= 0.25f;
        conv.Forward(store, x, default, halves, 0, 2, keepColumns: false, o0: 0, o1: 32);
        conv.Forward(store, x, default, whole, 0, 2, keepColumns: false);
        w = store.Value(conv.Weight).ToArray().Select(v => (double)v).ToArray();
        for (int b = 0; b < 2; b++)
        {
            double[] reference = Conv(x.Skip(b * conv.InSize).Take(conv.InSize).Select(v => (double)v).ToArray(), 12, 32, w, bias, 5, 64);
            for (int i = 0; i < reference.Length; i++)
                Assert.True(Math.Abs(reference[i] - whole[b * conv.OutSize + i]) < 1e-5, $"y[{b}, {i}]: {whole[b * conv.OutSize + i]} vs {reference[i]}");
        }
        // Reading the weights is no write: the next forward gives the same bits.
        var again = new float[whole.Length];
        _ = store.Read(conv.Weight)[0];
        conv.Forward(store, x, default, again, 0, 2, keepColumns: false);
        Assert.Equal(whole, again);
    }

    [Fact]
    public void WinogradRejectsShapesItCannotTile()
    {
        Assert.False(Winograd.Supports(3, 8, 8, 8, 8));
        Assert.False(Winograd.Supports(5, 6, 8, 8, 8));
        Assert.False(Winograd.Supports(5, 8, 8, 1, 32));
        Assert.False(Winograd.Supports(5, 8, 8, 32, 70));
        var y = new float[24 * 24 * 32];
        Assert.Throws<ArgumentException>(() => Winograd.Forward(new float[28 * 28], 28, 28, 1, new float[64 * 32], new float[32], 32, y, 0, 1, true, new float[1 << 16]));
    }

    // After max pooling most of a stage's output gradient is 0, so the backward products skip, per pixel, the channels
    // (dx) or, per channel, the pixels (dW) where it is 0, and the first stage takes its gradients from the pooling's
    // winners. Skipped steps add exactly 0: the gradients must equal the dense ones, bit for bit.
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void SparseConvolutionGradientsEqualTheDenseProductsBitForBit(int threads)
    {
        var network = new MultiTaskNetwork(ModelConfig.Cnn with { Dropout = 0 });
        network.Initialize(4);
        const int batch = 20;
        var ws = network.CreateWorkspace(batch);
        var images = TestData.Mnist.Train.Take(batch);
        new LabeledDataset(images, network.Tasks).Gather(Enumerable.Range(0, batch).ToArray(), ws.Input.Span, ws.Labels);
        using var pool = new WorkerPool(threads);
        pool.Run(new GradientCheckTests.GradientStep(network, ws, pool, batch));

        var store = network.Parameters;
        var (conv1, conv2) = (network.Convolutions[0], network.Convolutions[1]);
        float[] dx = ws.Stages[0].PooledGradient.Span.ToArray();
        float[] dw1 = store.Gradient(conv1.Weight).ToArray(), dw2 = store.Gradient(conv2.Weight).ToArray();
        float[] db1 = store.Gradient(conv1.Bias).ToArray(), db2 = store.Gradient(conv2.Bias).ToArray();
        float[] dy2 = ws.Stages[1].OutputGradient.Span.ToArray();
        Assert.True(dy2.Count(v => v == 0f) > dy2.Length / 2, "conv2's output gradient should be mostly 0 after pooling");

        conv2.BackwardInput(ws.Stages[1].TransposedWeight, ws.Stages[1].OutputGradient, ws.Stages[1].ColumnGradient, ws.Stages[0].PooledGradient, 0, batch);
        // conv2's weight gradient read its im2col rows from the pooled input; the dense reference builds them.
        Assert.Equal(0, ws.Stages[1].Columns.Length);
        var cols2 = new float[batch * conv2.OutPixels * conv2.Depth];
        conv2.Im2Col(ws.Stages[0].Pooled.Span, cols2, 0, batch);
        conv2.BackwardWeights(store, cols2, ws.Stages[1].OutputGradient, ws.Stages[1].WeightScratch, batch);
        Assert.True(dx.AsSpan().SequenceEqual(ws.Stages[0].PooledGradient.Span), "conv2 dx");
        Assert.True(dw2.AsSpan().SequenceEqual(store.Gradient(conv2.Weight)), "conv2 dW");
        Assert.True(db2.AsSpan().SequenceEqual(store.Gradient(conv2.Bias)), "conv2 db");
        // conv1 took its gradients from the pooling's winners; the dense way: pool backward, then the full product.
        // The network fused conv1 with its pooling, so its im2col rows and output are rebuilt here, the unfused way.
        var cols1 = new float[batch * conv1.OutPixels * conv1.Depth];
        var out1 = new float[batch * conv1.OutSize];
        conv1.Im2Col(ws.Input.Span, cols1, 0, batch);
        Gemm.Multiply(cols1, conv1.Depth, store.Value(conv1.Weight), conv1.OutChannels, store.Value(conv1.Bias), out1, conv1.OutChannels,
            batch * conv1.OutPixels, conv1.OutChannels, conv1.Depth, GemmOptions.Relu);
        float[] dy1 = new float[batch * conv1.OutSize];
        MaxPool2d.Backward(out1, ws.Stages[0].Pooled.Span, ws.Stages[0].PooledGradient.Span, dy1, conv1.OutHeight, conv1.OutWidth, conv1.OutChannels, 0, batch);
        Assert.True(dy1.Count(v => v != 0f) > 1000, "conv1's output gradient should not be all 0");
        conv1.BackwardWeights(store, cols1, dy1, ws.Stages[0].WeightScratch, batch);
        Assert.True(dw1.AsSpan().SequenceEqual(store.Gradient(conv1.Weight)), "conv1 dW");
        Assert.True(db1.AsSpan().SequenceEqual(store.Gradient(conv1.Bias)), "conv1 db");
    }

    // conv1 + ReLU + max pooling fused, straight from the image, on every ISA: the pooled output and the winners must be
    // the unfused way's (im2col, the product with ReLU, MaxPool2d.Forward) bit for bit — the same fma chain per output,
    // less the steps over zero pixels.
    [Theory]
    [InlineData(28, 32)]
    [InlineData(26, 64)] // 11 pooled columns: the last window of each row has no partner
    public void FusedConvolutionAndPoolingEqualTheUnfusedWayBitForBit(int side, int channels)
    {
        var layout = new ParameterLayout();
        var conv = new Conv2d(layout, "c", 1, channels, 5, side, side);
        Assert.True(conv.FusesPooling);
        var store = new ParameterStore(layout);
        var rng = new Rng(17);
        conv.Initialize(store, rng);
        const int batch = 4;
        // Real digits (blank borders, so exact ties at 0 and many windows without a winner) and one random image.
        float[] x = new float[batch * conv.InSize];
        for (int b = 0; b < batch - 1; b++)
        {
            var image = TestData.Mnist.Train.Image(b);
            for (int y = 0; y < side; y++)
                for (int i = 0; i < side; i++) x[b * conv.InSize + y * side + i] = image[y * 28 + i] / 255f;
        }
        // The random image has runs of 0 and −0 (steps the fused kernel skips) between its random pixels.
        GemmTests.Random(rng, conv.InSize).CopyTo(x, (batch - 1) * conv.InSize);
        for (int i = 0; i < conv.InSize; i++)
            if (i / 3 % 3 != 0) x[(batch - 1) * conv.InSize + i] = i % 2 == 0 ? 0f : -0f;
        var cols = new float[batch * conv.OutPixels * conv.Depth];
        var output = new float[batch * conv.OutSize];
        int pooledSize = conv.OutPixels / 4 * channels;
        var expected = new float[batch * pooledSize];
        var expectedWinners = new int[expected.Length];
        conv.Im2Col(x, cols, 0, batch);
        Gemm.Multiply(cols, conv.Depth, store.Value(conv.Weight), channels, store.Value(conv.Bias), output, channels, batch * conv.OutPixels, channels, conv.Depth, GemmOptions.Relu);
        MaxPool2d.Forward(output, expected, conv.OutHeight, conv.OutWidth, channels, 0, batch, winners: expectedWinners);
        Assert.Contains(MaxPool2d.NoWinner, expectedWinners);
        foreach (var isa in GemmTests.AvailableIsas())
        {
            var pooled = Enumerable.Repeat(float.NaN, expected.Length).ToArray();
            var winners = new int[expected.Length];
            conv.ForwardPooled(store, x, pooled, winners, 1, batch, isa); // sample 0 untouched
            Assert.All(pooled.Take(pooledSize), v => Assert.True(float.IsNaN(v)));
            Assert.True(expected.AsSpan(pooledSize).SequenceEqual(pooled.AsSpan(pooledSize)), $"{isa}: pooled");
            Assert.True(expectedWinners.AsSpan(pooledSize).SequenceEqual(winners.AsSpan(pooledSize)), $"{isa}: winners");
        }
    }

    // The small network: 13 x 13 -conv 3x3 (3)-> 11 -pool-> 5 -conv 3x3 (4)-> 3 -pool-> 1: features 4 -> fc 6 -> heads 3 + 2,
    // every parameter probed. The fast paths: 20 x 20 -conv 5x5 (32, fused with its pooling)-> 16 -pool-> 8 -conv 5x5 (16,
    // Winograd forward, weight gradient from the pooled input)-> 4 -pool-> 2: features 64 -> fc 6 -> heads, every 41st
    // weight probed (about 400 of 14,000).
    // With batch norm the loss couples the batch's samples through each stage's statistics: the reference normalizes
    // each pooled map by its channels' mean and biased variance over the batch, and the step moves the running estimates.
    [Theory]
    [InlineData(1, 13, 3, 3, 4, 1, false)]
    [InlineData(2, 13, 3, 3, 4, 1, false)]
    [InlineData(2, 20, 5, 32, 16, 41, false)]
    [InlineData(1, 17, 3, 3, 4, 1, true)]
    [InlineData(2, 17, 3, 3, 4, 1, true)]
    [InlineData(2, 20, 5, 32, 16, 41, true)]
    public void WholeCnnLossMatchesFiniteDifferences(int threads, int side0, int kernel, int channels1, int channels2, int probeStride, bool batchNorm)
    {
        TaskDefinition[] tasks = [new("a", 3, d => d % 3), new("b", 2, d => d % 2)];
        int pixels = side0 * side0;
        var config = new ModelConfig(pixels, [6], tasks) { Convolutions = [channels1, channels2], Kernel = kernel, BatchNorm = batchNorm };
        var network = new MultiTaskNetwork(config);
        Assert.Equal(kernel == 5, network.Convolutions[0].FusesPooling);
        Assert.Equal(kernel == 5, network.Convolutions[1].UsesWinograd);
        network.Initialize(11);
        var scales = new Rng(13);
        foreach (var norm in network.Norms)
        {
            // γ and β away from their initial 1 and 0, so that both enter the gradients.
            foreach (ref float g in network.Parameters.Value(norm.Weight)) g = 1 + 0.5f * scales.NextUniform(1);
            foreach (ref float b in network.Parameters.Value(norm.Bias)) b = 0.3f * scales.NextUniform(1);
        }
        const int batch = 6;
        var rng = new Rng(12);
        var ws = network.CreateWorkspace(batch);
        float[] x = GemmTests.Random(rng, batch * pixels).Select(v => Math.Abs(v)).ToArray();
        x.CopyTo(ws.Input.Span);
        for (int t = 0; t < 2; t++)
            for (int b = 0; b < batch; b++) ws.Labels[t][b] = tasks[t].LabelOf(b);
        using var pool = new WorkerPool(threads);
        var step = new GradientCheckTests.GradientStep(network, ws, pool, batch);
        pool.Run(step);

        var convs = network.Convolutions;
        var layers = network.Trunk.Append(network.Heads).ToArray();
        double[] D(Span<float> s) => s.ToArray().Select(v => (double)v).ToArray();
        var convW = convs.Select(c => D(network.Parameters.Value(c.Weight))).ToArray();
        var convB = convs.Select(c => D(network.Parameters.Value(c.Bias))).ToArray();
        var weights = layers.Select(l => l.ReadWeight(network.Parameters).Select(v => (double)v).ToArray()).ToArray();
        var biases = layers.Select(l => D(network.Parameters.Value(l.Bias))).ToArray();
        var gammas = network.Norms.Select(n => D(network.Parameters.Value(n.Weight))).ToArray();
        var betas = network.Norms.Select(n => D(network.Parameters.Value(n.Bias))).ToArray();
        var means = new double[convs.Count][];
        var variances = new double[convs.Count][];
        double Loss()
        {
            double total = 0;
            var maps = Enumerable.Range(0, batch).Select(b => x.Skip(b * pixels).Take(pixels).Select(v => (double)v).ToArray()).ToArray();
            int side = side0, channels = 1;
            for (int l = 0; l < convs.Count; l++)
            {
                for (int b = 0; b < batch; b++)
                    maps[b] = Pool(Conv(maps[b], side, channels, convW[l], convB[l], kernel, convs[l].OutChannels), side - kernel + 1, convs[l].OutChannels);
                side = (side - kernel + 1) / 2;
                channels = convs[l].OutChannels;
                if (!batchNorm) continue;
                int n = batch * side * side;
                means[l] = new double[channels];
                variances[l] = new double[channels];
                foreach (var map in maps)
                    for (int i = 0; i < map.Length; i++) means[l][i % channels] += map[i] / n;
                foreach (var map in maps)
                    for (int i = 0; i < map.Length; i++) variances[l][i % channels] += Math.Pow(map[i] - means[l][i % channels], 2) / n;
                foreach (var map in maps)
                    for (int i = 0; i < map.Length; i++)
                    {
                        int c = i % channels;
                        map[i] = gammas[l][c] * (map[i] - means[l][c]) / Math.Sqrt(variances[l][c] + BatchNorm.Epsilon) + betas[l][c];
                    }
            }
            for (int b = 0; b < batch; b++)
            {
                double[] h = GradientCheckTests.Dense(maps[b], layers, weights, biases);
                foreach (var (offset, classes, t) in new[] { (0, 3, 0), (3, 2, 1) })
                {
                    var row = h.Skip(offset).Take(classes).ToArray();
                    double max = row.Max();
                    total += max + Math.Log(row.Sum(v => Math.Exp(v - max))) - row[ws.Labels[t][b]];
                }
            }
            return total / batch;
        }
        Assert.Equal(Loss(), (step.TaskLosses[0] + step.TaskLosses[1]) / batch, 1e-4);
        for (int l = 0; l < network.Norms.Count; l++)
        {
            var norm = network.Norms[l];
            int n = batch * convs[l].PooledPixels;
            var dGamma = network.Parameters.Gradient(norm.Weight).ToArray();
            var dBeta = network.Parameters.Gradient(norm.Bias).ToArray();
            var runningMean = network.Parameters.Value(norm.RunningMean).ToArray();
            var runningVariance = network.Parameters.Value(norm.RunningVariance).ToArray();
            Loss(); // the unperturbed batch's statistics
            for (int c = 0; c < norm.Channels; c++)
            {
                AssertClose(Numeric(gammas[l], c, Loss), dGamma[c], $"bn {l} dγ[{c}]");
                AssertClose(Numeric(betas[l], c, Loss), dBeta[c], $"bn {l} dβ[{c}]");
                // PyTorch's update from (0, 1): 0.1 of the mean, 0.9 + 0.1 of the unbiased variance.
                Assert.Equal(0.1 * means[l][c], runningMean[c], 1e-5);
                Assert.Equal(0.9 + 0.1 * variances[l][c] * n / (n - 1), runningVariance[c], 1e-5);
            }
        }
        for (int l = 0; l < convs.Count; l++)
        {
            var dW = network.Parameters.Gradient(convs[l].Weight).ToArray();
            for (int i = l % probeStride; i < dW.Length; i += probeStride) AssertClose(Numeric(convW[l], i, Loss), dW[i], $"conv {l} dW[{i}]");
            var db = network.Parameters.Gradient(convs[l].Bias).ToArray();
            for (int j = 0; j < db.Length; j++) AssertClose(Numeric(convB[l], j, Loss), db[j], $"conv {l} db[{j}]");
        }
        for (int l = 0; l < layers.Length; l++)
        {
            var dW = network.Parameters.Gradient(layers[l].Weight).ToArray();
            for (int i = 0; i < layers[l].In; i++)
                for (int j = (i + l) % probeStride; j < layers[l].Out; j += probeStride)
                    AssertClose(Numeric(weights[l], i * layers[l].Out + j, Loss), dW[layers[l].WeightIndex(i, j)], $"layer {l} dW[{i},{j}]");
        }
    }

    // Pooling and two ReLU layers make the CNN's loss less smooth at the probe scale than the MLP's.
    private static void AssertClose(double expected, double actual, string what) => GradientCheckTests.AssertClose(expected, actual, what, relative: 2e-3);

    private static double Numeric(double[] values, int index, Func<double> loss) => GradientCheckTests.Numeric(values, index, loss);

    [Theory]
    [InlineData(8, 8)]
    [InlineData(9, 7)] // odd sides: the last row and column are dropped and get no gradient
    public void VectorPoolingEqualsTheScalarReference(int height, int width)
    {
        const int channels = 16, batch = 3;
        var rng = new Rng(21);
        // Post-ReLU values with many zeros and ties, as after a ReLU.
        float[] x = Enumerable.Range(0, batch * height * width * channels).Select(_ => Math.Max(0f, MathF.Round(rng.NextUniform(3f)))).ToArray();
        int outSize = batch * (height / 2) * (width / 2) * channels;
        float[] y = new float[outSize], yScalar = new float[outSize];
        MaxPool2d.Forward(x, y, height, width, channels, 0, batch);
        MaxPool2d.Forward(x, yScalar, height, width, channels, 0, batch, vectors: false);
        Assert.Equal(yScalar, y);
        float[] dy = Enumerable.Range(0, outSize).Select(_ => rng.NextUniform(1f)).ToArray();
        float[] dx = Enumerable.Repeat(9f, x.Length).ToArray(), dxScalar = new float[x.Length];
        MaxPool2d.Backward(x, y, dy, dx, height, width, channels, 0, batch);
        MaxPool2d.Backward(x, y, dy, dxScalar, height, width, channels, 0, batch, vectors: false);
        Assert.Equal(dxScalar, dx);
        // Every window passes its gradient to exactly one input, and only when its maximum is above zero.
        Assert.Equal(dy.Where((g, i) => y[i] > 0).Sum(), dx.Sum(), 3);
    }

    [Theory]
    [InlineData(37)]
    [InlineData(40)]
    [InlineData(3)]
    public void ColumnSumsSumEveryColumnAsFourInterleavedRowSums(int rows)
    {
        var rng = new Rng(5);
        const int width = 70;
        float[] y = GemmTests.Random(rng, rows * width);
        var sums = new float[width];
        Activations.ColumnSums(y, width, rows, 0, 45, sums); // 45 = 2 × 16 + 8 + 5: every path
        Activations.ColumnSums(y, width, rows, 45, width, sums.AsSpan(45));
        for (int c = 0; c < width; c++)
        {
            var partial = new float[4];
            for (int r = 0; r < rows; r++) partial[r % 4] += y[r * width + c];
            Assert.Equal((partial[0] + partial[1]) + (partial[2] + partial[3]), sums[c]);
            double exact = Enumerable.Range(0, rows).Sum(r => (double)y[r * width + c]);
            Assert.True(Math.Abs(exact - sums[c]) < 1e-4, $"column {c}");
        }
    }

    [Fact]
    public void AnInvalidShapeIsRefusedWithItsReason()
    {
        var error = Assert.Throws<ArgumentException>(() => new MultiTaskNetwork(new ModelConfig(780, [8], TaskDefinition.DigitAndParity) { Convolutions = [4] }));
        Assert.Contains("square image", error.Message);
        error = Assert.Throws<ArgumentException>(() => new MultiTaskNetwork(new ModelConfig(36, [8], TaskDefinition.DigitAndParity) { Convolutions = [4, 4] }));
        Assert.Contains("do not fit", error.Message);
        // 13 -> 11 -> 5 -> 3 -> 1: a batch of one would give batch norm a single value a channel.
        error = Assert.Throws<ArgumentException>(() => new MultiTaskNetwork(new ModelConfig(169, [8], TaskDefinition.DigitAndParity) { Convolutions = [4, 4], Kernel = 3, BatchNorm = true }));
        Assert.Contains("batch normalization needs every pooled map at least 2 x 2", error.Message);
        error = Assert.Throws<ArgumentException>(() => new MultiTaskNetwork(ModelConfig.Tutorial with { BatchNorm = true }));
        Assert.Contains("an MLP has none", error.Message);
    }
}
