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

    /// <summary>
    /// The answer DigitParity gives for this head. For the class (digit) head it is <see cref="Label"/>; for a derived
    /// head (parity, ...) it is the task of the joint decision's class, the class d that maximises
    /// p_class(d) · Π p_task(task(d)) over the heads, which on MNIST's test set is right more often than the derived
    /// head alone. It differs from <see cref="Label"/> only where the heads contradict each other.
    /// </summary>
    public int Answer { get; init; } = Label;

    /// <summary>The display name of <see cref="Answer"/>.</summary>
    public string AnswerName { get; init; } = Name;
}

/// <summary>All heads' answers for one image.</summary>
/// <param name="Tasks">Per task, in head order.</param>
/// <param name="HeadsAgree">Whether every derived head's answer equals the task of the class (digit) head's answer.</param>
public sealed record Prediction(IReadOnlyList<TaskPrediction> Tasks, bool HeadsAgree)
{
    /// <summary>
    /// How much the input looks like the training images: the class head's energy score, log Σ exp(logits / T)
    /// (higher: more).
    /// </summary>
    public double Score { get; init; }

    /// <summary>
    /// Whether the input is "not a digit": its <see cref="Score"/> is below the threshold the model was given on
    /// held-out data (kept 99 % of real digits there). Always false for a model without one (trained without a
    /// validation split); the heads' answers are still given.
    /// </summary>
    public bool Rejected { get; init; }

    /// <summary>The answer of the head called <paramref name="task"/> (<c>digit</c>, <c>parity</c>, ...).</summary>
    /// <exception cref="KeyNotFoundException">The model has no such head.</exception>
    public TaskPrediction this[string task] =>
        Tasks.FirstOrDefault(t => t.Task == task) ?? throw new KeyNotFoundException($"no head {task}; the heads are {string.Join(", ", Tasks.Select(t => t.Task))}");
}
