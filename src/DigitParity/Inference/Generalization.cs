using DigitParity.Data;
using DigitParity.Tasks;

namespace DigitParity.Inference;

/// <summary>One head's accuracy on a labelled set: over every image, and over the images the model did not reject.</summary>
/// <param name="Task">The head's name.</param>
/// <param name="Accuracy">Share of all images whose answer (<see cref="TaskPrediction.Answer"/>) is right.</param>
/// <param name="KeptAccuracy">The same over the images not rejected as "not a digit" (NaN when all were).</param>
internal sealed record HeadGeneralization(string Task, double Accuracy, double KeptAccuracy);

/// <summary>A model's answers on a labelled set beyond its training distribution.</summary>
/// <param name="Images">Images in the set.</param>
/// <param name="Rejected">Share rejected as "not a digit" (0 for a model without a threshold).</param>
/// <param name="Heads">Per head, in head order.</param>
internal sealed record Generalization(int Images, double Rejected, IReadOnlyList<HeadGeneralization> Heads)
{
    /// <summary>Predicts every image of <paramref name="set"/> and scores each head's answer against the task of its label.</summary>
    public static Generalization Measure(Predictor predictor, IReadOnlyList<TaskDefinition> tasks, Dataset set)
    {
        ArgumentNullException.ThrowIfNull(predictor);
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(set);
        var images = Enumerable.Range(0, set.Count).Select(i => set.Image(i).ToArray()).ToArray();
        var predictions = predictor.Predict(images);
        int rejected = predictions.Count(p => p.Rejected);
        var heads = new HeadGeneralization[tasks.Count];
        for (int t = 0; t < tasks.Count; t++)
        {
            int right = 0, keptRight = 0;
            for (int i = 0; i < set.Count; i++)
            {
                if (predictions[i].Tasks[t].Answer != tasks[t].LabelOf(set.Labels[i])) continue;
                right++;
                if (!predictions[i].Rejected) keptRight++;
            }
            int kept = set.Count - rejected;
            heads[t] = new HeadGeneralization(tasks[t].Name, right / (double)set.Count, kept > 0 ? keptRight / (double)kept : double.NaN);
        }
        return new Generalization(set.Count, rejected / (double)set.Count, heads);
    }
}
