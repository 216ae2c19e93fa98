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
    private readonly WorkerPool _pool, _solo;
    // The pool of the batch being run: _solo (the calling thread alone) for a batch too small to give every worker a
    // tile of rows, where the others would only split the narrow products and wait at the barriers, unless a CNN
    // splits each of its images between the workers (_splitImages).
    private WorkerPool _running;
    // Whether the batch being run splits each image between the workers (MultiTaskNetwork.SplitsImages).
    private bool _splitImages;
    // Floats in (shared rows, indexed by each worker for its rows); for an MLP given bytes on several workers, _byteWs:
    // each worker copies the whole batch's bytes and masks for itself, and fc1 reads the bytes (as training does: no
    // barrier before fc1, a quarter of the memory, x in the worker's own cache). _current is the one the batch runs on.
    private readonly Workspace _ws;
    private readonly Workspace? _byteWs;
    private Workspace _current;
    private readonly int _inputs, _width;
    private readonly int[] _offsets; // each head's first column in a row of HeadWidth
    // Per row of the batch, written by the workers: every head's probabilities (HeadWidth), labels and answers (one a
    // head), the score, whether the heads agree, and the first head whose outputs were not finite.
    private readonly double[] _probabilities, _scores;
    private readonly int[] _labels, _answers;
    private readonly bool[] _agree;
    private readonly string?[] _nonFinite;
    // The images being predicted (one source at a time) and the current batch, images [_first, _first + _batch).
    private IReadOnlyList<byte[]>? _byteImages;
    private IReadOnlyList<float[]>? _unitImages;
    private unsafe byte* _contiguous;
    private int _first, _batch;
    private Workspace? _explainWorkspace;
    private InputGradientBuffers? _explainBuffers;
    private WorkerPool? _explainPool;

    /// <summary>A predictor of <paramref name="network"/> for batches of up to <paramref name="maxBatch"/> images.</summary>
    public Predictor(MultiTaskNetwork network, int maxBatch = 256, int threads = 1)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        _network = network;
        _pool = new WorkerPool(threads);
        _solo = threads > 1 ? new WorkerPool(1) : _pool;
        _running = _pool;
        _ws = network.CreateWorkspace(maxBatch, training: false);
        // (One worker reads floats faster than looked-up bytes: 3.6-3.9 against 3.9-4.4 µs an image at batch 1000.) An
        // MLP whose fc1 goes row by row needs no copies: every worker reads its own rows.
        if (network.Convolutions.Count == 0 && threads > 1 && !_ws.ListsRows) _byteWs = network.CreateWorkspace(maxBatch, threads, privateInputs: true);
        _current = _ws;
        (_inputs, _width) = (network.Config.InputSize, network.Config.HeadWidth);
        _offsets = Enumerable.Range(0, network.Tasks.Count).Select(network.TaskOffset).ToArray();
        _probabilities = new double[maxBatch * _width];
        _labels = new int[maxBatch * network.Tasks.Count];
        _answers = new int[maxBatch * network.Tasks.Count];
        _scores = new double[maxBatch];
        _agree = new bool[maxBatch];
        _nonFinite = new string?[maxBatch];
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
        CheckImages(images);
        _byteImages = images;
        try
        {
            return Predictions(images.Count);
        }
        finally
        {
            _byteImages = null;
        }
    }

    /// <summary>
    /// Predicts <c>images.Length / InputSize</c> images stored one after another (InputSize bytes each, 0 = background,
    /// 255 = ink) into the caller's spans, allocating nothing: <c>answers[image · heads + head]</c> is each head's answer
    /// (<see cref="TaskPrediction.Answer"/>), <c>probabilities[image · HeadWidth ..]</c> every head's probabilities side
    /// by side in head order (<see cref="TaskPrediction.Probabilities"/>, rounded to single precision) and
    /// <c>rejected[image]</c> whether the image is "not a digit" (<see cref="Prediction.Rejected"/>). The answers are
    /// those of <see cref="Predict(IReadOnlyList{byte[]})"/>; probabilities and rejected may be empty when not wanted.
    /// </summary>
    /// <exception cref="ArgumentException">images is not a whole number of images, or a span is too short for them.</exception>
    public unsafe void Predict(ReadOnlySpan<byte> images, Span<int> answers, Span<float> probabilities = default, Span<bool> rejected = default)
    {
        if (images.Length % _inputs != 0) throw new ArgumentException($"{images.Length} bytes are not a whole number of images of {_inputs} pixels.", nameof(images));
        int count = images.Length / _inputs, heads = _network.Tasks.Count;
        if (answers.Length < (long)count * heads) throw new ArgumentException($"answers holds {answers.Length} values; {count} images need {(long)count * heads}.", nameof(answers));
        if (!probabilities.IsEmpty && probabilities.Length < (long)count * _width)
            throw new ArgumentException($"probabilities holds {probabilities.Length} values; {count} images need {(long)count * _width}.", nameof(probabilities));
        if (!rejected.IsEmpty && rejected.Length < count) throw new ArgumentException($"rejected holds {rejected.Length} values; {count} images need {count}.", nameof(rejected));
        fixed (byte* pixels = images)
        {
            _contiguous = pixels;
            try
            {
                for (int first = 0; first < count; first += _ws.MaxBatch)
                {
                    RunBatch(first, Math.Min(_ws.MaxBatch, count - first));
                    _answers.AsSpan(0, _batch * heads).CopyTo(answers[(first * heads)..]);
                    if (!probabilities.IsEmpty)
                        for (int i = 0; i < _batch * _width; i++) probabilities[first * _width + i] = (float)_probabilities[i];
                    if (!rejected.IsEmpty)
                        for (int b = 0; b < _batch; b++) rejected[first + b] = Rejected(b);
                }
            }
            finally
            {
                _contiguous = null;
            }
        }
    }

    /// <summary>Predicts one image given as the network's input: InputSize values in [0, 1] (pixel / 255).</summary>
    /// <exception cref="ArgumentException">The image does not have the model's input size, or a value is outside [0, 1].</exception>
    public Prediction Predict(float[] unitPixels) => PredictUnits([unitPixels])[0];

    /// <summary>Predicts every image given as the network's input (each checked as <see cref="Predict(float[])"/> does).</summary>
    internal IReadOnlyList<Prediction> PredictUnits(IReadOnlyList<float[]> images)
    {
        ArgumentNullException.ThrowIfNull(images);
        foreach (var image in images) CheckUnitPixels(image, _inputs);
        _unitImages = images;
        try
        {
            return Predictions(images.Count);
        }
        finally
        {
            _unitImages = null;
        }
    }

    // Throws ArgumentException unless every image has the model's input size.
    private void CheckImages(IReadOnlyList<byte[]> images)
    {
        ArgumentNullException.ThrowIfNull(images);
        for (int i = 0; i < images.Count; i++)
        {
            if (images[i] is null) throw new ArgumentException($"Image {i} is null.", nameof(images));
            if (images[i].Length != _inputs) throw new ArgumentException($"Image {i} has {images[i].Length} pixels; the model expects {_inputs}.", nameof(images));
        }
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

    /// <summary>
    /// Every head's logits side by side for each image, (images, HeadWidth) row-major: what the network computes before
    /// the softmax, and what a PyTorch module of the same weights returns.
    /// </summary>
    internal float[] Logits(IReadOnlyList<byte[]> images)
    {
        CheckImages(images);
        var logits = new float[images.Count * _width];
        _byteImages = images;
        try
        {
            for (int first = 0; first < images.Count; first += _ws.MaxBatch)
            {
                RunBatch(first, Math.Min(_ws.MaxBatch, images.Count - first));
                _current.Logits.Span[..(_batch * _width)].CopyTo(logits.AsSpan(first * _width));
            }
        }
        finally
        {
            _byteImages = null;
        }
        return logits;
    }

    // The Prediction objects of `count` images from the source set by the caller, batch by batch.
    private List<Prediction> Predictions(int count)
    {
        var tasks = _network.Tasks;
        var predictions = new List<Prediction>(count);
        for (int first = 0; first < count; first += _ws.MaxBatch)
        {
            RunBatch(first, Math.Min(_ws.MaxBatch, count - first));
            for (int b = 0; b < _batch; b++)
            {
                var answers = new TaskPrediction[tasks.Count];
                for (int t = 0; t < answers.Length; t++)
                {
                    var task = tasks[t];
                    int label = _labels[b * answers.Length + t], answer = _answers[b * answers.Length + t];
                    double[] p = _probabilities.AsSpan(b * _width + _offsets[t], task.ClassCount).ToArray();
                    answers[t] = new TaskPrediction(task.Name, label, task.ClassName(label), p) { Answer = answer, AnswerName = task.ClassName(answer) };
                }
                predictions.Add(new Prediction(answers, _agree[b]) { Score = _scores[b], Rejected = Rejected(b) });
            }
        }
        return predictions;
    }

    // Runs images [first, first + batch) of the current source: the workers fill their rows of the input, run the
    // forward pass and answer their rows (softmax, labels, the joint decision, the score).
    private void RunBatch(int first, int batch)
    {
        (_first, _batch) = (first, batch);
        _current = _unitImages is null && _byteWs is not null ? _byteWs : _ws;
        Array.Clear(_nonFinite, 0, batch);
        // (Shipped CNN, batch 1, 2 threads: 97 µs an image against 75 µs on one.)
        // A CNN splits each image of such a batch between the workers instead (shipped CNN, batch 1, 2 threads, Zen 4).
        _splitImages = _current.Stages.Length > 0 && _network.SplitsImages(batch, _pool.Count);
        _running = batch <= Gemm.TileRows * (_pool.Count - 1) && !_splitImages ? _solo : _pool;
        _running.Run(this);
        for (int b = 0; b < batch; b++)
            // Weights that load (all finite) can still overflow on the way to the logits.
            if (_nonFinite[b] is { } task)
                throw new InvalidDataException($"The model's {task} outputs for image {first + b} are not finite numbers: its weights overflow.");
    }

    /// <inheritdoc/>
    void IParallelWork.Execute(int worker)
    {
        var ws = _current;
        var (r0, r1) = StepSchedule.Rows(_batch, worker, _running.Count);
        if (ws.PrivateIndex) CopyBytes(ws, worker);
        else
        {
            Fill(ws, r0, r1);
            if (_splitImages)
            {
                _running.Barrier(); // every worker reads every image
                _network.IndexSplitImages(ws, _batch, worker, _running);
            }
            // Rows listed as they are filled from bytes need no index; rows listed need no barrier (see Forward).
            else if (!(ws.ListsRows && _unitImages is null)) _network.IndexInput(ws, _batch, r0, r1);
            if (!ws.ListsRows) _running.Barrier();
        }
        _network.ForwardOwnRows(ws, _batch, _running, worker);
        Answer(ws, r0, r1);
    }

    // Whether row b of the batch is "not a digit" (never, for a model without a threshold).
    private bool Rejected(int b) => _scores[b] < _network.RejectionThreshold;

    // Image `image`'s bytes from the current source (a list of byte arrays, or images stored one after another).
    private unsafe ReadOnlySpan<byte> Bytes(int image) =>
        _byteImages is { } bytes ? bytes[image] : new ReadOnlySpan<byte>(_contiguous + (nint)image * _inputs, _inputs);

    // Every row's bytes and row mask into this worker's own copy (an MLP given bytes).
    private void CopyBytes(Workspace ws, int worker)
    {
        Span<byte> pixels = ws.PixelsOf(worker);
        Span<ulong> masks = ws.InputMasksOf(worker);
        int words = ActiveDepth.MaskWords(_inputs);
        for (int b = 0; b < _batch; b++)
        {
            ReadOnlySpan<byte> source = Bytes(_first + b);
            source.CopyTo(pixels.Slice(b * _inputs, _inputs));
            ActiveDepth.ByteRowMask(source, masks.Slice(b * words, words));
        }
    }

    // Input rows [r0, r1) of the batch from the current source; bytes for an MLP that goes row by row are listed too
    // (a byte's compare is a quarter of a float's).
    private void Fill(Workspace ws, int r0, int r1)
    {
        for (int b = r0; b < r1; b++)
        {
            Span<float> row = ws.Input.AsSpan(b * _inputs, _inputs);
            if (_unitImages is { } units) units[_first + b].CopyTo(row);
            else
            {
                var bytes = Bytes(_first + b);
                UnitFloats.FromBytes(bytes, row);
                if (ws.ListsRows) ws.ListRow(b, bytes);
            }
        }
    }

    // Rows [r0, r1) of the batch from their logits: every head's tempered probabilities and label, whether the heads
    // agree, each head's answer (the joint decision's where they do not) and the score (the class head's energy).
    private void Answer(Workspace ws, int r0, int r1)
    {
        var tasks = _network.Tasks;
        int heads = tasks.Count;
        for (int b = r0; b < r1; b++)
        {
            Span<double> p = _probabilities.AsSpan(b * _width, _width);
            Span<int> labels = _labels.AsSpan(b * heads, heads), answers = _answers.AsSpan(b * heads, heads);
            for (int t = 0; t < heads; t++)
            {
                int classes = tasks[t].ClassCount;
                Span<double> head = p.Slice(_offsets[t], classes);
                double energy = TemperedSoftmax.Apply(ws.Logits.Span.Slice(b * _width + _offsets[t], classes), _network.Temperatures[t], head);
                if (!double.IsFinite(energy)) _nonFinite[b] ??= tasks[t].Name;
                if (t == 0) _scores[b] = energy; // the class head's energy: the rejection score
                int label = 0;
                for (int c = 1; c < classes; c++) if (head[c] > head[label]) label = c;
                labels[t] = label;
            }
            // The first head is the class head (digit); every other head is a function of its answer.
            bool agree = true;
            for (int t = 1; t < heads; t++) agree &= tasks[t].LabelOf(labels[0]) == labels[t];
            _agree[b] = agree;
            labels.CopyTo(answers);
            if (!agree)
            {
                // The heads contradict each other: each derived head answers with the task of the joint class.
                int joint = JointDecision.Decide(tasks, p, _offsets);
                for (int t = 1; t < heads; t++) answers[t] = tasks[t].LabelOf(joint);
            }
        }
    }

    /// <summary>Stops the worker threads.</summary>
    public void Dispose()
    {
        _pool.Dispose();
        if (_solo != _pool) _solo.Dispose();
        _explainPool?.Dispose();
    }
}
