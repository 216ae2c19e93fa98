namespace DigitParity.Engine;

/// <summary>Splits a range between workers in multiples of a granule, so each share stays vector-aligned.</summary>
internal static class Partition
{
    /// <summary>The [start, end) share of worker <paramref name="worker"/> of <paramref name="workers"/> over <c>[0, total)</c>.</summary>
    public static (int Start, int End) Share(int total, int granule, int worker, int workers)
    {
        int blocks = (total + granule - 1) / granule;
        int start = (int)((long)blocks * worker / workers) * granule;
        int end = (int)((long)blocks * (worker + 1) / workers) * granule;
        return (Math.Min(start, total), Math.Min(end, total));
    }
}
