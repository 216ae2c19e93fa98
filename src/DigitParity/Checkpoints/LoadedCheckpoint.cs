using System.Globalization;
using DigitParity.Model;

namespace DigitParity.Checkpoints;

/// <summary>A model read back from a checkpoint, with the metadata saved beside it.</summary>
public sealed class LoadedCheckpoint
{
    internal LoadedCheckpoint(MultiTaskNetwork network, IReadOnlyDictionary<string, string> metadata,
        IReadOnlyDictionary<string, IReadOnlyDictionary<string, float[]>> optimizerState)
    {
        Network = network;
        Metadata = metadata;
        OptimizerState = optimizerState;
    }

    /// <summary>The rebuilt network with its weights.</summary>
    public MultiTaskNetwork Network { get; }

    /// <summary>The file's <c>__metadata__</c>: format, configuration, and what training recorded (epoch, seed, command, metrics, test accuracy).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>
    /// The optimizer's saved state: per state name (<c>momentum</c> for SGD, <c>adam_m</c> and <c>adam_v</c> for Adam),
    /// the values per parameter tensor name, in the checkpoint's layout.
    /// </summary>
    internal IReadOnlyDictionary<string, IReadOnlyDictionary<string, float[]>> OptimizerState { get; }

    /// <summary>SGD's momentum per parameter tensor name (empty unless saved).</summary>
    internal IReadOnlyDictionary<string, float[]> Momentum => OptimizerState.GetValueOrDefault("momentum") ?? new Dictionary<string, float[]>();

    /// <summary>The optimizer's step count when it was saved (0 if not recorded).</summary>
    internal long OptimizerSteps => long.TryParse(Metadata.GetValueOrDefault("optimizer_steps"), NumberStyles.None, CultureInfo.InvariantCulture, out long steps) && steps >= 0 ? steps : 0;
}
