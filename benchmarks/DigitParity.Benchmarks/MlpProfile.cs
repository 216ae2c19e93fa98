using System.Diagnostics;
using DigitParity.Data;
using DigitParity.Engine;
using DigitParity.Model;
using DigitParity.Optimizers;
using DigitParity.Training;

namespace DigitParity.Benchmarks;

/// <summary>
/// Times each phase of one MLP training step on one thread, on a shuffled batch of real MNIST images, with the
/// alternatives each phase was measured against:
/// <c>DOTNET_TieredCompilation=0 dotnet run -c Release --project benchmarks/DigitParity.Benchmarks -- profile-mlp</c>
/// (without the variable, some phases are timed on tier-0 code: the loss measured twice as slow). GFLOP/s are the
/// dense product's work per second (skipping zeros shows as more than the machine's peak).
/// </summary>
public static class MlpProfile
{
    public static void Run(int batch = 100, int repeats = 200)
    {
        var network = new MultiTaskNetwork(ModelConfig.Tutorial);
        network.Initialize(1);
        var ws = network.CreateWorkspace(batch);
        var data = MnistFiles.Load(MnistFiles.EmbeddedDirectory);
        var train = new LabeledDataset(data.Train, network.Tasks);
        var order = Enumerable.Range(0, train.Count).ToArray();
        new Rng(3).Shuffle(order);
        var store = network.Parameters;
        var (fc1, fc2, heads) = (network.Trunk[0], network.Trunk[1], network.Heads);
        var sgd = new Sgd(store, 0.1f, 0.9f, 1e-5f);
        using var pool = new WorkerPool(1);
        int features = fc1.In, batchIndex = 0;
        var x = ws.Input;
        // The batch the timed phases read; "gather" moves to the next one, as training does.
        train.GatherPixels(order.AsSpan(0, batch), x.Span);
        train.GatherLabels(order.AsSpan(0, batch), ws.Labels);
        network.IndexInput(ws, batch, 0, batch);
        int words = ActiveDepth.MaskWords(features);
        var masks = new ulong[batch * words];
        // The batch as pixel bytes, as training reads it (the masks are the same as the floats').
        var pixels = new byte[batch * features];
        var pixelScratch = new byte[batch * features];
        train.GatherPixelBytes(order.AsSpan(0, batch), pixels, masks, words);
        var h1 = new float[batch * fc1.Out];
        var imageMasks = new ImageMasks(train);
        int tileStride = ActiveDepth.TileStride(batch);
        var tileScratch = new ulong[ActiveDepth.TileWords(features) * tileStride];
        var gathered = new float[batch * features];
        // Logits of 16 different batches (the loss's branches see new values each step, as in training).
        var logitSets = new float[16][];
        int lossRound = 0;
        for (int i = 0; i < logitSets.Length; i++)
        {
            train.GatherPixels(order.AsSpan((i + 1) * batch, batch), gathered);
            network.IndexInput(ws, batch, 0, batch);
            fc1.Forward(store, gathered, ws.Layers[0].Output, batch, relu: true, LinearShare.All(fc1, batch));
            fc2.Forward(store, ws.Layers[0].Output, ws.Layers[1].Output, batch, relu: true, LinearShare.All(fc2, batch));
            heads.Forward(store, ws.Layers[1].Output, ws.Logits, batch, relu: false, LinearShare.All(heads, batch));
            logitSets[i] = ws.Logits.Span[..(batch * heads.Out)].ToArray();
        }
        network.IndexInput(ws, batch, 0, batch);
        fc1.Forward(store, x, ws.Layers[0].Output, batch, relu: true, LinearShare.All(fc1, batch));
        fc2.Forward(store, ws.Layers[0].Output, ws.Layers[1].Output, batch, relu: true, LinearShare.All(fc2, batch));
        heads.Forward(store, ws.Layers[1].Output, ws.Logits, batch, relu: false, LinearShare.All(heads, batch));
        double fc1Flops = 2.0 * batch * fc1.In * fc1.Out;
        (string Name, double Flops, Action Work)[] phases =
        {
            // The gathers are timed with a forward product between them (as in training, other work runs between a
            // batch's prefetch and its gather): each gather is its row minus "the same without the gather".
            (" gather 100 shuffled images (floats, for evaluation)", 0, () =>
            {
                // As in training: the batch was prefetched a step earlier (and the step's work has run since).
                train.GatherPixels(order.AsSpan(batchIndex, batch), gathered);
                batchIndex = (batchIndex + batch) % (train.Count - batch);
                train.Prefetch(order.AsSpan(batchIndex, batch));
                fc1.Forward(store, new LayerInput(x) { RowMasks = ws.InputMasks }, h1, batch, relu: true, LinearShare.All(fc1, batch));
            }),
            ("  the same without the gather", 0, () =>
            {
                batchIndex = (batchIndex + batch) % (train.Count - batch);
                train.Prefetch(order.AsSpan(batchIndex, batch));
                fc1.Forward(store, new LayerInput(x) { RowMasks = ws.InputMasks }, h1, batch, relu: true, LinearShare.All(fc1, batch));
            }),
            ("  the same not prefetched", 0, () =>
            {
                train.GatherPixels(order.AsSpan(batchIndex, batch), gathered);
                batchIndex = (batchIndex + batch) % (train.Count - batch);
                fc1.Forward(store, new LayerInput(x) { RowMasks = ws.InputMasks }, h1, batch, relu: true, LinearShare.All(fc1, batch));
            }),
            (" gather their pixel bytes, masks from the image index (training)", 0, () =>
            {
                train.GatherPixelBytes(order.AsSpan(batchIndex, batch), pixelScratch, default, 0);
                imageMasks.Gather(order.AsSpan(batchIndex, batch), masks, tileScratch, tileStride);
                batchIndex = (batchIndex + batch) % (train.Count - batch);
                train.Prefetch(order.AsSpan(batchIndex, batch));
                imageMasks.Prefetch(order.AsSpan(batchIndex, batch));
                fc1.Forward(store, new LayerInput(x) { RowMasks = ws.InputMasks }, h1, batch, relu: true, LinearShare.All(fc1, batch));
            }),
            ("  the same deriving the masks and tile masks", 0, () =>
            {
                train.GatherPixelBytes(order.AsSpan(batchIndex, batch), pixelScratch, masks, words);
                ActiveDepth.TileMasks(masks, features, batch, 0, batch, tileScratch);
                batchIndex = (batchIndex + batch) % (train.Count - batch);
                train.Prefetch(order.AsSpan(batchIndex, batch));
                fc1.Forward(store, new LayerInput(x) { RowMasks = ws.InputMasks }, h1, batch, relu: true, LinearShare.All(fc1, batch));
            }),
            ("  gather a batch in cache", 0, () => train.GatherPixels(order.AsSpan(0, batch), gathered)),
            ("  prefetch the next batch", 0, () => train.Prefetch(order.AsSpan(batchIndex, batch))),
            (" index x: masks and tile masks (evaluation, CNN)", 0, () => network.IndexInput(ws, batch, 0, batch)),
            ("  the masks from the floats", 0, () => ActiveDepth.NonZeroMasks(x, features, features, 0, batch, ws.InputMasks)),
            ("  of which the tile masks", 0, () => ActiveDepth.TileMasks(ws.InputMasks, features, batch, 0, batch, ws.InputTileMasks)),
            ("fc1 forward from pixel bytes (training)", fc1Flops, () => fc1.Forward(store, new LayerInput { Bytes = pixels, ByteValues = UnitFloats.ByteValues, RowMasks = ws.InputMasks }, ws.Layers[0].Output, batch, relu: true, LinearShare.All(fc1, batch))),
            ("  from floats, skipping zeros", fc1Flops, () => fc1.Forward(store, new LayerInput(x) { RowMasks = ws.InputMasks }, ws.Layers[0].Output, batch, relu: true, LinearShare.All(fc1, batch))),
            ("  dense", fc1Flops, () => fc1.Forward(store, x, h1, batch, relu: true, LinearShare.All(fc1, batch))),
            ("fc2 forward", 2.0 * batch * fc2.In * fc2.Out, () => fc2.Forward(store, ws.Layers[0].Output, ws.Layers[1].Output, batch, relu: true, LinearShare.All(fc2, batch))),
            ("heads forward", 2.0 * batch * heads.In * heads.Out, () => heads.Forward(store, ws.Layers[1].Output, ws.Logits, batch, relu: false, LinearShare.All(heads, batch))),
            ("loss (softmax, cross-entropy, dlogits)", 0, () => network.Loss(ws, batch, 0, 1)),
            ("  on 16 batches' logits in turn", 0, () =>
            {
                logitSets[lossRound++ & 15].CopyTo(ws.Logits.Span);
                network.Loss(ws, batch, 0, 1);
            }),
            ("heads backward", 4.0 * batch * heads.In * heads.Out, () => heads.Backward(store, ws.Layers[1].Output, ws.LogitGradients, ws.Layers[1].OutputGradient, ws.Layers[2].PackedGradient, ws.Layers[2].TransposedWeights, batch, LinearShare.All(heads, batch), reluInput: true)),
            ("fc2 backward", 4.0 * batch * fc2.In * fc2.Out, () => fc2.Backward(store, ws.Layers[0].Output, ws.Layers[1].OutputGradient, ws.Layers[0].OutputGradient, ws.Layers[1].PackedGradient, ws.Layers[1].TransposedWeights, batch, LinearShare.All(fc2, batch), reluInput: true)),
            ("fc1 dW from pixel bytes, SGD folded in", fc1Flops, () => fc1.Backward(store, new LayerInput { Bytes = pixels, ByteValues = UnitFloats.ByteValues, TileMasks = ws.InputTileMasks }, ws.Layers[0].OutputGradient, default, ws.Layers[0].PackedGradient, default, batch, LinearShare.All(fc1, batch), fuse: sgd)),
            ("  from floats, skipping zeros", fc1Flops, () => fc1.Backward(store, new LayerInput(x) { TileMasks = ws.InputTileMasks }, ws.Layers[0].OutputGradient, default, ws.Layers[0].PackedGradient, default, batch, LinearShare.All(fc1, batch), fuse: sgd)),
            ("  dense, SGD apart", fc1Flops, () => fc1.Backward(store, x, ws.Layers[0].OutputGradient, default, ws.Layers[0].PackedGradient, default, batch, LinearShare.All(fc1, batch))),
            ("updates of fc2 and the heads", 0, () =>
            {
                sgd.Apply(fc2.Weight, 0, fc2.Weight.Length); sgd.Apply(fc2.Bias, 0, fc2.Bias.Length);
                sgd.Apply(heads.Weight, 0, heads.Weight.Length); sgd.Apply(heads.Bias, 0, heads.Bias.Length); sgd.Apply(fc1.Bias, 0, fc1.Bias.Length);
            }),
        };
        // Every phase many times first, so that tiered compilation has promoted all the code.
        for (int round = 0; round < 3; round++)
            foreach (var (_, _, work) in phases)
                for (int r = 0; r < 50; r++) work();
        Thread.Sleep(200);
        // Rounds over all phases, each phase's median of its rounds: a busy moment of this shared machine then slows
        // every phase alike instead of whichever ran in it.
        var times = new double[phases.Length][];
        for (int p = 0; p < phases.Length; p++) times[p] = new double[9];
        for (int s = 0; s < 9; s++)
            for (int p = 0; p < phases.Length; p++)
            {
                var clock = Stopwatch.StartNew();
                for (int r = 0; r < repeats / 4; r++) phases[p].Work();
                times[p][s] = clock.Elapsed.TotalMicroseconds / (repeats / 4);
            }
        double total = 0;
        for (int p = 0; p < phases.Length; p++)
        {
            var (name, flops, _) = phases[p];
            Array.Sort(times[p]);
            double us = times[p][times[p].Length / 2];
            if (!name.StartsWith(' ')) total += us;
            Console.WriteLine($"{name,-66} {us,8:0.0} µs{(flops > 0 ? $"  {flops / us / 1e3,6:0.0} GFLOP/s" : "")}");
        }
        double Median(string name) => times[Array.FindIndex(phases, p => p.Name == name)][times[0].Length / 2];
        double bytes = Median(" gather their pixel bytes, masks from the image index (training)") - Median("  the same without the gather");
        double derived = Median("  the same deriving the masks and tile masks") - Median("  the same without the gather");
        double floats = Median(" gather 100 shuffled images (floats, for evaluation)") - Median("  the same without the gather");
        total += bytes;
        Console.WriteLine($"{"gather (rows above): bytes and masks",-66} {bytes,8:0.0} µs  (deriving the masks {derived:0.0} µs, floats {floats:0.0} µs)");
        Console.WriteLine($"{"total (one thread)",-66} {total,8:0.0} µs  = {batch / total * 1e6:0} samples/s");
        int tiles = ActiveDepth.Tiles(batch), pixelTiles = ActiveDepth.Tiles(features);
        int[] rowCounts = new int[tiles], columnCounts = new int[pixelTiles];
        ActiveDepth.ForRows(ws.InputMasks, batch, features, new int[tiles * features], rowCounts, 0, tiles);
        ActiveDepth.ForColumns(ws.InputTileMasks, features, batch, new int[pixelTiles * batch], columnCounts, 0, pixelTiles);
        Console.WriteLine($"fc1 forward visits {100.0 * rowCounts.Sum() / (tiles * features):0.0} % of the depth steps; " +
            $"its weight gradient {100.0 * columnCounts.Sum() / (pixelTiles * batch):0.0} %");
    }
}
