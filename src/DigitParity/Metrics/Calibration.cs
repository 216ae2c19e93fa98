using DigitParity.Tasks;

namespace DigitParity.Metrics;

/// <summary>One bin of a reliability diagram: the predictions whose confidence lies in [Lower, Upper).</summary>
/// <param name="Lower">The bin's lowest confidence.</param>
/// <param name="Upper">The next bin's lowest (1 for the last bin, which includes it).</param>
/// <param name="Count">Predictions in the bin.</param>
/// <param name="Confidence">Their mean confidence (the probability of the predicted class).</param>
/// <param name="Accuracy">The fraction of them that is correct.</param>
internal sealed record CalibrationBin(double Lower, double Upper, long Count, double Confidence, double Accuracy);

/// <summary>
/// How well one head's probabilities match how often it is right, at <paramref name="Temperature"/>.
/// </summary>
/// <param name="Task">The head.</param>
/// <param name="Temperature">The softmax temperature the figures are for.</param>
/// <param name="Samples">Samples measured.</param>
/// <param name="ExpectedError">ECE: Σ_b (n_b / N) · |accuracy_b − confidence_b| over <see cref="Calibration.Bins"/> equal-width bins.</param>
/// <param name="MaximumError">MCE: the largest |accuracy_b − confidence_b| of a non-empty bin.</param>
/// <param name="NegativeLogLikelihood">Mean −ln p(true class).</param>
/// <param name="Brier">Mean over samples of Σ_c (p_c − [c = true])², in [0, 2].</param>
/// <param name="Bins">The reliability diagram.</param>
internal sealed record CalibrationFigures(string Task, double Temperature, long Samples, double ExpectedError, double MaximumError,
    double NegativeLogLikelihood, double Brier, IReadOnlyList<CalibrationBin> Bins);

/// <summary>
/// The logits and labels of an evaluation, kept so that calibration can be measured at any temperature per head and a
/// temperature fitted: softmax(z / T) with T > 1 softens a head's probabilities, T &lt; 1 sharpens them, and no T
/// changes its argmax.
/// </summary>
internal sealed class Calibration
{
    /// <summary>Equal-width confidence bins of the expected calibration error.</summary>
    public const int Bins = 15;

    private readonly IReadOnlyList<TaskDefinition> _tasks;
    private readonly int[] _offsets;
    private readonly int _width;
    private readonly List<float> _logits = [];
    private readonly List<int>[] _labels;

    /// <summary>For a network's heads, whose logits lie side by side in rows of <paramref name="width"/>.</summary>
    public Calibration(IReadOnlyList<TaskDefinition> tasks, int width)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        _tasks = tasks;
        _width = width;
        _offsets = new int[tasks.Count];
        for (int t = 1; t < tasks.Count; t++) _offsets[t] = _offsets[t - 1] + tasks[t - 1].ClassCount;
        _labels = tasks.Select(_ => new List<int>()).ToArray();
    }

    /// <summary>Samples added so far.</summary>
    public int Count => _labels.Length == 0 ? 0 : _labels[0].Count;

    /// <summary>Adds a batch: its logits, (batch, width) row-major, and each task's labels.</summary>
    public void Update(int batch, ReadOnlySpan<float> logits, IReadOnlyList<int[]> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (logits.Length < batch * _width) throw new ArgumentException($"{logits.Length} logits, expected {batch} rows of {_width}.", nameof(logits));
        foreach (float v in logits[..(batch * _width)]) _logits.Add(v);
        for (int t = 0; t < _tasks.Count; t++)
            for (int b = 0; b < batch; b++) _labels[t].Add(labels[t][b]);
    }

    /// <summary>The figures of every head at its temperature (<paramref name="temperatures"/>, one per task).</summary>
    public IReadOnlyList<CalibrationFigures> Compute(IReadOnlyList<double> temperatures)
    {
        ArgumentNullException.ThrowIfNull(temperatures);
        return _tasks.Select((task, t) => Compute(t, temperatures[t])).ToList();
    }

    private CalibrationFigures Compute(int t, double temperature)
    {
        int classes = _tasks[t].ClassCount, n = Count;
        var count = new long[Bins];
        var confidence = new double[Bins];
        var correct = new long[Bins];
        double nll = 0, brier = 0;
        var p = new double[classes];
        for (int i = 0; i < n; i++)
        {
            int label = _labels[t][i];
            Softmax(i, t, temperature, p);
            int predicted = 0;
            for (int c = 1; c < classes; c++) if (p[c] > p[predicted]) predicted = c;
            nll -= Math.Log(Math.Max(p[label], double.Epsilon)); // as NegativeLogLikelihood
            for (int c = 0; c < classes; c++) brier += (p[c] - (c == label ? 1 : 0)) * (p[c] - (c == label ? 1 : 0));
            int bin = Math.Min((int)(p[predicted] * Bins), Bins - 1);
            count[bin]++;
            confidence[bin] += p[predicted];
            if (predicted == label) correct[bin]++;
        }
        double ece = 0, mce = 0;
        var bins = new List<CalibrationBin>();
        for (int b = 0; b < Bins; b++)
        {
            double meanConfidence = count[b] == 0 ? 0 : confidence[b] / count[b], accuracy = count[b] == 0 ? 0 : (double)correct[b] / count[b];
            if (count[b] > 0)
            {
                double gap = Math.Abs(accuracy - meanConfidence);
                ece += gap * count[b] / n;
                mce = Math.Max(mce, gap);
            }
            bins.Add(new CalibrationBin((double)b / Bins, (double)(b + 1) / Bins, count[b], meanConfidence, accuracy));
        }
        return new CalibrationFigures(_tasks[t].Name, temperature, n, ece, mce, n == 0 ? 0 : nll / n, n == 0 ? 0 : brier / n, bins);
    }

    /// <summary>Every sample's energy score of the first (class) head at <paramref name="temperature"/>, log Σ exp(z / T).</summary>
    public double[] Energies(double temperature)
    {
        var p = new double[_tasks[0].ClassCount];
        var logits = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_logits);
        var energies = new double[Count];
        for (int i = 0; i < energies.Length; i++) energies[i] = TemperedSoftmax.Apply(logits.Slice(i * _width + _offsets[0], p.Length), temperature, p);
        return energies;
    }

    /// <summary>Task <paramref name="t"/>'s true label of sample <paramref name="i"/>.</summary>
    public int Label(int t, int i) => _labels[t][i];

    /// <summary>p = softmax(z / temperature) of sample i's logits for task t, in double.</summary>
    public void Softmax(int i, int t, double temperature, double[] p) =>
        TemperedSoftmax.Apply(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_logits).Slice(i * _width + _offsets[t], p.Length), temperature, p);

    /// <summary>Mean −ln softmax(z / T)[label] of task <paramref name="t"/>.</summary>
    public double NegativeLogLikelihood(int t, double temperature)
    {
        var p = new double[_tasks[t].ClassCount];
        double total = 0;
        for (int i = 0; i < Count; i++)
        {
            Softmax(i, t, temperature, p);
            total -= Math.Log(Math.Max(p[_labels[t][i]], double.Epsilon));
        }
        return Count == 0 ? 0 : total / Count;
    }

    /// <summary>Smallest and largest temperature a fit may return.</summary>
    public const double MinTemperature = 0.05, MaxTemperature = 20;

    /// <summary>
    /// The temperature of each head that minimises its negative log-likelihood on these samples. NLL is convex in
    /// β = 1/T, so a golden-section search over ln β finds the minimum (to 1e-6 relative) within
    /// [<see cref="MinTemperature"/>, <see cref="MaxTemperature"/>].
    /// </summary>
    public double[] FitTemperatures()
    {
        var result = new double[_tasks.Count];
        double phi = (Math.Sqrt(5) - 1) / 2;
        for (int t = 0; t < _tasks.Count; t++)
        {
            double lo = Math.Log(1 / MaxTemperature), hi = Math.Log(1 / MinTemperature);
            double NllAt(double logBeta) => NegativeLogLikelihood(t, Math.Exp(-logBeta));
            double a = hi - phi * (hi - lo), b = lo + phi * (hi - lo), fa = NllAt(a), fb = NllAt(b);
            while (hi - lo > 1e-6)
            {
                if (fa < fb) { hi = b; b = a; fb = fa; a = hi - phi * (hi - lo); fa = NllAt(a); }
                else { lo = a; a = b; fa = fb; b = lo + phi * (hi - lo); fb = NllAt(b); }
            }
            result[t] = Math.Exp(-(lo + hi) / 2);
        }
        return result;
    }
}
