using System.Collections.Concurrent;
using DigitParity.Inference;
using DigitParity.Model;

namespace DigitParity.Server;

/// <summary>
/// One loaded model shared by every request. The weights are read-only after loading; each concurrent request
/// borrows its own <see cref="Predictor"/> (own workspace, one thread), so requests never share scratch memory.
/// </summary>
public sealed class PredictionService : IDisposable
{
    private readonly ConcurrentBag<Predictor> _idle = [];
    private bool _disposed;

    /// <summary>Serves <paramref name="network"/>, loaded from <paramref name="modelName"/>.</summary>
    public PredictionService(MultiTaskNetwork network, string modelName)
    {
        ArgumentNullException.ThrowIfNull(network);
        // Images sent to the server are prepared as 28 × 28 digits (and the page draws them so): a model trained on
        // another size could answer none of them.
        Predictor.RequireDigitImages(network, modelName, "to serve digit images");
        Network = network;
        ModelName = modelName;
    }

    /// <summary>The served network.</summary>
    public MultiTaskNetwork Network { get; }

    /// <summary>Where the model came from (shown on the page).</summary>
    public string ModelName { get; }

    /// <summary>Predicts MNIST-style bytes (0 = background, 255 = ink).</summary>
    public Prediction Predict(byte[] pixels) => Borrow(p => p.Predict([pixels])[0]);

    /// <summary>Predicts the network's input directly: values in [0, 1].</summary>
    public Prediction Predict(float[] unitPixels) => Borrow(p => p.Predict(unitPixels));

    private Prediction Borrow(Func<Predictor, Prediction> work)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_idle.TryTake(out var predictor)) predictor = new Predictor(Network, maxBatch: 1, threads: 1);
        try
        {
            return work(predictor);
        }
        finally
        {
            _idle.Add(predictor);
        }
    }

    /// <summary>Releases the predictors.</summary>
    public void Dispose()
    {
        _disposed = true;
        while (_idle.TryTake(out var predictor)) predictor.Dispose();
    }
}
