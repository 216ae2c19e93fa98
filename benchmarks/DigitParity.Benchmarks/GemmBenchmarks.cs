using BenchmarkDotNet.Attributes;
using DigitParity.Engine;

namespace DigitParity.Benchmarks;

/// <summary>The micro-kernel on the shapes of a training step (one thread, dense), as Linear calls it.</summary>
public class GemmBenchmarks
{
    private float[] _a = [], _b = [], _c = [];

    /// <summary>Shape "M×N×K", with T marking a transposed A (a weight gradient).</summary>
    [Params("100x64x784", "784x64x100T", "100x64x128", "128x64x100T", "100x128x64", "100x12x64", "1000x64x784", "784x64x1000T")]
    public string Shape { get; set; } = "100x64x784";

    private int M => int.Parse(Shape.Split('x')[0]);
    private int N => int.Parse(Shape.Split('x')[1]);
    private int K => int.Parse(Shape.Split('x')[2].TrimEnd('T'));
    private bool Transposed => Shape.EndsWith('T');

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Rng(1);
        _a = Fill(rng, M * K);
        _b = Fill(rng, K * N);
        _c = new float[M * N];
    }

    [Benchmark]
    public void Multiply() => Gemm.Multiply(_a, Transposed ? M : K, _b, N, default, _c, N, M, N, K,
        Transposed ? GemmOptions.TransposeA : GemmOptions.None);

    private static float[] Fill(Rng rng, int n)
    {
        var values = new float[n];
        for (int i = 0; i < n; i++) values[i] = rng.NextUniform(1f);
        return values;
    }
}
