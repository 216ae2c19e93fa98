using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using System.Runtime.Intrinsics;

namespace DigitParity.Engine;

/// <summary>
/// The few vector operations our kernels need, as static abstract members so that one kernel source
/// is specialised by the JIT for each width (a struct type argument costs nothing at run time).
/// </summary>
internal unsafe interface ISimd<TVec> where TVec : struct
{
    /// <summary>Floats per vector.</summary>
    static abstract int Count { get; }

    /// <summary>Vectors per row of the register tile (its width is <c>TileVectors × Count</c> floats).</summary>
    static abstract int TileVectors { get; }

    static abstract TVec Zero { get; }
    static abstract TVec Broadcast(float value);
    static abstract TVec Load(float* source);
    static abstract void Store(float* destination, TVec value);
    static abstract TVec FirstLanes(int count);
    static abstract TVec LoadMasked(float* source, TVec mask);
    static abstract void StoreMasked(float* destination, TVec mask, TVec value);
    /// <summary>a · b + c with one rounding.</summary>
    static abstract TVec MultiplyAdd(TVec a, TVec b, TVec c);
    static abstract TVec Add(TVec a, TVec b);
    static abstract TVec Subtract(TVec a, TVec b);
    static abstract TVec Multiply(TVec a, TVec b);
    static abstract TVec Relu(TVec value);
    /// <summary>value where gate &gt; 0, else 0: the ReLU backward, gated by the ReLU's output.</summary>
    static abstract TVec WherePositive(TVec value, TVec gate);
    static abstract TVec Max(TVec a, TVec b);
    /// <summary>
    /// A 2 × 2 pooling window per lane (x0-x3 row-major, m their maximum): where m &gt; 0, the first k with x_k = m (0-3),
    /// else MaxPool2d.NoWinner (255), as ints at destination.
    /// </summary>
    static abstract void StoreWinners(TVec x0, TVec x1, TVec x2, TVec x3, TVec m, int* destination);
}

/// <summary>AVX-512: 16 floats a vector, a 5 × 64 tile in 20 of the 32 zmm registers.</summary>
internal readonly unsafe struct Simd512 : ISimd<Vector512<float>>
{
    public static int Count => 16;
    public static int TileVectors => 4;
    public static Vector512<float> Zero => Vector512<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Broadcast(float value) => Vector512.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(float* source) => Vector512.Load(source);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* destination, Vector512<float> value) => value.Store(destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> FirstLanes(int count) => Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(count)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LoadMasked(float* source, Vector512<float> mask) => Avx512F.MaskLoad(source, mask, Vector512<float>.Zero);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreMasked(float* destination, Vector512<float> mask, Vector512<float> value) => Avx512F.MaskStore(destination, mask, value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Avx512F.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Subtract(Vector512<float> a, Vector512<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Relu(Vector512<float> value) => Vector512.Max(value, Vector512<float>.Zero);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> WherePositive(Vector512<float> value, Vector512<float> gate) => Vector512.ConditionalSelect(Vector512.GreaterThan(gate, Vector512<float>.Zero), value, Vector512<float>.Zero);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Max(Vector512<float> a, Vector512<float> b) => Vector512.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreWinners(Vector512<float> x0, Vector512<float> x1, Vector512<float> x2, Vector512<float> x3, Vector512<float> m, int* destination)
    {
        // Checked from the last candidate to the first, so that the first match is the one that stays.
        var open = Vector512.GreaterThan(m, Vector512<float>.Zero).AsInt32();
        var k = Vector512.Create(255);
        k = Vector512.ConditionalSelect(Vector512.Equals(x3, m).AsInt32() & open, Vector512.Create(3), k);
        k = Vector512.ConditionalSelect(Vector512.Equals(x2, m).AsInt32() & open, Vector512.Create(2), k);
        k = Vector512.ConditionalSelect(Vector512.Equals(x1, m).AsInt32() & open, Vector512.Create(1), k);
        Vector512.ConditionalSelect(Vector512.Equals(x0, m).AsInt32() & open, Vector512<int>.Zero, k).Store(destination);
    }
}

/// <summary>AVX2 + FMA: 8 floats a vector, a 5 × 16 tile in 10 of the 16 ymm registers.</summary>
internal readonly unsafe struct Simd256 : ISimd<Vector256<float>>
{
    public static int Count => 8;
    public static int TileVectors => 2;
    public static Vector256<float> Zero => Vector256<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Broadcast(float value) => Vector256.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(float* source) => Vector256.Load(source);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* destination, Vector256<float> value) => value.Store(destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> FirstLanes(int count) => Vector256.LessThan(Vector256<int>.Indices, Vector256.Create(count)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadMasked(float* source, Vector256<float> mask) => Avx.MaskLoad(source, mask);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreMasked(float* destination, Vector256<float> mask, Vector256<float> value) => Avx.MaskStore(destination, mask, value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Fma.MultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Subtract(Vector256<float> a, Vector256<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Relu(Vector256<float> value) => Vector256.Max(value, Vector256<float>.Zero);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> WherePositive(Vector256<float> value, Vector256<float> gate) => Vector256.ConditionalSelect(Vector256.GreaterThan(gate, Vector256<float>.Zero), value, Vector256<float>.Zero);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Max(Vector256<float> a, Vector256<float> b) => Vector256.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreWinners(Vector256<float> x0, Vector256<float> x1, Vector256<float> x2, Vector256<float> x3, Vector256<float> m, int* destination)
    {
        var open = Vector256.GreaterThan(m, Vector256<float>.Zero).AsInt32();
        var k = Vector256.Create(255);
        k = Vector256.ConditionalSelect(Vector256.Equals(x3, m).AsInt32() & open, Vector256.Create(3), k);
        k = Vector256.ConditionalSelect(Vector256.Equals(x2, m).AsInt32() & open, Vector256.Create(2), k);
        k = Vector256.ConditionalSelect(Vector256.Equals(x1, m).AsInt32() & open, Vector256.Create(1), k);
        Vector256.ConditionalSelect(Vector256.Equals(x0, m).AsInt32() & open, Vector256<int>.Zero, k).Store(destination);
    }
}
