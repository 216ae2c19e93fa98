namespace DigitParity.Metrics;

/// <summary>How a derived head relates to the class head's answer, over a pass.</summary>
/// <param name="Task">The derived task (e.g. parity).</param>
/// <param name="Samples">Samples counted.</param>
/// <param name="Agreement">Fraction where the derived head's answer equals the task of the class head's answer.</param>
/// <param name="ClassAccuracyWhenAgree">Class head accuracy on the samples where the heads agree.</param>
/// <param name="ClassAccuracyWhenDisagree">Class head accuracy where they disagree.</param>
/// <param name="TaskAccuracyWhenAgree">Derived head accuracy where they agree.</param>
/// <param name="TaskAccuracyWhenDisagree">Derived head accuracy where they disagree.</param>
internal sealed record ConsistencyFigures(string Task, long Samples, double Agreement, double ClassAccuracyWhenAgree,
    double ClassAccuracyWhenDisagree, double TaskAccuracyWhenAgree, double TaskAccuracyWhenDisagree);
