using BenchmarkDotNet.Running;

// dotnet run -c Release --project benchmarks/DigitParity.Benchmarks -- --filter '*'
// dotnet run -c Release --project benchmarks/DigitParity.Benchmarks -- profile-cnn
// dotnet run -c Release --project benchmarks/DigitParity.Benchmarks -- profile-mlp
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
