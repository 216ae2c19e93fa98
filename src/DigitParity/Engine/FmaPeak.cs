using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using System.Runtime.Intrinsics;

namespace DigitParity.Engine;

/// <summary>This machine's fused multiply-add ceiling, measured with a loop that touches no memory.</summary>
internal static class FmaPeak
{
    /// <summary>GFLOP/s of one thread running 12 independent FMA chains (enough to fill two FMA pipes).</summary>
    public static double SingleThread(TimeSpan duration) => Measure(1, duration);

    /// <summary>GFLOP/s of <paramref name="threads"/> threads running the same loop at once.</summary>
    public static double Measure(int threads, TimeSpan duration)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        Run(10_000); // compile before timing
        long iterations = 1_000_000;
        var clock = Stopwatch.StartNew();
        Run(iterations);
        double perIteration = clock.Elapsed.TotalSeconds / iterations;
        iterations = Math.Max(1_000_000, (long)(duration.TotalSeconds / perIteration));
        using var start = new Barrier(threads);
        double[] seconds = new double[threads];
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            var watch = Stopwatch.StartNew();
            Run(iterations);
            seconds[t] = watch.Elapsed.TotalSeconds;
        })).ToArray();
        foreach (var worker in workers) worker.Start();
        foreach (var worker in workers) worker.Join();
        return threads * iterations * FlopsPerIteration / seconds.Max() / 1e9;
    }

    private static double FlopsPerIteration => 12 * 2 * (Avx512F.IsSupported ? 16 : Avx2.IsSupported && Fma.IsSupported ? 8 : 1);

    [MethodImpl(MethodImplOptions.NoInlining | KernelCompilation.Options)]
    private static float Run(long iterations)
    {
        if (Avx512F.IsSupported) return RunVector<Simd512, Vector512<float>>(iterations).ToScalar();
        if (Avx2.IsSupported && Fma.IsSupported) return RunVector<Simd256, Vector256<float>>(iterations).ToScalar();
        float a = 1.0000001f, b = 0.9999999f, c0 = 0, c1 = 0, c2 = 0, c3 = 0, c4 = 0, c5 = 0, c6 = 0, c7 = 0, c8 = 0, c9 = 0, c10 = 0, c11 = 0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = MathF.FusedMultiplyAdd(c0, a, b); c1 = MathF.FusedMultiplyAdd(c1, a, b); c2 = MathF.FusedMultiplyAdd(c2, a, b);
            c3 = MathF.FusedMultiplyAdd(c3, a, b); c4 = MathF.FusedMultiplyAdd(c4, a, b); c5 = MathF.FusedMultiplyAdd(c5, a, b);
            c6 = MathF.FusedMultiplyAdd(c6, a, b); c7 = MathF.FusedMultiplyAdd(c7, a, b); c8 = MathF.FusedMultiplyAdd(c8, a, b);
            c9 = MathF.FusedMultiplyAdd(c9, a, b); c10 = MathF.FusedMultiplyAdd(c10, a, b); c11 = MathF.FusedMultiplyAdd(c11, a, b);
        }
        return c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11;
    }

    // The same loop for every vector width: 12 accumulators, c = c·a + b.
    [MethodImpl(MethodImplOptions.NoInlining | KernelCompilation.Options)]
    private static TV RunVector<TS, TV>(long iterations) where TS : struct, ISimd<TV> where TV : struct
    {
        TV a = TS.Broadcast(1.0000001f), b = TS.Broadcast(0.9999999f);
        TV c0 = TS.Zero, c1 = TS.Zero, c2 = TS.Zero, c3 = TS.Zero, c4 = TS.Zero, c5 = TS.Zero,
            c6 = TS.Zero, c7 = TS.Zero, c8 = TS.Zero, c9 = TS.Zero, c10 = TS.Zero, c11 = TS.Zero;
        for (long i = 0; i < iterations; i++)
        {
            c0 = TS.MultiplyAdd(c0, a, b); c1 = TS.MultiplyAdd(c1, a, b); c2 = TS.MultiplyAdd(c2, a, b);
            c3 = TS.MultiplyAdd(c3, a, b); c4 = TS.MultiplyAdd(c4, a, b); c5 = TS.MultiplyAdd(c5, a, b);
            c6 = TS.MultiplyAdd(c6, a, b); c7 = TS.MultiplyAdd(c7, a, b); c8 = TS.MultiplyAdd(c8, a, b);
            c9 = TS.MultiplyAdd(c9, a, b); c10 = TS.MultiplyAdd(c10, a, b); c11 = TS.MultiplyAdd(c11, a, b);
        }
        return TS.Add(TS.Add(TS.Add(TS.Add(c0, c1), TS.Add(c2, c3)), TS.Add(TS.Add(c4, c5), TS.Add(c6, c7))),
            TS.Add(TS.Add(c8, c9), TS.Add(c10, c11)));
    }
}
