namespace DigitParity.Model;

/// <summary>Receives a layer's parameters as soon as their gradients are final and no worker reads them any more.</summary>
public interface IParameterUpdate
{
    /// <summary>
    /// Columns [<paramref name="start"/>, <paramref name="end"/>) of <paramref name="tensor"/>'s last dimension are
    /// ready; they are whole weight panels, so their storage is contiguous.
    /// </summary>
    void Apply(ParameterTensor tensor, int start, int end);
}
