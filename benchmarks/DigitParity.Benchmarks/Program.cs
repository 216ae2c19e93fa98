using BenchmarkDotNet.Running;

// dotnet run -c Release --project benchmarks/DigitParity.Benchmarks -- --filter '*'
// dotnet run -c Release --project benchmarks/DigitParity.Benchmarks -- profile-cnn
// dotnet run -c Release --project benchmarks/DigitParity.Benchmarks -- profile-inference [MLP|CNN] (ours against ONNX Runtime; both models unless one is named)
// DOTNET_TieredCompilation=0 dotnet run -c Release --project benchmarks/DigitParity.Benchmarks -- profile-predict [cnn|mlp] [BATCH] [THREADS] [SECONDS] (one model's predictions in a loop)
// benchmarks/load/serve.sh [SECONDS] (serve under wrk: JSON pixels and PNG bodies, 1 and 200 connections)
// dotnet run -c Release --project benchmarks/DigitParity.Benchmarks -- profile-explain (an explanation against a prediction)
// dotnet run -c Release --project benchmarks/DigitParity.Benchmarks -- profile-peak [SECONDS] (the FMA peak every 100 ms)
// DOTNET_TieredCompilation=0 dotnet run -c Release --project benchmarks/DigitParity.Benchmarks -- profile-mlp (fully optimized code, as the CLI runs)
if (args is ["profile-predict", ..])
{
    var invariant = System.Globalization.CultureInfo.InvariantCulture;
    DigitParity.Benchmarks.PredictionLoop.Run(args.Length > 1 ? args[1] : "cnn", args.Length > 2 ? int.Parse(args[2], invariant) : 1,
        args.Length > 3 ? int.Parse(args[3], invariant) : 1, args.Length > 4 ? double.Parse(args[4], invariant) : 3);
    return;
}
if (args is ["profile-inference", ..])
{
    DigitParity.Benchmarks.InferenceComparison.Run(args.Length > 1 ? args[1] : null);
    return;
}
if (args is ["profile-explain"])
{
    DigitParity.Benchmarks.ExplanationCost.Run();
    return;
}
if (args is ["profile-crosscore"])
{
    DigitParity.Benchmarks.CrossCoreProfile.Run();
    return;
}
if (args is ["profile-peak", ..])
{
    DigitParity.Benchmarks.PeakSeries.Run(args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 10);
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
