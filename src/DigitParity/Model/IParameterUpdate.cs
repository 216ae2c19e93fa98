namespace DigitParity.Model;

/// <summary>Receives a layer's parameters as soon as their gradients are final and no worker reads them any more.</summary>
public interface IParameterUpdate
{
    /// <summary>
    /// Elements [<paramref name="offset"/>, <paramref name="offset"/> + <paramref name="length"/>) of
    /// <paramref name="tensor"/>'s storage are ready (one contiguous run: whole weight panels or whole rows of one).
    /// </summary>
    void Apply(ParameterTensor tensor, int offset, int length);
}
