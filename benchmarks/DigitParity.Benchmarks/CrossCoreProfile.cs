using System.Diagnostics;
using DigitParity.Engine;

namespace DigitParity.Benchmarks;

/// <summary>
/// What reading another core's fresh writes costs on this machine (dotnet run -c Release --project
/// benchmarks/DigitParity.Benchmarks -- profile-crosscore): worker 1 writes a buffer, a barrier, then worker 0 reads it
/// (sums it), against worker 0 reading a buffer it wrote itself. The sizes are the exchanges of an MLP step.
/// </summary>
public static class CrossCoreProfile
{
    public static void Run()
    {
        using var pool = new WorkerPool(2);
        foreach (int kib in new[] { 4, 16, 64, 256 })
        {
            var work = new Exchange(pool, kib * 1024 / sizeof(float));
            for (int i = 0; i < 200; i++) pool.Run(work); // warm up
            double remote = 0, local = 0;
            const int Rounds = 2000;
            for (int i = 0; i < Rounds; i++)
            {
                work.Remote = true; pool.Run(work); remote += work.ReadTicks;
                work.Remote = false; pool.Run(work); local += work.ReadTicks;
            }
            double Us(double ticks) => ticks / Rounds * 1e6 / Stopwatch.Frequency;
            int lines = kib * 1024 / 64;
            Console.WriteLine($"{kib,4} KiB ({lines,5} lines): written by the other core {Us(remote),7:0.00} µs ({Us(remote) * 1000 / lines,5:0.0} ns a line), by this core {Us(local),7:0.00} µs");
        }
    }

    private sealed class Exchange(WorkerPool pool, int floats) : IParallelWork
    {
        private readonly float[] _buffer = new float[floats];
        public bool Remote;
        public long ReadTicks;
        public float Sum;

        public void Execute(int worker)
        {
            int writer = Remote ? 1 : 0;
            if (worker == writer)
                for (int i = 0; i < _buffer.Length; i++) _buffer[i] = i;
            pool.Barrier();
            if (worker != 0) return;
            long start = Stopwatch.GetTimestamp();
            float sum = 0;
            ReadOnlySpan<float> b = _buffer;
            for (int i = 0; i < b.Length; i += 16) sum += b[i];
            ReadTicks = Stopwatch.GetTimestamp() - start;
            Sum = sum;
        }
    }
}
