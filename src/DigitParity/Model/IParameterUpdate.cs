namespace DigitParity.Model;

/// <summary>Receives a layer's parameters as soon as their gradients are final and no worker reads them any more.</summary>
public interface IParameterUpdate
{
    /// <summary>
    /// Elements [<paramref name="offset"/>, <paramref name="offset"/> + <paramref name="length"/>) of
    /// <paramref name="tensor"/>'s storage are ready (one contiguous run: whole weight panels or whole rows of one).
    /// </summary>
    void Apply(ParameterTensor tensor, int offset, int length);

    /// <summary>
    /// For momentum SGD: the momentum buffer of <paramref name="tensor"/> and the update's hyper-parameters, so that a
    /// layer can apply the update in the same pass that computes the gradient. Other optimizers return false.
    /// </summary>
    bool TryGetMomentumSgd(ParameterTensor tensor, out Span<float> velocity, out float learningRate, out float momentum, out float weightDecay)
    {
        velocity = default;
        learningRate = momentum = weightDecay = 0f;
        return false;
    }
}
