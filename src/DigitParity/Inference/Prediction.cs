namespace DigitParity.Inference;

/// <summary>One head's answer for one image.</summary>
/// <param name="Task">Task name.</param>
/// <param name="Label">The most probable class.</param>
/// <param name="Name">Its display name.</param>
/// <param name="Probabilities">Softmax over the head's classes.</param>
public sealed record TaskPrediction(string Task, int Label, string Name, double[] Probabilities)
{
    /// <summary>The probability of <see cref="Label"/>.</summary>
    public double Confidence => Probabilities[Label];
}

/// <summary>All heads' answers for one image.</summary>
/// <param name="Tasks">Per task, in head order.</param>
/// <param name="HeadsAgree">Whether every derived head's answer equals the task of the class (digit) head's answer.</param>
public sealed record Prediction(IReadOnlyList<TaskPrediction> Tasks, bool HeadsAgree)
{
    /// <summary>The answer of the head called <paramref name="task"/> (<c>digit</c>, <c>parity</c>, ...).</summary>
    /// <exception cref="KeyNotFoundException">The model has no such head.</exception>
    public TaskPrediction this[string task] =>
        Tasks.FirstOrDefault(t => t.Task == task) ?? throw new KeyNotFoundException($"no head {task}; the heads are {string.Join(", ", Tasks.Select(t => t.Task))}");
}
