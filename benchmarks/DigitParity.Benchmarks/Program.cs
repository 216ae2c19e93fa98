using BenchmarkDotNet.Running;

// dotnet run -c Release --project benchmarks/DigitParity.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(DigitParity.Benchmarks.GemmBenchmarks).Assembly).Run(args);
