using DigitParity.Engine;

namespace DigitParity.Model;

/// <summary>One named tensor inside the flat parameter buffer.</summary>
/// <param name="Name">Stable name, e.g. <c>fc1.weight</c>; used by checkpoints and exports.</param>
/// <param name="Offset">Start inside <see cref="ParameterStore.Values"/> (a multiple of 16 floats).</param>
/// <param name="Shape">Dimensions, row-major; a Linear weight is (in, out).</param>
/// <param name="Decay">Whether weight decay applies (weights yes, biases no).</param>
/// <param name="Trained">Whether an optimizer updates it (false: a statistic the forward pass keeps, such as batch norm's running mean).</param>
internal sealed record ParameterTensor(string Name, int Offset, int[] Shape, bool Decay, bool Trained = true)
{
    /// <summary>Number of floats.</summary>
    public int Length { get; } = Shape.Aggregate(1, (a, b) => a * b);
}

/// <summary>Collects the tensors of a model before the single allocation.</summary>
internal sealed class ParameterLayout
{
    private const int Alignment = 16; // floats: one 64-byte cache line / one Vector512
    private readonly List<ParameterTensor> _tensors = [];
    private int _size;

    /// <summary>Reserves a tensor and returns its descriptor.</summary>
    public ParameterTensor Add(string name, int[] shape, bool decay, bool trained = true)
    {
        if (_tensors.Any(t => t.Name == name)) throw new ArgumentException($"Parameter {name} is already defined.", nameof(name));
        var tensor = new ParameterTensor(name, _size, shape, decay, trained);
        _tensors.Add(tensor);
        _size += (tensor.Length + Alignment - 1) / Alignment * Alignment;
        return tensor;
    }

    /// <summary>All tensors in allocation order.</summary>
    public IReadOnlyList<ParameterTensor> Tensors => _tensors;

    /// <summary>Floats needed for all tensors, padding included.</summary>
    public int Size => _size;
}

/// <summary>
/// All parameters of a model in one array and all their gradients in another, allocated once
/// (llm.c's layout): optimizers and checkpoints walk flat memory, layers take slices.
/// </summary>
internal sealed class ParameterStore
{
    /// <summary>Allocates storage for <paramref name="layout"/>; everything starts at zero.</summary>
    public ParameterStore(ParameterLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        Tensors = layout.Tensors.ToArray();
        Values = new FloatBuffer(layout.Size, countsWrites: true);
        Gradients = new FloatBuffer(layout.Size);
    }

    /// <summary>The tensors, in allocation order.</summary>
    public IReadOnlyList<ParameterTensor> Tensors { get; }

    /// <summary>Every parameter value.</summary>
    public FloatBuffer Values { get; }

    /// <summary>Every gradient, same layout as <see cref="Values"/>.</summary>
    public FloatBuffer Gradients { get; }

    /// <summary>Number of trainable parameters (padding and running statistics excluded).</summary>
    public int Count => Tensors.Where(t => t.Trained).Sum(t => t.Length);

    /// <summary>Values of one tensor.</summary>
    public Span<float> Value(ParameterTensor tensor) => Values.AsSpan(tensor.Offset, tensor.Length);

    /// <summary>Values of one tensor, read-only: a view that does not count as a possible write (FloatBuffer.Writes).</summary>
    public ReadOnlySpan<float> Read(ParameterTensor tensor) => Values.ReadOnly.Slice(tensor.Offset, tensor.Length);

    /// <summary>Gradient of one tensor.</summary>
    public Span<float> Gradient(ParameterTensor tensor) => Gradients.AsSpan(tensor.Offset, tensor.Length);

    /// <summary>Looks a tensor up by name.</summary>
    public ParameterTensor this[string name] => Tensors.FirstOrDefault(t => t.Name == name)
        ?? throw new KeyNotFoundException($"No parameter named {name}.");
}
