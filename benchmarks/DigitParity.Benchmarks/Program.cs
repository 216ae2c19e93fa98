using BenchmarkDotNet.Running;

// dotnet run -c Release --project benchmarks/DigitParity.Benchmarks -- --filter '*'
// dotnet run -c Release --project benchmarks/DigitParity.Benchmarks -- profile-cnn
// DOTNET_TieredCompilation=0 dotnet run -c Release --project benchmarks/DigitParity.Benchmarks -- profile-mlp (fully optimized code, as the CLI runs)
if (args is ["profile-crosscore"])
{
    DigitParity.Benchmarks.CrossCoreProfile.Run();
    return;
}
if (args is ["profile-mlp"])
{
    DigitParity.Benchmarks.MlpProfile.Run();
    return;
}
if (args is ["profile-cnn"])
{
    DigitParity.Benchmarks.CnnProfile.Run();
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(DigitParity.Benchmarks.GemmBenchmarks).Assembly).Run(args);
