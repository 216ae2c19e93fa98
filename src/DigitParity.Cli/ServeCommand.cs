using System.CommandLine;
using DigitParity.Checkpoints;
using DigitParity.Server;
using Microsoft.Extensions.Hosting;

namespace DigitParity.Cli;

/// <summary><c>digitparity serve</c>: the drawing page and the prediction API for a saved model.</summary>
internal static class ServeCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var model = CommandOptions.ModelOption("serve");
        var config = CommandOptions.ConfigOption();
        var urls = new Option<string>("--urls")
        {
            Description = "Where to listen; several URLs separated by ';' (https:// needs a certificate configured for Kestrel)",
            DefaultValueFactory = _ => "http://127.0.0.1:5000",
            HelpName = "URL",
        };
        urls.Validators.Add(result =>
        {
            foreach (string url in Split(result.GetValueOrDefault<string>() ?? ""))
                if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                    result.AddError($"--urls {url} is not an http:// or https:// URL (e.g. http://127.0.0.1:5000)");
        });
        var maxBatch = new Option<int>("--max-batch") { Description = "Most images answered in one forward pass (requests queued meanwhile are gathered into it)", DefaultValueFactory = _ => PredictionService.DefaultMaxBatch, HelpName = "N" };
        OptionRules.Require(maxBatch, v => v is >= 1 and <= 256, "in 1-256");
        var batchWait = new Option<double>("--batch-wait") { Description = "Milliseconds a batch that is not full waits for more requests (0: takes what is queued)", DefaultValueFactory = _ => 0, HelpName = "MS" };
        OptionRules.Require(batchWait, v => v is >= 0 and <= 10, "in 0-10");
        var command = new Command("serve", $"Serve a page to draw digits on and a JSON API (POST /api/predict, bodies up to {DigitServer.MaxBodyBytes / (1 << 20)} MiB)")
        {
            model, config, urls, maxBatch, batchWait,
        };
        command.SetAction(parse =>
        {
            string path = CommandOptions.ModelPath(parse, model, error);
            var loaded = CommandOptions.Load(parse, config, path);
            using var service = new PredictionService(loaded.Network, path, parse.GetValue(maxBatch), TimeSpan.FromMilliseconds(parse.GetValue(batchWait)));
            string listen = parse.GetValue(urls)!;
            var app = DigitServer.Build(service, Split(listen));
            try
            {
                app.Start();
            }
            catch (InvalidOperationException e) when (e.Message.Contains("certificate", StringComparison.OrdinalIgnoreCase))
            {
                throw new IOException($"--urls {listen}: https needs a server certificate, and none is configured (set Kestrel's, e.g. ASPNETCORE_Kestrel__Certificates__Default__Path, or use http://)");
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException)
            {
                throw new IOException($"--urls {listen}: cannot listen there ({e.InnerException?.Message ?? e.Message})");
            }
            output.WriteLine($"Serving {path} ({string.Join(", ", loaded.Network.Tasks.Select(t => t.Name))}) on {string.Join(", ", app.Urls)}; press Ctrl+C to stop");
            app.WaitForShutdown();
            return 0;
        });
        return command;
    }

    private static string[] Split(string urls) => urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
