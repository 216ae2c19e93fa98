using DigitParity.Tasks;

namespace DigitParity.Metrics;

/// <summary>
/// Scores of how much an input looks like what a network was trained on (higher: more), from its logits, and how
/// well each separates two sets of inputs.
/// </summary>
internal static class Rejection
{
    /// <summary>The scores: the class head's largest probability; its logits' log-sum-exp (negative energy, see <see cref="TemperedSoftmax"/>); the joint decision's probability.</summary>
    public static IReadOnlyList<string> Scores { get; } = ["msp", "energy", "joint"];

    /// <summary>
    /// Every score of every sample, [score][sample], from logits (samples × width, heads side by side at
    /// <paramref name="offsets"/>) at the heads' <paramref name="temperatures"/>.
    /// </summary>
    public static double[][] Compute(IReadOnlyList<TaskDefinition> tasks, IReadOnlyList<int> offsets, int width, ReadOnlySpan<float> logits, IReadOnlyList<double> temperatures)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        int n = logits.Length / width;
        var scores = Scores.Select(_ => new double[n]).ToArray();
        var p = tasks.Select(t => new double[t.ClassCount]).ToArray();
        for (int i = 0; i < n; i++)
        {
            for (int t = 0; t < tasks.Count; t++)
            {
                double energy = TemperedSoftmax.Apply(logits.Slice(i * width + offsets[t], tasks[t].ClassCount), temperatures[t], p[t]);
                if (t == 0)
                {
                    scores[0][i] = p[0].Max();
                    scores[1][i] = energy;
                }
            }
            int joint = JointDecision.Decide(tasks, p);
            double score = p[0][joint];
            for (int t = 1; t < tasks.Count; t++) score *= p[t][tasks[t].LabelOf(joint)];
            scores[2][i] = score;
        }
        return scores;
    }

    /// <summary>
    /// The threshold that keeps <paramref name="kept"/> of <paramref name="scores"/>: the k-th smallest score with
    /// k = ⌊(1 − kept) · n⌋, so that at most k of them fall below it.
    /// </summary>
    public static double Threshold(IReadOnlyList<double> scores, double kept)
    {
        ArgumentNullException.ThrowIfNull(scores);
        if (scores.Count == 0) throw new ArgumentException("no scores to choose a threshold from", nameof(scores));
        var sorted = scores.Order().ToArray();
        return sorted[Math.Min((int)Math.Floor((1 - kept) * sorted.Length), sorted.Length - 1)];
    }

    /// <summary>
    /// The area under the ROC curve of telling <paramref name="inside"/> (positive, expected higher) from
    /// <paramref name="outside"/>: the probability that a random inside score beats a random outside one, ties half.
    /// </summary>
    public static double Auroc(IReadOnlyList<double> inside, IReadOnlyList<double> outside)
    {
        ArgumentNullException.ThrowIfNull(inside);
        ArgumentNullException.ThrowIfNull(outside);
        // Mann-Whitney U from the ranks of the pooled scores (ties share their mean rank).
        var all = inside.Select(s => (Score: s, Inside: true)).Concat(outside.Select(s => (Score: s, Inside: false))).OrderBy(x => x.Score).ToArray();
        double rankSum = 0;
        for (int i = 0; i < all.Length;)
        {
            int j = i;
            while (j < all.Length && all[j].Score == all[i].Score) j++;
            double rank = (i + j + 1) / 2.0; // ranks i+1 .. j
            for (int k = i; k < j; k++) if (all[k].Inside) rankSum += rank;
            i = j;
        }
        double m = inside.Count, n = outside.Count;
        return (rankSum - m * (m + 1) / 2) / (m * n);
    }
}
