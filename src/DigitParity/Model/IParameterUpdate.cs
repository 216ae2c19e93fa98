using DigitParity.Engine;

namespace DigitParity.Model;

/// <summary>Receives a layer's parameters as soon as their gradients are final and no worker reads them any more.</summary>
internal interface IParameterUpdate
{
    /// <summary>
    /// Elements [<paramref name="offset"/>, <paramref name="offset"/> + <paramref name="length"/>) of
    /// <paramref name="tensor"/>'s storage are ready (one contiguous run: whole weight panels or whole rows of one).
    /// </summary>
    void Apply(ParameterTensor tensor, int offset, int length);

    /// <summary>
    /// The update a layer may fuse into the product that computes <paramref name="tensor"/>'s gradient: the momentum
    /// buffer laid out like the tensor, and the step's hyper-parameters. Optimizers whose rule is not a
    /// <see cref="MomentumStep"/> return false, and the layer hands its gradients to <see cref="Apply"/> instead.
    /// </summary>
    bool TryGetFusedStep(ParameterTensor tensor, out Span<float> velocity, out MomentumStep step)
    {
        velocity = default;
        step = default;
        return false;
    }
}
