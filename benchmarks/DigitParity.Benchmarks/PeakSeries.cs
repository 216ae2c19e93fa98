using System.Diagnostics;
using DigitParity.Engine;

namespace DigitParity.Benchmarks;

/// <summary>
/// How this machine's speed moves from moment to moment (dotnet run -c Release --project benchmarks/DigitParity.Benchmarks
/// -- profile-peak [SECONDS]): the one-thread FMA peak measured every 100 ms. Run one copy pinned to each vCPU at once
/// (taskset -c 0 ... &amp; taskset -c 1 ...) to see whether one or both slow down while a neighbour on the host works.
/// </summary>
public static class PeakSeries
{
    public static void Run(double seconds)
    {
        var clock = Stopwatch.StartNew();
        var values = new List<double>();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            double gflops = FmaPeak.SingleThread(TimeSpan.FromMilliseconds(100));
            values.Add(gflops);
            Console.WriteLine($"{clock.Elapsed.TotalSeconds,6:0.0} s {gflops,7:0.0} GFLOP/s");
        }
        values.Sort();
        Console.WriteLine($"median {values[values.Count / 2]:0.0}, min {values[0]:0.0}, max {values[^1]:0.0} GFLOP/s over {values.Count} measurements");
    }
}
