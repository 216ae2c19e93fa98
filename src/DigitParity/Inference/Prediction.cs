namespace DigitParity.Inference;

/// <summary>One head's answer for one image.</summary>
/// <param name="Task">Task name.</param>
/// <param name="Label">The most probable class.</param>
/// <param name="Name">Its display name.</param>
/// <param name="Probabilities">Softmax over the head's classes.</param>
public sealed record TaskPrediction(string Task, int Label, string Name, double[] Probabilities);

/// <summary>All heads' answers for one image.</summary>
/// <param name="Tasks">Per task, in head order.</param>
/// <param name="HeadsAgree">Whether every derived head's answer equals the task of the class (digit) head's answer.</param>
public sealed record Prediction(IReadOnlyList<TaskPrediction> Tasks, bool HeadsAgree);
