using DigitParity.Tasks;

namespace DigitParity.Metrics;

/// <summary>
/// One head's accuracy alone and under the joint decision; for a derived head also how often it contradicts the class
/// head and in how many of those contradictions the joint decision's class is right.
/// </summary>
/// <param name="Task">The head.</param>
/// <param name="HeadAccuracy">Accuracy of the head's own answer.</param>
/// <param name="JointAccuracy">Accuracy of the answer the joint decision implies for this head.</param>
/// <param name="Contradictions">Samples where this derived head's answer does not follow from the class head's (0 for the class head).</param>
/// <param name="ResolvedCorrectly">Of those, the samples whose joint class is the true one.</param>
internal sealed record JointFigures(string Task, double HeadAccuracy, double JointAccuracy, long Contradictions, long ResolvedCorrectly);

/// <summary>
/// The heads decide together: the class d that maximises p_class(d) · Π_t p_t(task_t(d)) over the derived heads, each
/// derived head's answer then task_t(d). Where the heads agree it is their answer; where they contradict each other,
/// the more confident side wins.
/// </summary>
internal static class JointDecision
{
    /// <summary>The joint class of one sample from every head's probabilities (class head first).</summary>
    public static int Decide(IReadOnlyList<TaskDefinition> tasks, IReadOnlyList<double[]> probabilities)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(probabilities);
        var offsets = new int[tasks.Count];
        for (int t = 1; t < offsets.Length; t++) offsets[t] = offsets[t - 1] + probabilities[t - 1].Length;
        return Decide(tasks, probabilities.SelectMany(p => p).ToArray(), offsets);
    }

    /// <summary>
    /// The joint class of one sample from every head's probabilities side by side: head t's classes start at
    /// <c>probabilities[offsets[t]]</c> (class head first).
    /// </summary>
    public static int Decide(IReadOnlyList<TaskDefinition> tasks, ReadOnlySpan<double> probabilities, ReadOnlySpan<int> offsets)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        if (offsets.Length != tasks.Count) throw new ArgumentException($"{offsets.Length} offsets for {tasks.Count} heads.", nameof(offsets));
        int best = 0;
        double bestScore = double.NegativeInfinity;
        for (int d = 0; d < tasks[0].ClassCount; d++)
        {
            double score = Math.Log(probabilities[offsets[0] + d]);
            for (int t = 1; t < tasks.Count; t++) score += Math.Log(probabilities[offsets[t] + tasks[t].LabelOf(d)]);
            if (score > bestScore) { bestScore = score; best = d; }
        }
        return best;
    }

    /// <summary>Every head's figures over the samples kept in <paramref name="logits"/>, at <paramref name="temperatures"/>.</summary>
    public static IReadOnlyList<JointFigures> Measure(IReadOnlyList<TaskDefinition> tasks, Calibration logits, IReadOnlyList<double> temperatures)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(temperatures);
        return Measure(tasks, [(logits, temperatures)]);
    }

    /// <summary>
    /// Every head's figures when several views of the same samples (an ensemble's models, each with its temperatures)
    /// vote: each head's probabilities are the mean of the views' tempered probabilities, and its answer their argmax.
    /// One view gives its own probabilities, bit for bit. The views must hold the same samples, labels and heads.
    /// </summary>
    public static IReadOnlyList<JointFigures> Measure(IReadOnlyList<TaskDefinition> tasks, IReadOnlyList<(Calibration Logits, IReadOnlyList<double> Temperatures)> views)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(views);
        if (views.Count == 0) throw new ArgumentException("No views to measure.", nameof(views));
        var labels = views[0].Logits;
        for (int v = 1; v < views.Count; v++)
            if (views[v].Logits.Count != labels.Count) throw new ArgumentException($"View {v} holds {views[v].Logits.Count} samples, view 0 {labels.Count}.", nameof(views));
        var probabilities = tasks.Select(t => new double[t.ClassCount]).ToArray();
        var view = tasks.Select(t => new double[t.ClassCount]).ToArray();
        long[] headCorrect = new long[tasks.Count], jointCorrect = new long[tasks.Count], contradictions = new long[tasks.Count], resolved = new long[tasks.Count];
        for (int i = 0; i < labels.Count; i++)
        {
            for (int t = 0; t < tasks.Count; t++)
            {
                if (views.Count == 1)
                {
                    views[0].Logits.Softmax(i, t, views[0].Temperatures[t], probabilities[t]);
                    continue;
                }
                Array.Clear(probabilities[t]);
                foreach (var (logits, temperatures) in views)
                {
                    if (logits.Label(t, i) != labels.Label(t, i)) throw new ArgumentException($"The views' labels differ at sample {i}.", nameof(views));
                    logits.Softmax(i, t, temperatures[t], view[t]);
                    for (int c = 0; c < view[t].Length; c++) probabilities[t][c] += view[t][c];
                }
                for (int c = 0; c < probabilities[t].Length; c++) probabilities[t][c] /= views.Count;
            }
            int joint = Decide(tasks, probabilities), classAnswer = ArgMax(probabilities[0]);
            for (int t = 0; t < tasks.Count; t++)
            {
                int answer = ArgMax(probabilities[t]), label = labels.Label(t, i);
                if (answer == label) headCorrect[t]++;
                if (tasks[t].LabelOf(joint) == label) jointCorrect[t]++;
                if (t > 0 && answer != tasks[t].LabelOf(classAnswer))
                {
                    contradictions[t]++;
                    if (joint == labels.Label(0, i)) resolved[t]++;
                }
            }
        }
        double n = Math.Max(labels.Count, 1);
        return tasks.Select((task, t) => new JointFigures(task.Name, headCorrect[t] / n, jointCorrect[t] / n, contradictions[t], resolved[t])).ToList();
    }

    private static int ArgMax(double[] p)
    {
        int best = 0;
        for (int c = 1; c < p.Length; c++) if (p[c] > p[best]) best = c;
        return best;
    }
}
