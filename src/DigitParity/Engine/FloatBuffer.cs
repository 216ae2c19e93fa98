namespace DigitParity.Engine;

/// <summary>
/// A float array whose first element sits on a 64-byte cache-line boundary (pinned, so it stays there).
/// When two workers own neighbouring column blocks of one matrix, aligned rows mean no cache line
/// is shared between them (no false sharing), and every Vector512 load of a block is aligned.
/// </summary>
internal sealed class FloatBuffer
{
    private const int AlignmentBytes = 64;
    private readonly float[] _array;
    private readonly int _offset;

    /// <summary>A zeroed buffer of <paramref name="length"/> floats; with <paramref name="countsWrites"/>, one that keeps <see cref="Writes"/>.</summary>
    public unsafe FloatBuffer(int length, bool countsWrites = false)
    {
        _countsWrites = countsWrites;
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        _array = GC.AllocateArray<float>(length + AlignmentBytes / sizeof(float), pinned: true);
        fixed (float* p = _array)
        {
            int misalignment = (int)((nuint)p % AlignmentBytes);
            _offset = misalignment == 0 ? 0 : (AlignmentBytes - misalignment) / sizeof(float);
        }
        Length = length;
    }

    /// <summary>Number of floats.</summary>
    public int Length { get; }

    /// <summary>
    /// For a buffer that counts its writes (the parameters): how many writable views it has handed out (<see cref="Span"/>
    /// and everything built on it), atomically, so it only grows. Unchanged since a moment means nothing can have written
    /// the floats since, as every write goes through such a view, and a cache of something computed from them may skip
    /// reading them again. Other buffers, which workers share in every step, keep no count (0).
    /// </summary>
    public long Writes => Volatile.Read(ref _writes);

    private readonly bool _countsWrites;
    private long _writes;

    /// <summary>All floats.</summary>
    public Span<float> Span
    {
        get
        {
            if (_countsWrites) Interlocked.Increment(ref _writes);
            return _array.AsSpan(_offset, Length);
        }
    }

    /// <summary>All floats, read-only (not counted in <see cref="Writes"/>).</summary>
    public ReadOnlySpan<float> ReadOnly => _array.AsSpan(_offset, Length);

    /// <summary>Element <paramref name="index"/>.</summary>
    public ref float this[int index] => ref Span[index];

    /// <summary>A slice from <paramref name="start"/> to the end.</summary>
    public Span<float> AsSpan(int start) => Span[start..];

    /// <summary>A slice of <paramref name="length"/> floats from <paramref name="start"/>.</summary>
    public Span<float> AsSpan(int start, int length) => Span.Slice(start, length);

    /// <summary>The floats as a new array.</summary>
    public float[] ToArray() => ReadOnly.ToArray();

    /// <summary>Views the buffer as a span.</summary>
    public static implicit operator Span<float>(FloatBuffer buffer) => buffer is null ? default : buffer.Span;

    /// <summary>Views the buffer as a read-only span.</summary>
    public static implicit operator ReadOnlySpan<float>(FloatBuffer buffer) => buffer is null ? default : buffer.ReadOnly;
}
