namespace DigitParity.Optimizers;

/// <summary>The optimizers training can use.</summary>
public enum OptimizerKind
{
    /// <summary>SGD with momentum and weight decay (the tutorial's).</summary>
    Sgd,

    /// <summary>Adam, weight decay added to the gradient.</summary>
    Adam,

    /// <summary>AdamW, weight decay decoupled from the gradient.</summary>
    AdamW,
}
