using DigitParity.Checkpoints;
using DigitParity.Cli;
using DigitParity.Model;
using DigitParity.Training;

namespace DigitParity.Tests;

/// <summary>
/// <c>train --preset NAME</c>: the tutorial preset is the default to the bit, a preset's network and settings are the
/// ones trained, explicit options override it, and an unknown name gets one line.
/// </summary>
public sealed class PresetTests
{
    private static (MultiTaskNetwork Network, string Output) Train(string data, params string[] options)
    {
        string model = Path.Combine(Directory.CreateTempSubdirectory("digitparity-preset-").FullName, "model.safetensors");
        var output = new StringWriter();
        Assert.Equal(0, Program.Run(["train", "--data", data, "--threads", "2", "--save", model, .. options], output, new StringWriter()));
        return (Checkpoint.Load(model).Network, output.ToString());
    }

    [Fact]
    public void TheTutorialPresetIsTheDefaultBitForBit()
    {
        string data = TestData.WriteMnistSubset(500, 100, gzip: false);
        var (plain, _) = Train(data, "--epochs", "1");
        var (preset, _) = Train(data, "--epochs", "1", "--preset", "tutorial");
        Assert.Equal(ModelConfig.Tutorial.Hidden, preset.Config.Hidden);
        Assert.True(plain.Parameters.Values.Span.SequenceEqual(preset.Parameters.Values.Span));
    }

    [Fact]
    public void APresetSetsTheNetworkAndSettingsAndExplicitOptionsOverrideIt()
    {
        string data = TestData.WriteMnistSubset(300, 100, gzip: false);
        // speedrun: a CNN of 16 and 32 channels with batch norm, without dropout, one epoch; --epochs 2 overrides it.
        var (network, output) = Train(data, "--preset", "speedrun", "--epochs", "2");
        Assert.Equal([16, 32], network.Config.Convolutions);
        Assert.Equal(0, network.Config.Dropout);
        Assert.True(network.Config.BatchNorm);
        Assert.Contains("Epoch[2] Validation-accuracy", output);
        Assert.DoesNotContain("Epoch[3]", output);

        // --conv, --dropout and --batch-norm override the preset's network; --model mlp replaces it.
        var (wider, _) = Train(data, "--preset", "speedrun", "--conv", "8,8", "--dropout", "0.5", "--batch-norm", "false");
        Assert.Equal([8, 8], wider.Config.Convolutions);
        Assert.Equal(0.5f, wider.Config.Dropout);
        Assert.False(wider.Config.BatchNorm);
        var (mlp, _) = Train(data, "--preset", "speedrun", "--epochs", "1", "--model", "mlp");
        Assert.Empty(mlp.Config.Convolutions);
        Assert.Equal(ModelConfig.Tutorial.Hidden, mlp.Config.Hidden);
    }

    [Fact]
    public void AnUnknownPresetIsOneLineAndHelpListsThePresets()
    {
        var error = new StringWriter();
        Assert.Equal(2, Program.Run(["train", "--preset", "turbo"], new StringWriter(), error));
        Assert.StartsWith("digitparity: error: --preset turbo is not a preset; expected one of tutorial, fast, accurate, speedrun", error.ToString());
        var help = new StringWriter();
        Assert.Equal(0, Program.Run(["train", "--help"], help, new StringWriter()));
        foreach (var preset in TrainingPreset.All) Assert.Contains($"{preset.Name}: ", help.ToString());
    }
}
