using System.Globalization;
using DigitParity.Model;

namespace DigitParity.Checkpoints;

/// <summary>A model read back from a checkpoint, with the metadata saved beside it.</summary>
/// <param name="Network">The rebuilt network with its weights.</param>
/// <param name="Metadata">The file's <c>__metadata__</c> (configuration, epoch, metrics, ...).</param>
/// <param name="OptimizerState">The optimizer's saved state: per state name (<c>momentum</c> for SGD, <c>adam_m</c> and
/// <c>adam_v</c> for Adam), the values per parameter tensor name, in the checkpoint's layout.</param>
public sealed record LoadedCheckpoint(MultiTaskNetwork Network, IReadOnlyDictionary<string, string> Metadata,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, float[]>> OptimizerState)
{
    /// <summary>SGD's momentum per parameter tensor name (empty unless saved).</summary>
    public IReadOnlyDictionary<string, float[]> Momentum => OptimizerState.GetValueOrDefault("momentum") ?? new Dictionary<string, float[]>();

    /// <summary>The optimizer's step count when it was saved (0 if not recorded).</summary>
    public long OptimizerSteps => long.TryParse(Metadata.GetValueOrDefault("optimizer_steps"), NumberStyles.None, CultureInfo.InvariantCulture, out long steps) && steps >= 0 ? steps : 0;
}
