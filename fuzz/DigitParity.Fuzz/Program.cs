using DigitParity.Fuzz;

// digitparity-fuzz TARGET             : run under afl-fuzz (see fuzz/run.sh)
// digitparity-fuzz TARGET --replay DIR: run every file of DIR once, print findings, exit 1 if any
// digitparity-fuzz --seeds DATA OUT   : write the starting corpora from the MNIST files in DATA
if (args.Length == 3 && args[0] == "--seeds")
{
    Seeds.Write(args[1], args[2]);
    return 0;
}
if (args.Length == 0 || !FuzzTargets.All.TryGetValue(args[0], out var target))
{
    Console.Error.WriteLine($"usage: DigitParity.Fuzz {{{string.Join('|', FuzzTargets.All.Keys)}}} [--replay DIR]");
    return 2;
}
if (args.Length == 3 && args[1] == "--replay")
{
    var findings = FuzzTargets.Replay(args[0], args[2]);
    foreach (string finding in findings) Console.WriteLine(finding);
    Console.WriteLine($"{args[0]}: {Directory.GetFiles(args[2]).Length} inputs, {findings.Count} findings");
    return findings.Count == 0 ? 0 : 1;
}
SharpFuzz.Fuzzer.OutOfProcess.Run(stream =>
{
    using var buffer = new MemoryStream();
    stream.CopyTo(buffer);
    target(buffer.ToArray());
});
return 0;
