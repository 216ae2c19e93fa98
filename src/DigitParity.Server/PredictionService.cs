using System.Threading.Channels;
using DigitParity.Engine;
using DigitParity.Inference;
using DigitParity.Model;

namespace DigitParity.Server;

/// <summary>
/// One loaded model shared by every request, answering in batches. Each request queues its image; one loop per core
/// takes what is queued, up to <see cref="MaxBatch"/> images, waits up to <see cref="MaxWait"/> for more while the batch
/// is not full, and runs them as one forward pass on its own <see cref="Predictor"/> (own workspace, one thread). Under
/// load batches fill by themselves while the previous one runs; a lone request runs at once when MaxWait is 0.
/// Answers do not depend on the batch an image lands in (the kernels give every row the same bits at any batch size).
/// </summary>
public sealed class PredictionService : IDisposable
{
    /// <summary>Default most images per forward pass: 64.</summary>
    public const int DefaultMaxBatch = 64;

    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>();
    private readonly Task[] _loops;

    private sealed record Pending(float[] Input, TaskCompletionSource<Prediction> Done);

    /// <summary>
    /// Serves <paramref name="network"/>, loaded from <paramref name="modelName"/>, in batches of up to
    /// <paramref name="maxBatch"/> images gathered for up to <paramref name="maxWait"/> (default 0: what is queued),
    /// on <paramref name="loops"/> loops (default: one per core).
    /// </summary>
    public PredictionService(MultiTaskNetwork network, string modelName, int maxBatch = DefaultMaxBatch, TimeSpan maxWait = default, int loops = 0)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxWait, TimeSpan.Zero);
        // Images sent to the server are prepared as 28 × 28 digits (and the page draws them so): a model trained on
        // another size could answer none of them.
        Predictor.RequireDigitImages(network, modelName, "to serve digit images");
        Network = network;
        ModelName = modelName;
        MaxBatch = maxBatch;
        MaxWait = maxWait;
        _loops = Enumerable.Range(0, loops > 0 ? loops : Environment.ProcessorCount).Select(_ => Task.Run(Loop)).ToArray();
    }

    /// <summary>The served network.</summary>
    public MultiTaskNetwork Network { get; }

    /// <summary>Where the model came from (shown on the page).</summary>
    public string ModelName { get; }

    /// <summary>Most images per forward pass.</summary>
    public int MaxBatch { get; }

    /// <summary>How long a loop waits for more images while its batch is not full.</summary>
    public TimeSpan MaxWait { get; }

    private long _batches;

    /// <summary>Forward passes run so far.</summary>
    internal long Batches => Interlocked.Read(ref _batches);

    /// <summary>Predicts MNIST-style bytes (0 = background, 255 = ink).</summary>
    public Task<Prediction> PredictAsync(byte[] pixels)
    {
        return Enqueue(UnitInput(pixels));
    }

    /// <summary>Predicts the network's input directly: values in [0, 1].</summary>
    public Task<Prediction> PredictAsync(float[] unitPixels)
    {
        ArgumentNullException.ThrowIfNull(unitPixels);
        Predictor.CheckUnitPixels(unitPixels, Network.Config.InputSize);
        return Enqueue(unitPixels);
    }

    /// <summary>As <see cref="PredictAsync(byte[])"/>, waiting for the answer.</summary>
    public Prediction Predict(byte[] pixels) => PredictAsync(pixels).GetAwaiter().GetResult();

    /// <summary>As <see cref="PredictAsync(float[])"/>, waiting for the answer.</summary>
    public Prediction Predict(float[] unitPixels) => PredictAsync(unitPixels).GetAwaiter().GetResult();

    /// <summary>
    /// Predicts the network's input (values in [0, 1]) and explains each head's answer (<see cref="Predictor.Explain(float[])"/>).
    /// Explanations run one at a time on a predictor of their own, beside the batches.
    /// </summary>
    public async Task<Explanation> ExplainAsync(float[] unitPixels)
    {
        ArgumentNullException.ThrowIfNull(unitPixels);
        Predictor.CheckUnitPixels(unitPixels, Network.Config.InputSize);
        await _explainGate.WaitAsync().ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_queue.Reader.Completion.IsCompleted, this);
            _explainer ??= new Predictor(Network, maxBatch: 1);
            return _explainer.Explain(unitPixels);
        }
        finally
        {
            _explainGate.Release();
        }
    }

    /// <summary>As <see cref="ExplainAsync(float[])"/>, for MNIST-style bytes (0 = background, 255 = ink).</summary>
    public Task<Explanation> ExplainAsync(byte[] pixels)
    {
        return ExplainAsync(UnitInput(pixels));
    }

    // MNIST-style bytes of the model's input size as the network's input, pixel / 255.
    private float[] UnitInput(byte[] pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (pixels.Length != Network.Config.InputSize) throw new ArgumentException($"The image has {pixels.Length} pixels; the model expects {Network.Config.InputSize}.", nameof(pixels));
        var input = new float[pixels.Length];
        UnitFloats.FromBytes(pixels, input);
        return input;
    }

    private readonly SemaphoreSlim _explainGate = new(1, 1);
    private Predictor? _explainer;

    private Task<Prediction> Enqueue(float[] input)
    {
        var done = new TaskCompletionSource<Prediction>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_queue.Writer.TryWrite(new Pending(input, done))) throw new ObjectDisposedException(nameof(PredictionService));
        return done.Task;
    }

    private async Task Loop()
    {
        using var predictor = new Predictor(Network, MaxBatch, threads: 1);
        var reader = _queue.Reader;
        var batch = new List<Pending>(MaxBatch);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            while (batch.Count < MaxBatch && reader.TryRead(out var pending)) batch.Add(pending);
            if (batch.Count < MaxBatch && MaxWait > TimeSpan.Zero)
            {
                var deadline = Task.Delay(MaxWait);
                while (batch.Count < MaxBatch)
                {
                    var more = reader.WaitToReadAsync().AsTask();
                    if (await Task.WhenAny(more, deadline).ConfigureAwait(false) == deadline || !await more.ConfigureAwait(false)) break;
                    while (batch.Count < MaxBatch && reader.TryRead(out var pending)) batch.Add(pending);
                }
            }
            if (batch.Count == 0) continue; // another loop took them
            try
            {
                Interlocked.Increment(ref _batches);
                var answers = predictor.PredictUnits(batch.Select(p => p.Input).ToList());
                for (int i = 0; i < batch.Count; i++) batch[i].Done.TrySetResult(answers[i]);
            }
            catch (Exception e)
            {
                foreach (var pending in batch) pending.Done.TrySetException(e);
            }
        }
    }

    /// <summary>Stops taking requests, lets the loops finish what is queued, and releases their predictors.</summary>
    public void Dispose()
    {
        if (!_queue.Writer.TryComplete()) return;
        Task.WaitAll(_loops);
        _explainGate.Wait();
        _explainer?.Dispose();
        _explainGate.Release();
    }
}
