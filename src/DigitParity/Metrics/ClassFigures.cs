using DigitParity.Tasks;

namespace DigitParity.Metrics;

/// <summary>One class of one task: precision, recall and F1 from a confusion matrix.</summary>
/// <param name="Class">Class index.</param>
/// <param name="Name">Display name.</param>
/// <param name="Precision">Correct / predicted as this class (0 when never predicted).</param>
/// <param name="Recall">Correct / truly this class (0 when absent).</param>
/// <param name="F1">Harmonic mean of precision and recall (0 when both are 0).</param>
/// <param name="Support">Samples truly of this class.</param>
internal sealed record ClassFigures(int Class, string Name, double Precision, double Recall, double F1, long Support)
{
    /// <summary>Per-class figures of a confusion matrix (rows = true, columns = predicted).</summary>
    public static IReadOnlyList<ClassFigures> From(TaskDefinition task, long[][] confusion)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(confusion);
        var figures = new ClassFigures[confusion.Length];
        for (int c = 0; c < confusion.Length; c++)
        {
            long correct = confusion[c][c], support = confusion[c].Sum(), predicted = confusion.Sum(row => row[c]);
            double precision = predicted == 0 ? 0 : (double)correct / predicted;
            double recall = support == 0 ? 0 : (double)correct / support;
            double f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
            figures[c] = new ClassFigures(c, task.ClassName(c), precision, recall, f1, support);
        }
        return figures;
    }
}
