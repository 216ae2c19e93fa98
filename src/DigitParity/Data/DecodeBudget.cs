namespace DigitParity.Data;

/// <summary>
/// Bounds the image decoding a process does at once: at most <see cref="MaxDecodes"/> decodes and
/// <see cref="MaxPixels"/> pixels in flight (each pixel costs ~6 bytes while it decodes: RGBA, then gray). A server
/// gives one to <see cref="DigitImage.FromEncoded(byte[], string, DecodeBudget?)"/>, so a flood of large or hostile
/// images is turned away (<see cref="DecodeBudgetExceededException"/>) instead of taking every core and gigabytes.
/// </summary>
internal sealed class DecodeBudget(int maxDecodes, long maxPixels)
{
    private readonly object _lock = new();
    private int _decodes;
    private long _pixels;

    public int MaxDecodes { get; } = maxDecodes;

    public long MaxPixels { get; } = maxPixels;

    /// <summary>Reserves room for an image of <paramref name="pixels"/> pixels, or returns null when there is none now.</summary>
    public IDisposable? TryReserve(long pixels)
    {
        lock (_lock)
        {
            if (_decodes >= MaxDecodes || _pixels + pixels > MaxPixels) return null;
            _decodes++;
            _pixels += pixels;
        }
        return new Reservation(this, pixels);
    }

    private void Release(long pixels)
    {
        lock (_lock)
        {
            _decodes--;
            _pixels -= pixels;
        }
    }

    private sealed class Reservation(DecodeBudget budget, long pixels) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) budget.Release(pixels);
        }
    }
}

/// <summary>The decode budget is full for now: try again shortly.</summary>
internal sealed class DecodeBudgetExceededException(string message) : Exception(message);
