namespace DigitParity.Optimizers;

/// <summary>How the learning rate moves during training.</summary>
public enum LearningRateSchedule
{
    /// <summary>η throughout (the tutorial).</summary>
    Constant,

    /// <summary>η, divided by 10 after each third of the epochs (η, η/10, η/100).</summary>
    Step,

    /// <summary>η · ½(1 + cos(π · progress)), from η down to 0 over the whole run, updated every step.</summary>
    Cosine,

    /// <summary>One cycle: linear warm-up from η/25 to η over the first 30 % of steps, then cosine down to η/10⁴.</summary>
    OneCycle,
}
