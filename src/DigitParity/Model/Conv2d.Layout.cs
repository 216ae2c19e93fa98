namespace DigitParity.Model;

// Weight layouts: ours (K·K·C, OC), rows in (ky, kx, c) order, and PyTorch's (OC, C, K, K).
internal sealed partial class Conv2d
{
    /// <summary>W in PyTorch's Conv2d layout (OC, C, K, K), from a buffer laid out like the parameters.</summary>
    public float[] ReadTorchWeight(ReadOnlySpan<float> values)
    {
        ReadOnlySpan<float> w = values.Slice(Weight.Offset, Weight.Length);
        var torch = new float[w.Length];
        for (int o = 0; o < OutChannels; o++)
            for (int i = 0; i < InChannels; i++)
                for (int y = 0; y < Kernel; y++)
                    for (int x = 0; x < Kernel; x++) torch[TorchIndex(o, i, y, x)] = w[OurIndex(o, i, y, x)];
        return torch;
    }

    /// <summary>Our (K·K·C, OC) layout of a weight given in PyTorch's (OC, C, K, K) layout.</summary>
    public void WriteTorchWeight(ReadOnlySpan<float> torch, Span<float> ours)
    {
        if (torch.Length != Weight.Length || ours.Length != Weight.Length) throw new ArgumentException($"Expected {Weight.Length} weights.");
        for (int o = 0; o < OutChannels; o++)
            for (int i = 0; i < InChannels; i++)
                for (int y = 0; y < Kernel; y++)
                    for (int x = 0; x < Kernel; x++) ours[OurIndex(o, i, y, x)] = torch[TorchIndex(o, i, y, x)];
    }

    private int TorchIndex(int o, int i, int y, int x) => ((o * InChannels + i) * Kernel + y) * Kernel + x;

    private int OurIndex(int o, int i, int y, int x) => ((y * Kernel + x) * InChannels + i) * OutChannels + o;
}
