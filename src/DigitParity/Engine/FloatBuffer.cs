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

    /// <summary>A zeroed buffer of <paramref name="length"/> floats.</summary>
    public unsafe FloatBuffer(int length)
    {
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
    /// Counts the writable views handed out (<see cref="Span"/> and everything built on it): unchanged since a moment
    /// means nothing can have written the floats since, as every write goes through such a view. A cache of something
    /// computed from the floats may skip re-reading them while it is unchanged. (Workers that take views at the same
    /// time may lose an increment between them, never all of them.)
    /// </summary>
    public long Writes => _writes;

    private long _writes;

    /// <summary>All floats.</summary>
    public Span<float> Span
    {
        get
        {
            _writes++;
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
