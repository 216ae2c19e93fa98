using DigitParity.Data;
using DigitParity.Engine;
using DigitParity.Metrics;
using DigitParity.Model;

namespace DigitParity.Inference;

/// <summary>Runs a trained network on 28 × 28 byte images (0-255) and returns each head's probabilities.</summary>
/// <remarks>
/// Every prediction throws <see cref="InvalidDataException"/> when the network's outputs for an image are not finite
/// (weights that overflow), rather than return probabilities that are not numbers.
/// </remarks>
public sealed class Predictor : IDisposable, IParallelWork
{
    private readonly MultiTaskNetwork _network;
    private readonly WorkerPool _pool;
    private readonly Workspace _ws;
    private int _batch;
    private Workspace? _explainWorkspace;
    private InputGradientBuffers? _explainBuffers;
    private WorkerPool? _explainPool;

    /// <summary>A predictor of <paramref name="network"/> for batches of up to <paramref name="maxBatch"/> images.</summary>
    public Predictor(MultiTaskNetwork network, int maxBatch = 256, int threads = 1)
    {
        ArgumentNullException.ThrowIfNull(network);
        _network = network;
        _pool = new WorkerPool(threads);
        _ws = network.CreateWorkspace(maxBatch, training: false);
    }

    /// <summary>
    /// Throws a one-line <see cref="InvalidDataException"/> unless <paramref name="network"/> takes 28 × 28 images, the
    /// size image files and drawings are prepared to; <paramref name="purpose"/> ("to serve digit images") ends it.
    /// </summary>
    internal static void RequireDigitImages(MultiTaskNetwork network, string modelName, string purpose)
    {
        const int pixels = DigitImage.Side * DigitImage.Side;
        if (network.Config.InputSize != pixels)
            throw new InvalidDataException($"{modelName}: a model of {network.Config.InputSize} input pixels, expected {pixels} (28 x 28) {purpose}");
    }

    /// <summary>Predicts the digit image file at <paramref name="path"/> (PNG, JPEG or BMP, prepared as <see cref="DigitImage"/> describes).</summary>
    /// <exception cref="InvalidDataException">The file is missing or holds no readable image; the message names it.</exception>
    public Prediction PredictImage(string path) => Predict(DigitImage.Load(path));

    /// <summary>Predicts the encoded image (PNG, JPEG or BMP) read from <paramref name="image"/>; <paramref name="name"/> is used in error messages.</summary>
    /// <exception cref="InvalidDataException">The stream holds no readable image.</exception>
    public Prediction PredictImage(Stream image, string name) => Predict(DigitImage.Load(image, name));

    /// <summary>Predicts an encoded image file's bytes (PNG, JPEG or BMP); <paramref name="name"/> is used in error messages.</summary>
    /// <exception cref="InvalidDataException">The bytes are no readable image.</exception>
    public Prediction PredictImage(byte[] encoded, string name) => Predict(DigitImage.FromEncoded(encoded, name));

    /// <summary>Predicts one image of InputSize (784) bytes, row-major, 0 = background and 255 = ink (MNIST's convention).</summary>
    /// <exception cref="ArgumentException">The image does not have the model's input size.</exception>
    public Prediction Predict(byte[] pixels) => Predict([pixels])[0];

    /// <summary>Predicts every image; each holds InputSize bytes (0 = background, 255 = ink).</summary>
    /// <exception cref="ArgumentException">An image does not have the model's input size.</exception>
    public IReadOnlyList<Prediction> Predict(IReadOnlyList<byte[]> images)
    {
        ArgumentNullException.ThrowIfNull(images);
        int inputs = _network.Config.InputSize;
        return Run(images.Count, (i, input) =>
        {
            byte[] image = images[i];
            if (image.Length != inputs) throw new ArgumentException($"Image {i} has {image.Length} pixels; the model expects {inputs}.", nameof(images));
            UnitFloats.FromBytes(image, input);
        });
    }

    /// <summary>Predicts one image given as the network's input: InputSize values in [0, 1] (pixel / 255).</summary>
    /// <exception cref="ArgumentException">The image does not have the model's input size, or a value is outside [0, 1].</exception>
    public Prediction Predict(float[] unitPixels)
    {
        CheckUnitPixels(unitPixels, _network.Config.InputSize);
        return Run(1, (_, input) => unitPixels.CopyTo(input))[0];
    }

    /// <summary>Predicts every image given as the network's input (each checked as <see cref="Predict(float[])"/> does).</summary>
    internal IReadOnlyList<Prediction> PredictUnits(IReadOnlyList<float[]> images)
    {
        ArgumentNullException.ThrowIfNull(images);
        foreach (var image in images) CheckUnitPixels(image, _network.Config.InputSize);
        return Run(images.Count, (i, input) => images[i].CopyTo(input));
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless the image has <paramref name="inputs"/> values, each in [0, 1].</summary>
    internal static void CheckUnitPixels(float[] unitPixels, int inputs)
    {
        ArgumentNullException.ThrowIfNull(unitPixels);
        if (unitPixels.Length != inputs) throw new ArgumentException($"The image has {unitPixels.Length} values; the model expects {inputs}.", nameof(unitPixels));
        foreach (float v in unitPixels)
            if (!(v >= 0 && v <= 1)) throw new ArgumentException($"Pixel value {v} is outside [0, 1].", nameof(unitPixels));
    }

    /// <summary>Predicts the digit image file at <paramref name="path"/> and explains each head's answer (see <see cref="Saliency"/>).</summary>
    /// <exception cref="InvalidDataException">The file is missing or holds no readable image; the message names it.</exception>
    public Explanation ExplainImage(string path) => Explain(DigitImage.Load(path));

    /// <summary>Predicts one image of InputSize bytes (0 = background, 255 = ink) and explains each head's answer.</summary>
    /// <exception cref="ArgumentException">The image does not have the model's input size.</exception>
    public Explanation Explain(byte[] pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        int inputs = _network.Config.InputSize;
        if (pixels.Length != inputs) throw new ArgumentException($"The image has {pixels.Length} pixels; the model expects {inputs}.", nameof(pixels));
        var unit = new float[inputs];
        UnitFloats.FromBytes(pixels, unit);
        return Explain(unit);
    }

    /// <summary>
    /// Predicts one image given as the network's input (InputSize values in [0, 1]) and explains each head's answer:
    /// one forward and one backward pass of a batch of one row per head, through the network's own backward pass.
    /// </summary>
    /// <exception cref="ArgumentException">The image does not have the model's input size, or a value is outside [0, 1].</exception>
    public Explanation Explain(float[] unitPixels)
    {
        var prediction = Predict(unitPixels);
        var tasks = _network.Tasks;
        int inputs = _network.Config.InputSize, width = _network.Config.HeadWidth, heads = tasks.Count;
        _explainPool ??= new WorkerPool(1);
        _explainWorkspace ??= _network.CreateWorkspace(heads, workers: 1, privateInputs: false);
        _explainBuffers ??= _network.CreateInputGradientBuffers(heads);
        // Row t seeds head t's contrast: ∂(z_answer − mean z)/∂z = onehot(answer) − 1/classes on its own logits.
        var dlogits = new float[heads * width];
        for (int t = 0; t < heads; t++)
        {
            unitPixels.CopyTo(_explainWorkspace.Input.AsSpan(t * inputs, inputs));
            int offset = _network.TaskOffset(t), classes = tasks[t].ClassCount;
            for (int c = 0; c < classes; c++) dlogits[t * width + offset + c] = (c == prediction.Tasks[t].Answer ? 1f : 0f) - 1f / classes;
        }
        var gradient = new float[heads * inputs];
        _network.InputGradient(_explainWorkspace, _explainBuffers, _explainPool, heads, dlogits, gradient);
        var maps = new Saliency[heads];
        for (int t = 0; t < heads; t++)
        {
            var values = new float[inputs];
            System.Numerics.Tensors.TensorPrimitives.Multiply(gradient.AsSpan(t * inputs, inputs), unitPixels, values);
            var answer = prediction.Tasks[t];
            maps[t] = new Saliency(answer.Task, answer.Answer, answer.AnswerName, values);
        }
        return new Explanation(prediction, (float[])unitPixels.Clone(), maps);
    }

    // Fills image i's input row.
    private delegate void FillInput(int image, Span<float> input);

    /// <summary>
    /// Every head's logits side by side for each image, (images, HeadWidth) row-major: what the network computes before
    /// the softmax, and what a PyTorch module of the same weights returns.
    /// </summary>
    internal float[] Logits(IReadOnlyList<byte[]> images)
    {
        ArgumentNullException.ThrowIfNull(images);
        int width = _network.Config.HeadWidth;
        var logits = new float[images.Count * width];
        Batches(images.Count, (i, input) => UnitFloats.FromBytes(images[i], input),
            first => _ws.Logits.Span[..(_batch * width)].CopyTo(logits.AsSpan(first * width)));
        return logits;
    }

    // Fills the workspace batch by batch, runs the forward pass and hands each batch's first image index to done.
    private void Batches(int count, FillInput fill, Action<int> done)
    {
        int inputs = _network.Config.InputSize;
        for (int first = 0; first < count; first += _ws.MaxBatch)
        {
            _batch = Math.Min(_ws.MaxBatch, count - first);
            for (int b = 0; b < _batch; b++) fill(first + b, _ws.Input.AsSpan(b * inputs, inputs));
            _pool.Run(this);
            done(first);
        }
    }

    private List<Prediction> Run(int count, FillInput fill)
    {
        int width = _network.Config.HeadWidth;
        var predictions = new List<Prediction>(count);
        Batches(count, fill, first =>
        {
            for (int b = 0; b < _batch; b++)
            {
                var tasks = new TaskPrediction[_network.Tasks.Count];
                double score = 0;
                for (int t = 0; t < tasks.Length; t++)
                {
                    var task = _network.Tasks[t];
                    double[] p = new double[task.ClassCount];
                    double energy = TemperedSoftmax.Apply(_ws.Logits.AsSpan(b * width + _network.TaskOffset(t), task.ClassCount), _network.Temperatures[t], p);
                    // Weights that load (all finite) can still overflow on the way to the logits.
                    if (!double.IsFinite(energy))
                        throw new InvalidDataException($"The model's {task.Name} outputs for image {first + b} are not finite numbers: its weights overflow.");
                    if (t == 0) score = energy; // the class head's energy: the rejection score
                    int label = 0;
                    for (int c = 1; c < p.Length; c++) if (p[c] > p[label]) label = c;
                    tasks[t] = new TaskPrediction(task.Name, label, task.ClassName(label), p);
                }
                bool agree = Agree(tasks);
                if (!agree)
                {
                    // The heads contradict each other: each derived head answers with the task of the joint class.
                    int joint = JointDecision.Decide(_network.Tasks, tasks.Select(t => t.Probabilities).ToArray());
                    for (int t = 1; t < tasks.Length; t++)
                    {
                        int answer = _network.Tasks[t].LabelOf(joint);
                        tasks[t] = tasks[t] with { Answer = answer, AnswerName = _network.Tasks[t].ClassName(answer) };
                    }
                }
                predictions.Add(new Prediction(tasks, agree) { Score = score, Rejected = score < _network.RejectionThreshold });
            }
        });
        return predictions;
    }

    private bool Agree(TaskPrediction[] tasks)
    {
        // The first head is the class head (digit); every other head is a function of its answer.
        for (int t = 1; t < tasks.Length; t++)
            if (_network.Tasks[t].LabelOf(tasks[0].Label) != tasks[t].Label) return false;
        return true;
    }

    /// <inheritdoc/>
    void IParallelWork.Execute(int worker)
    {
        var (r0, r1) = StepSchedule.Rows(_batch, worker, _pool.Count);
        _network.IndexInput(_ws, _batch, r0, r1);
        _pool.Barrier();
        _network.Forward(_ws, _batch, _pool, worker);
    }

    /// <summary>Stops the worker threads.</summary>
    public void Dispose()
    {
        _pool.Dispose();
        _explainPool?.Dispose();
    }
}
