using System.Runtime.CompilerServices;

namespace DigitParity.Engine;

/// <summary>
/// How the SIMD kernels are compiled. Everywhere but the installed tool, a kernel is marked
/// <see cref="MethodImplOptions.AggressiveOptimization"/>: with tiered compilation it starts fully optimized, for the
/// machine's instruction sets, instead of in slow tier-0 code. The tool's linux-x64 build (<c>PRECOMPILED_KERNELS</c>)
/// drops the mark, because ReadyToRun never precompiles such a method and every command would pay the JIT for the
/// kernels at start. There the kernels are precompiled for x86-64-v3 (AVX2, FMA); a method that depends on an
/// instruction set beyond that (AVX-512) is rejected by the runtime on a machine that has it and compiled there instead.
/// </summary>
internal static class KernelCompilation
{
#if PRECOMPILED_KERNELS
    /// <summary>The options every kernel is compiled with: none (precompiled).</summary>
    public const MethodImplOptions Options = 0;
#else
    /// <summary>The options every kernel is compiled with: fully optimized from its first call.</summary>
    public const MethodImplOptions Options = MethodImplOptions.AggressiveOptimization;
#endif
}
