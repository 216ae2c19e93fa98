using System.CommandLine;
using DigitParity.IO;
using DigitParity.Checkpoints;
using DigitParity.Export;

namespace DigitParity.Cli;

/// <summary><c>digitparity export</c>: a saved model as ONNX.</summary>
internal static class ExportCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var model = CommandOptions.ModelOption("export");
        var config = CommandOptions.ConfigOption();
        var onnx = new Option<string>("--onnx") { Description = "The ONNX file to write (input: pixels [N, 784] = pixel / 255)", HelpName = "OUT", Required = true };
        var command = new Command("export", "Export a saved model as ONNX (opset 17): per task TASK_logits and TASK_probabilities") { model, config, onnx };
        command.SetAction(parse =>
        {
            string path = parse.GetValue(onnx)!;
            OutputPaths.CheckWritable(path, "the ONNX model");
            var loaded = CommandOptions.Load(parse, config, CommandOptions.ModelPath(parse, model, error));
            OnnxExport.Write(path, loaded.Network);
            output.WriteLine($"ONNX model written to {path}: input pixels [N, {loaded.Network.Config.InputSize}] (pixel / 255); outputs "
                + string.Join(", ", loaded.Network.Tasks.SelectMany(t => new[] { $"{t.Name}_logits", $"{t.Name}_probabilities" })));
            return 0;
        });
        return command;
    }
}
