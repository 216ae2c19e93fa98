using System.Diagnostics;

namespace DigitParity.Engine;

/// <summary>Work that every worker of a <see cref="WorkerPool"/> runs at once, each on its own share.</summary>
internal interface IParallelWork
{
    /// <summary>Runs worker <paramref name="worker"/>'s share (0 ≤ worker &lt; pool.Count).</summary>
    void Execute(int worker);
}

/// <summary>
/// Persistent worker threads: <see cref="Run"/> wakes them, the calling thread acts as worker 0, and
/// <see cref="Barrier"/> separates phases inside the work. A training step lasts ~200 µs, shorter than a
/// <c>Parallel.For</c> costs, so workers spin between steps and sleep only after a millisecond idle.
/// </summary>
internal sealed class WorkerPool : IDisposable
{
    private static readonly long SleepTicks = Stopwatch.Frequency / 1000;
    private readonly Thread[] _threads;
    private readonly object _gate = new();
    private IParallelWork? _work;
    private int _generation;
    private int _pending;
    private int _arrived;
    private int _barrierGeneration;
    private volatile bool _stopping;
    private volatile Exception? _fault;

    /// <summary>Creates a pool of <paramref name="count"/> workers (the caller plus count − 1 threads).</summary>
    public WorkerPool(int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        Count = count;
        _threads = new Thread[count - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            int index = i + 1;
            _threads[i] = new Thread(() => Loop(index)) { IsBackground = true, Name = $"DigitParity worker {index}" };
            _threads[i].Start();
        }
    }

    /// <summary>Number of workers, the caller included.</summary>
    public int Count { get; }

    /// <summary>Runs <paramref name="work"/> on every worker and returns when all have finished.</summary>
    public void Run(IParallelWork work)
    {
        ArgumentNullException.ThrowIfNull(work);
        ObjectDisposedException.ThrowIf(_stopping, this);
        if (Count == 1)
        {
            work.Execute(0);
            return;
        }
        _work = work;
        _fault = null;
        Volatile.Write(ref _pending, Count - 1);
        lock (_gate)
        {
            Volatile.Write(ref _generation, _generation + 1);
            Monitor.PulseAll(_gate);
        }
        try
        {
            work.Execute(0);
        }
        catch (Exception e)
        {
            _fault ??= e;
        }
        var waiter = new Waiter();
        while (Volatile.Read(ref _pending) != 0) waiter.Wait();
        _work = null;
        if (_fault is { } fault) throw new AggregateException("A worker failed.", fault);
    }

    /// <summary>Waits until every worker reaches this point; call it from all workers inside <see cref="IParallelWork.Execute"/>.</summary>
    public void Barrier()
    {
        if (Count == 1) return;
        int generation = Volatile.Read(ref _barrierGeneration);
        if (Interlocked.Increment(ref _arrived) == Count)
        {
            Volatile.Write(ref _arrived, 0);
            Volatile.Write(ref _barrierGeneration, generation + 1);
            return;
        }
        var waiter = new Waiter();
        while (Volatile.Read(ref _barrierGeneration) == generation)
        {
            if (_fault is not null) throw new OperationCanceledException("Another worker failed.");
            waiter.Wait();
        }
    }

    private void Loop(int index)
    {
        int seen = 0;
        while (true)
        {
            var waiter = new Waiter();
            while (Volatile.Read(ref _generation) == seen && !_stopping)
            {
                if (!waiter.Expired(SleepTicks))
                {
                    waiter.Wait();
                    continue;
                }
                lock (_gate)
                {
                    while (Volatile.Read(ref _generation) == seen && !_stopping) Monitor.Wait(_gate);
                }
            }
            if (_stopping) return;
            seen = Volatile.Read(ref _generation);
            try
            {
                _work!.Execute(index);
            }
            catch (Exception e)
            {
                _fault ??= e;
            }
            Interlocked.Decrement(ref _pending);
        }
    }

    /// <summary>Stops the worker threads.</summary>
    public void Dispose()
    {
        if (_stopping) return;
        lock (_gate)
        {
            _stopping = true;
            Monitor.PulseAll(_gate);
        }
        foreach (var thread in _threads) thread.Join();
    }
}

/// <summary>
/// Waits for another core: busy-spins (no system call, so it notices a release within nanoseconds) for the
/// first 50 µs, then yields the processor between checks in case the other worker is not running.
/// </summary>
internal struct Waiter
{
    private static readonly long SpinTicks = Stopwatch.Frequency / 20_000;
    private long _start;
    private SpinWait _yielder;

    public void Wait()
    {
        if (_start == 0) _start = Stopwatch.GetTimestamp();
        if (!Expired(SpinTicks)) Thread.SpinWait(4);
        else _yielder.SpinOnce(sleep1Threshold: -1);
    }

    public readonly bool Expired(long ticks) => _start != 0 && Stopwatch.GetTimestamp() - _start > ticks;
}
