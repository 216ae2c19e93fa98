using System.CommandLine.Help;
using System.CommandLine;

namespace DigitParity.Cli;

/// <summary>The <c>digitparity</c> command: parsing and rendering only; the work happens in the library.</summary>
public static class Program
{
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error, interactive: !Console.IsOutputRedirected);

    /// <summary>Runs the command line against the given writers; returns the exit code.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error, bool interactive = false)
    {
        // A plain command named like the tool (RootCommand would take the assembly's name for usage lines).
        var root = new Command("digitparity", "DigitParity: multi-task digit & parity recognition on MNIST, on our own SIMD engine.")
        {
            new HelpOption { Recursive = true },
            new VersionOption(),
            TrainCommand.Create(output, error, interactive),
            EvaluateCommand.Create(output, error),
            ExportCommand.Create(output, error),
            PredictCommand.Create(output, error),
            BenchCommand.Create(output, error),
            ReportCommand.Create(output, error),
            ServeCommand.Create(output, error),
        };
        if (args.Length == 0) args = ["--help"];
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            string command = parsed.CommandResult.Command == root ? "digitparity" : $"digitparity {parsed.CommandResult.Command.Name}";
            string message = string.Join(' ', parsed.Errors[0].Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            error.WriteLine($"digitparity: error: {message} (see '{command} --help')");
            return 2;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (UserError.Describe(e) is { } message)
        {
            error.WriteLine($"digitparity: error: {UserError.Printable(message)}");
            return 1;
        }
    }
}

/// <summary>Which exceptions are a user's mistake (bad file, bad value), reported as one line without a stack trace.</summary>
internal static class UserError
{
    /// <summary>Text from a file or a user, with control characters and terminal escapes shown as escapes (\n, \u001b).</summary>
    public static string Printable(string text) => DigitParity.IO.Untrusted.Quote(text, 2000);

    public static string? Describe(Exception e) => e switch
    {
        // The message without the " (Parameter 'name')" that ArgumentException appends: the user named no parameter.
        ArgumentException a when a.ParamName is not null => a.Message.Replace($" (Parameter '{a.ParamName}')", "", StringComparison.Ordinal),
        ArgumentException a => a.Message,
        InvalidDataException or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException => e.Message,
        DigitParity.Training.TrainingDivergedException => e.Message,
        IOException => e.Message,
        _ => null,
    };
}
