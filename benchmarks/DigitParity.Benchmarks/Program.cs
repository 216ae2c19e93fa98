using BenchmarkDotNet.Running;

// dotnet run -c Release --project benchmarks/DigitParity.Benchmarks -- --filter '*'
// dotnet run -c Release --project benchmarks/DigitParity.Benchmarks -- profile-cnn
if (args is ["profile-cnn"])
{
    DigitParity.Benchmarks.CnnProfile.Run();
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(DigitParity.Benchmarks.GemmBenchmarks).Assembly).Run(args);
